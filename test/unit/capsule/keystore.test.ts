import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyringFromPublicKeys, verifyCapsule } from '../../../src/protocol/capsule.js';
import { ErrorCode, SandboxError } from '../../../src/protocol/errors.js';
import { defaultKeyDir, loadOrCreateKeyring, rotateKey } from '../../../src/front/capsule/keystore.js';
import { body, NOW } from './helpers.js';

const posix = process.platform !== 'win32';
let root: string;
let dir: string;

beforeEach(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), 'wsm-keys-'));
  dir = path.join(root, 'config', 'wasm-sandbox-mcp', 'keys');
});

afterEach(async () => {
  await fsp.chmod(root, 0o700).catch(() => undefined);
  await fsp.rm(root, { recursive: true, force: true });
});

async function keyFiles(d: string): Promise<string[]> {
  return (await fsp.readdir(d)).filter((n) => /^ed25519-[0-9a-f]{16}\.key$/.test(n)).sort();
}

async function refusal(p: Promise<unknown>): Promise<SandboxError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(SandboxError);
  expect((e as SandboxError).code).toBe(ErrorCode.KEY_STORE);
  return e as SandboxError;
}

describe('defaultKeyDir', () => {
  it('uses XDG_CONFIG_HOME when absolute, else ~/.config', () => {
    expect(defaultKeyDir({ XDG_CONFIG_HOME: '/x/cfg' })).toBe(path.join('/x/cfg', 'wasm-sandbox-mcp', 'keys'));
    const home = path.join(os.homedir(), '.config', 'wasm-sandbox-mcp', 'keys');
    expect(defaultKeyDir({})).toBe(home);
    expect(defaultKeyDir({ XDG_CONFIG_HOME: '' })).toBe(home);
    expect(defaultKeyDir({ XDG_CONFIG_HOME: 'relative/cfg' })).toBe(home);
  });
});

