import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, SandboxError } from '../../../src/protocol/errors.js';
import {
  defaultFilesystemPolicy,
  FilesystemPolicySchema,
  validateMounts,
} from '../../../src/front/policy/filesystem-schema.js';

describe('FilesystemPolicySchema', () => {
  it('has safe defaults', () => {
    expect(defaultFilesystemPolicy()).toEqual({
      readonly: [],
      writable: ['/tmp', '/output'],
      mounts: [],
      allowBroadMounts: false,
      quotaBytes: 64 * 1024 * 1024,
      maxFiles: 1000,
      maxFileBytes: 16 * 1024 * 1024,
    });
  });

  it('refuses unknown fields, also in mounts', () => {
    expect(FilesystemPolicySchema.safeParse({ writeable: ['/x'] }).success).toBe(false);
    expect(FilesystemPolicySchema.safeParse({ mounts: [{ host: '/srv', guest: '/m', extra: 1 }] }).success).toBe(false);
  });

  it('canonicalises guest paths with the runtime function', () => {
    const p = FilesystemPolicySchema.parse({
      writable: ['//output//', '/tmp/./x/..'],
      readonly: ['/data/caf\u0065\u0301'],
      mounts: [{ host: '/srv', guest: '/mnt/' }],
    });
    expect(p.writable).toEqual(['/output', '/tmp']);
    expect(p.readonly).toEqual(['/data/caf\u00e9']);
    expect(p.mounts).toEqual([{ host: '/srv', guest: '/mnt', mode: 'ro' }]);
  });

  it.each([
    [{ writable: ['output'] }, /absolute/],
    [{ readonly: ['/a\u0000'] }, /NUL/],
    [{ readonly: ['/a\\b'] }, /backslash/],
    [{ mounts: [{ host: 'relative/dir', guest: '/m' }] }, /host path must be absolute/],
    [{ mounts: [{ host: '/srv', guest: 'm' }] }, /absolute/],
    [{ mounts: [{ host: '/srv', guest: '/' }] }, /guest root/],
    [{ mounts: [{ host: '/srv', guest: '/m', mode: 'wo' }] }, /.+/],
    [{ mounts: [{ host: '/a', guest: '/m' }, { host: '/b', guest: '/m/' }] }, /share the guest path/],
    [{ quotaBytes: -1 }, /.+/],
    [{ maxFiles: 1.5 }, /.+/],
    [{ allowBroadMounts: 'yes' }, /.+/],
  ])('refuses %j', (input, message) => {
    const r = FilesystemPolicySchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join('\n')).toMatch(message);
  });
});

describe('validateMounts', () => {
  let root: string;
  let home: string;
  let keyDir: string;
  let data: string;
  let dirs: { homeDir: string; keyDir: string };

  beforeAll(() => {
    root = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'vfs-mounts-')));
    home = path.join(root, 'home', 'user');
    keyDir = path.join(home, '.config', 'wasm-sandbox-mcp');
    data = path.join(root, 'data');
    mkdirSync(keyDir, { recursive: true });
    mkdirSync(path.join(keyDir, 'keys'));
    mkdirSync(path.join(home, 'projects'));
    mkdirSync(data);
    writeFileSync(path.join(root, 'a-file'), 'x');
    symlinkSync(home, path.join(root, 'link-to-home'));
    dirs = { homeDir: home, keyDir };
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  const policy = (host: string, extra: Record<string, unknown> = {}) =>
    FilesystemPolicySchema.parse({ mounts: [{ host, guest: '/mnt/data' }], ...extra });

  function refused(host: string, message: RegExp, extra: Record<string, unknown> = {}): void {
    try {
      validateMounts(policy(host, extra), dirs);
    } catch (e) {
      expect(e).toBeInstanceOf(SandboxError);
      expect((e as SandboxError).code).toBe(ErrorCode.POLICY_DENIED);
      expect((e as SandboxError).message).toContain(`filesystem.mounts[0] (host "${host}"`);
      expect((e as SandboxError).message).toMatch(message);
      return;
    }
    throw new Error(`expected mount of ${host} to be refused`);
  }

  it('accepts an ordinary directory and returns its real path', () => {
    expect(validateMounts(policy(data), dirs)).toEqual([{ host: data, guest: '/mnt/data', mode: 'ro' }]);
    expect(validateMounts(policy(path.join(home, 'projects')), dirs)).toHaveLength(1);
    expect(validateMounts(policy(`${data}/../data/`), dirs)[0]!.host).toBe(data);
  });

  it('accepts no mounts at all', () => {
    expect(validateMounts(defaultFilesystemPolicy(), dirs)).toEqual([]);
  });

  it('refuses the filesystem root', () => {
    refused('/', /filesystem root/);
  });

  it('refuses the home directory, a parent of it, and a symlink to it', () => {
    refused(home, /home directory/);
    refused(`${home}/`, /home directory/);
    refused(path.join(root, 'home'), /home directory/);
    refused(root, /home directory|key/);
    refused(path.join(root, 'link-to-home'), /home directory|key/);
  });

  it('refuses the key directory, its parent, and anything inside it', () => {
    refused(keyDir, /key\/config directory/);
    refused(path.join(home, '.config'), /key\/config directory/);
    refused(path.join(keyDir, 'keys'), /inside the server key\/config directory/);
  });

  it('refuses the real home directory when it is the home directory', () => {
    const realHome = os.homedir();
    expect(() => validateMounts(policy(realHome), { homeDir: realHome, keyDir })).toThrow(SandboxError);
  });

  it('allowBroadMounts lifts the breadth checks', () => {
    const broad = { allowBroadMounts: true };
    expect(validateMounts(policy('/', broad), dirs)[0]!.host).toBe('/');
    expect(validateMounts(policy(home, broad), dirs)[0]!.host).toBe(home);
    expect(validateMounts(policy(path.join(root, 'home'), broad), dirs)).toHaveLength(1);
    expect(validateMounts(policy(keyDir, broad), dirs)).toHaveLength(1);
    // ...but never a directory inside the key directory
    refused(path.join(keyDir, 'keys'), /inside the server key\/config directory/, broad);
  });

  it('refuses a host directory that does not exist, or is not a directory', () => {
    refused(path.join(root, 'missing'), /does not exist/);
    refused(path.join(root, 'a-file'), /not a directory/);
  });

  it('names the failing mount among several', () => {
    const p = FilesystemPolicySchema.parse({
      mounts: [
        { host: data, guest: '/a' },
        { host: home, guest: '/b', mode: 'rw' },
      ],
    });
    expect(() => validateMounts(p, dirs)).toThrow(/filesystem\.mounts\[1\] \(host ".*\/home\/user" → guest "\/b"\)/);
  });
});
