/** The `python` policy section and the front's loading of the wheels in python.packagesDir. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWheels, PythonPolicySchema } from '../../../src/front/policy/python-schema.js';
import { PolicySchema } from '../../../src/front/policy/schema.js';
import { sha256Hex } from '../../../src/protocol/capsule.js';
import { CapsulePythonSchema, WHEEL_FILENAME } from '../../../src/protocol/python-packages.js';

let tmp: string;
const dirs = () => ({ homeDir: path.join(tmp, 'home'), keyDir: path.join(tmp, 'home', '.config', 'k') });

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-pypolicy-')));
  fs.mkdirSync(path.join(tmp, 'home', '.config', 'k'), { recursive: true });
  fs.mkdirSync(path.join(tmp, 'wheels'));
  fs.writeFileSync(path.join(tmp, 'wheels', 'b_pkg-1.0-py3-none-any.whl'), 'B');
  fs.writeFileSync(path.join(tmp, 'wheels', 'a_pkg-2.0-py3-none-any.whl'), 'AA');
  fs.writeFileSync(path.join(tmp, 'wheels', 'notes.txt'), 'ignored');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('python policy section', () => {
  it('defaults to no packages and refuses unknown fields and relative paths', () => {
    expect(PolicySchema.parse({}).python).toEqual({});
    expect(PythonPolicySchema.safeParse({ packagesDir: 'wheels' }).success).toBe(false);
    expect(PythonPolicySchema.safeParse({ packageDir: '/x' }).success).toBe(false);
  });

  it('loads the *.whl files sorted by name with their digests, and nothing without a packagesDir', () => {
    expect(loadWheels({}, dirs())).toEqual([]);
    const wheels = loadWheels({ packagesDir: path.join(tmp, 'wheels') }, dirs());
    expect(wheels.map((w) => [w.filename, w.size, w.sha256])).toEqual([
      ['a_pkg-2.0-py3-none-any.whl', 2, sha256Hex('AA')],
      ['b_pkg-1.0-py3-none-any.whl', 1, sha256Hex('B')],
    ]);
  });

  it('refuses broad directories and the key directory as CONFIG errors naming python.packagesDir', () => {
    const err = (dir: string) => {
      try {
        loadWheels({ packagesDir: dir }, dirs());
      } catch (e) {
        return e as { code: string; message: string };
      }
      return undefined;
    };
    expect(err('/')).toMatchObject({ code: 'E_CONFIG', message: expect.stringContaining('python.packagesDir "/" refused: it is a filesystem root') });
    expect(err(path.join(tmp, 'home'))?.message).toContain('it is or contains the home directory');
    expect(err(tmp)?.message).toContain('it is or contains the home directory');
    expect(err(path.join(tmp, 'home', '.config', 'k'))?.message).toContain('key/config directory');
    expect(err(path.join(tmp, 'missing'))?.message).toContain('does not exist');
  });

  it('refuses a .whl whose name is not a wheel name', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'bad-'));
    fs.writeFileSync(path.join(dir, '..evil.whl'), 'x');
    expect(() => loadWheels({ packagesDir: dir }, dirs())).toThrow(/is not a wheel file name/);
  });
});

describe('wheels in the capsule', () => {
  it('accepts only wheel file names that cannot be paths', () => {
    expect(WHEEL_FILENAME.test('demo_pkg-1.2.3-py3-none-any.whl')).toBe(true);
    expect(WHEEL_FILENAME.test('demo-1.0-1-cp314-cp314-pyodide_2025_0_wasm32.whl')).toBe(true);
    for (const bad of ['../x-1-py3-none-any.whl', 'a/b-1-py3-none-any.whl', 'x-1.whl', 'x-1-py3-none-any.zip']) expect(WHEEL_FILENAME.test(bad)).toBe(false);
    expect(CapsulePythonSchema.safeParse({ wheels: [{ filename: 'a/b-1-py3-none-any.whl', sha256: 'a'.repeat(64), size: 1 }] }).success).toBe(false);
    expect(CapsulePythonSchema.parse({})).toEqual({ wheels: [] });
  });
});