describe('loadOrCreateKeyring', () => {
  it('creates a 0700 directory and one 0600 key file, and signs verifiable capsules', async () => {
    const { signer, publicKeys } = await loadOrCreateKeyring(dir);
    const files = await keyFiles(dir);
    expect(files).toEqual([`ed25519-${signer.keyId}.key`]);
    if (posix) {
      expect((await fsp.stat(dir)).mode & 0o777).toBe(0o700);
      expect((await fsp.stat(path.join(dir, files[0] as string))).mode & 0o777).toBe(0o600);
    }
    expect(publicKeys).toEqual([{ keyId: signer.keyId, publicKey: signer.publicKey }]);
    const doc = JSON.parse(await fsp.readFile(path.join(dir, files[0] as string), 'utf8')) as Record<string, unknown>;
    expect(doc).toMatchObject({ v: 1, alg: 'ed25519', keyId: signer.keyId, publicKey: signer.publicKey });
    expect(doc['seed']).toMatch(/^[0-9a-f]{64}$/);
    // No temporaries or lock left behind.
    expect(await fsp.readdir(dir)).toEqual(files);

    const ring = keyringFromPublicKeys(publicKeys);
    expect(verifyCapsule(signer.sign(body(signer)), ring, NOW).body.keyId).toBe(signer.keyId);
  });

  it('reloading gives the same key', async () => {
    const first = await loadOrCreateKeyring(dir);
    const second = await loadOrCreateKeyring(dir);
    expect(second.signer.keyId).toBe(first.signer.keyId);
    expect(second.signer.publicKey).toBe(first.signer.publicKey);
    expect(await keyFiles(dir)).toHaveLength(1);
    // A capsule from the first instance verifies against the second's keys.
    const wire = first.signer.sign(body(first.signer));
    expect(verifyCapsule(wire, keyringFromPublicKeys(second.publicKeys), NOW).body.code).toContain('print');
  });

  it.skipIf(!posix)('refuses a key file readable by group or others, naming the file', async () => {
    const { signer } = await loadOrCreateKeyring(dir);
    const file = path.join(dir, `ed25519-${signer.keyId}.key`);
    for (const mode of [0o640, 0o604, 0o660]) {
      await fsp.chmod(file, mode);
      const e = await refusal(loadOrCreateKeyring(dir));
      expect(e.message).toContain(file);
      expect(e.message).toContain('chmod 600');
    }
    await fsp.chmod(file, 0o600);
    expect((await loadOrCreateKeyring(dir)).signer.keyId).toBe(signer.keyId);
  });

  it.skipIf(!posix)('refuses a directory accessible by group or others instead of fixing it', async () => {
    await loadOrCreateKeyring(dir);
    for (const mode of [0o755, 0o750, 0o701]) {
      await fsp.chmod(dir, mode);
      const e = await refusal(loadOrCreateKeyring(dir));
      expect(e.message).toContain(dir);
      expect(e.message).toContain('chmod 700');
      expect((await fsp.stat(dir)).mode & 0o777).toBe(mode); // left as the user had it
    }
    await fsp.chmod(dir, 0o700);
    await expect(loadOrCreateKeyring(dir)).resolves.toBeDefined();
  });

  it.skipIf(!posix)('refuses an existing wide directory even when it holds no key yet', async () => {
    await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
    await fsp.chmod(dir, 0o755);
    await refusal(loadOrCreateKeyring(dir));
    expect(await fsp.readdir(dir)).toEqual([]);
  });

  it('refuses a key file that was altered or misnamed', async () => {
    const { signer } = await loadOrCreateKeyring(dir);
    const file = path.join(dir, `ed25519-${signer.keyId}.key`);
    const doc = JSON.parse(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
    doc['seed'] = 'ab'.repeat(32);
    await fsp.writeFile(file, JSON.stringify(doc), { mode: 0o600 });
    const e = await refusal(loadOrCreateKeyring(dir));
    expect(e.message).toContain(file);

    await fsp.writeFile(file, 'garbage', { mode: 0o600 });
    expect((await refusal(loadOrCreateKeyring(dir))).message).toContain(file);
  });

  it('ignores unrelated files and clears a stale creation lock', async () => {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    await fsp.writeFile(path.join(dir, 'README'), 'not a key', { mode: 0o600 });
    await fsp.writeFile(path.join(dir, '.ed25519-0000000000000000.1.abc.tmp'), 'half', { mode: 0o600 });
    const lock = path.join(dir, '.create.lock');
    await fsp.writeFile(lock, '', { mode: 0o600 });
    const old = new Date(Date.now() - 60_000);
    await fsp.utimes(lock, old, old);
    const { signer } = await loadOrCreateKeyring(dir);
    expect(await keyFiles(dir)).toEqual([`ed25519-${signer.keyId}.key`]);
  });

  it('two servers starting at once end with one usable key, not a corrupt one', async () => {
    const results = await Promise.all([
      loadOrCreateKeyring(dir),
      loadOrCreateKeyring(dir),
      loadOrCreateKeyring(dir),
      loadOrCreateKeyring(dir),
    ]);
    const files = await keyFiles(dir);
    expect(files).toHaveLength(1);
    const ids = new Set(results.map((r) => r.signer.keyId));
    expect(ids.size).toBe(1);
    const reloaded = await loadOrCreateKeyring(dir);
    const ring = keyringFromPublicKeys(reloaded.publicKeys);
    for (const r of results) {
      expect(verifyCapsule(r.signer.sign(body(r.signer)), ring, NOW).body.keyId).toBe(reloaded.signer.keyId);
    }
    expect((await fsp.readdir(dir)).sort()).toEqual(files);
  });
});

describe('rotateKey', () => {
  it('adds a newest key that signs, while old signatures still verify', async () => {
    const before = await loadOrCreateKeyring(dir);
    const oldWire = before.signer.sign(body(before.signer));

    const after = await rotateKey(dir);
    expect(after.signer.keyId).not.toBe(before.signer.keyId);
    expect(after.publicKeys.map((k) => k.keyId)).toEqual([after.signer.keyId, before.signer.keyId]);
    expect(await keyFiles(dir)).toHaveLength(2);

    const ring = keyringFromPublicKeys(after.publicKeys);
    expect(verifyCapsule(oldWire, ring, NOW).body.keyId).toBe(before.signer.keyId);
    expect(verifyCapsule(after.signer.sign(body(after.signer)), ring, NOW).body.keyId).toBe(after.signer.keyId);

    const reloaded = await loadOrCreateKeyring(dir);
    expect(reloaded.signer.keyId).toBe(after.signer.keyId);
    expect(reloaded.publicKeys).toEqual(after.publicKeys);
  });

  it('picks the newest by the createdAt stored in the file, not by mtime', async () => {
    const first = await loadOrCreateKeyring(dir);
    const second = await rotateKey(dir);
    const third = await rotateKey(dir);
    // Make the oldest file look the most recently modified.
    const future = new Date(Date.now() + 86_400_000);
    await fsp.utimes(path.join(dir, `ed25519-${first.signer.keyId}.key`), future, future);
    const reloaded = await loadOrCreateKeyring(dir);
    expect(reloaded.signer.keyId).toBe(third.signer.keyId);
    expect(reloaded.publicKeys.map((k) => k.keyId)).toEqual([
      third.signer.keyId,
      second.signer.keyId,
      first.signer.keyId,
    ]);
  });

  it('creates the store when rotating into an empty directory', async () => {
    const r = await rotateKey(dir);
    expect(await keyFiles(dir)).toEqual([`ed25519-${r.signer.keyId}.key`]);
  });
});
