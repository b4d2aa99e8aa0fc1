import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { capsuleId } from '../../../src/protocol/capsule.js';
import { CapsuleStore } from '../../../src/front/capsule/store.js';
import { CapsuleSigner, buildCapsuleBody } from '../../../src/front/capsule/signer.js';

const signer = CapsuleSigner.generate();
const capsule = (code: string) =>
  signer.sign(buildCapsuleBody({ language: 'js', code, session: null, policy: { limits: { timeoutMs: 1000, memMb: 64, stdoutBytes: 100, stderrBytes: 100 } }, keyId: signer.keyId }));
const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-store-'));
  dirs.push(d);
  return path.join(d, 'capsules');
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('capsule store', () => {
  it('stores capsules content-addressed and returns them by id', async () => {
    const store = new CapsuleStore({ dir: tmp() });
    const c = capsule('1');
    store.put(c);
    await store.flush();
    expect(store.get(capsuleId(c.body))).toEqual(c);
    expect(fs.statSync(path.join(store.dir, `${capsuleId(c.body)}.json`)).mode & 0o777).toBe(0o600);
  });

  it('refuses a corrupted or swapped file instead of returning it', async () => {
    const store = new CapsuleStore({ dir: tmp() });
    const a = capsule('a');
    const b = capsule('b');
    store.put(a);
    store.put(b);
    await store.flush();
    const idA = capsuleId(a.body);
    fs.writeFileSync(path.join(store.dir, `${idA}.json`), JSON.stringify(b));
    expect(store.get(idA)).toBeUndefined();
    fs.writeFileSync(path.join(store.dir, `${idA}.json`), '{not json');
    expect(store.get(idA)).toBeUndefined();
    expect(store.get('../../etc/passwd')).toBeUndefined();
    // Still writable afterwards.
    store.put(a);
    await store.flush();
    expect(store.get(idA)).toEqual(a);
  });

  it('keeps the newest within the count bound at every write, dropping the oldest', async () => {
    const store = new CapsuleStore({ dir: tmp(), maxCount: 3 });
    const all = Array.from({ length: 6 }, (_, i) => capsule(String(i)));
    for (const c of all) {
      store.put(c);
      await store.flush();
      expect(fs.readdirSync(store.dir).length).toBeLessThanOrEqual(3);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(fs.readdirSync(store.dir)).toHaveLength(3);
    for (const c of all.slice(3)) expect(store.get(capsuleId(c.body))).toBeDefined();
    for (const c of all.slice(0, 3)) expect(store.get(capsuleId(c.body))).toBeUndefined();
    expect(await store.prune()).toBe(0);
  });

  it('prunes past a capsule file that was already removed, without reporting an error', async () => {
    const errors: string[] = [];
    const store = new CapsuleStore({ dir: tmp(), maxCount: 2, onError: (m) => errors.push(m) });
    const all = Array.from({ length: 4 }, (_, i) => capsule(`gone-${i}`));
    // One at a time, apart: the store orders what it reads from the directory by modification time.
    const put = async (i: number) => {
      store.put(all[i]!);
      await store.flush();
      await new Promise((r) => setTimeout(r, 5));
    };
    await put(0);
    await put(1);
    await put(2); // the store reads its directory again here (every maxCount writes), and prunes 0
    // The oldest left vanishes behind the store's back (another server pruned it, or a user).
    fs.unlinkSync(path.join(store.dir, `${capsuleId(all[1]!.body)}.json`));
    await put(3); // prunes 1, which is no longer there
    expect(errors).toEqual([]);
    expect(fs.readdirSync(store.dir).sort()).toEqual([all[2]!, all[3]!].map((c) => `${capsuleId(c.body)}.json`).sort());
  });

  it('counts files another server wrote into the same directory once it reads the directory again', async () => {
    const dir = tmp();
    const store = new CapsuleStore({ dir, maxCount: 3 });
    const mine = capsule('mine');
    store.put(mine);
    await store.flush();
    const other = new CapsuleStore({ dir, maxCount: 100 });
    for (const c of ['a', 'b', 'c', 'd'].map(capsule)) {
      other.put(c);
      await other.flush();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(fs.readdirSync(dir)).toHaveLength(5);
    expect(await store.prune()).toBe(2);
    expect(fs.readdirSync(dir)).toHaveLength(3);
    expect(store.get(capsuleId(mine.body))).toBeUndefined();
  });

  it('makes its directory again when it was removed while the server ran', async () => {
    const store = new CapsuleStore({ dir: tmp() });
    store.put(capsule('first'));
    await store.flush();
    fs.rmSync(store.dir, { recursive: true });
    const second = capsule('second');
    store.put(second);
    await store.flush();
    expect(store.get(capsuleId(second.body))).toEqual(second);
  });

  it('a store it cannot write does not throw; it reports', async () => {
    const errors: string[] = [];
    const file = path.join(path.dirname(tmp()), 'a-file');
    fs.writeFileSync(file, 'not a directory');
    const store = new CapsuleStore({ dir: path.join(file, 'capsules'), onError: (m) => errors.push(m) });
    store.put(capsule('x'));
    await store.flush();
    expect(errors.length).toBe(1);
  });
});
