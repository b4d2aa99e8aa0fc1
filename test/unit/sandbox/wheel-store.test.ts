/** The sandbox host's wheel store: a run gets only wheels whose bytes match its signed capsule. */
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../src/protocol/capsule.js';
import { WheelStore } from '../../../src/sandbox/wheel-store.js';

const filename = 'demo-1.0-py3-none-any.whl';
const data = new Uint8Array([1, 2, 3, 4]);
const listed = (over: Record<string, unknown> = {}) => ({ wheels: [{ filename, sha256: sha256Hex(data), size: 4, ...over }] });

describe('WheelStore', () => {
  const store = new WheelStore([{ filename, data }]);

  it('hands a run the listed wheels, from shared memory', () => {
    const [w] = store.forCapsule(listed());
    expect(w!.filename).toBe(filename);
    expect([...w!.data]).toEqual([1, 2, 3, 4]);
    expect(w!.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(store.forCapsule(undefined)).toEqual([]);
    expect(store.forCapsule({})).toEqual([]);
  });

  it('refuses a digest, a name or a size it does not hold, and a malformed section', () => {
    for (const over of [{ sha256: sha256Hex('other') }, { filename: 'other-1.0-py3-none-any.whl' }, { size: 5 }]) {
      expect(() => store.forCapsule(listed(over))).toThrow(/does not match its digest in the capsule/);
    }
    expect(() => store.forCapsule({ wheels: [{ filename: '../x.whl', sha256: sha256Hex(data), size: 4 }] })).toThrow(/policy.python is malformed/);
    expect(() => store.forCapsule('x')).toThrow(expect.objectContaining({ code: 'E_CAPSULE_INVALID' }));
  });
});
