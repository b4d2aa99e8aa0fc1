/**
 * The server's signing keys on disk (front only).
 *
 * Layout: one directory (default `${XDG_CONFIG_HOME:-~/.config}/wasm-sandbox-mcp/keys`, mode
 * 0700, owned by the user running the server) holding one file per key,
 * `ed25519-<keyId>.key`, mode 0600. A key file is a small JSON document:
 *
 *   {"alg":"ed25519","createdAt":1718000000000,"keyId":"<16 hex>","publicKey":"<base64 raw 32 bytes>",
 *    "seed":"<64 hex: the 32-byte RFC 8032 secret key>","v":1}
 *
 * `seed` is the secret; `keyId`/`publicKey` are derived from it and checked on load, so a file
 * that was edited or copied under the wrong name is refused. Several files mean rotation: the
 * key with the newest `createdAt` (stored in the file, never the mtime) signs, every key
 * verifies. Files are written to a temporary name with O_EXCL and renamed into place, so a
 * reader never sees half a key; a lock file keeps two servers starting at once from each
 * minting a first key.
 *
 * Permission checks (directory not group/other-accessible, key files not group/other-readable,
 * both owned by us) apply on POSIX systems; Windows has no such mode bits and relies on the
 * profile directory's ACLs.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as z from 'zod';
import type { PublicKeyEntry } from '../../protocol/capsule.js';
import { ErrorCode, SandboxError } from '../../protocol/errors.js';
import { CapsuleSigner } from './signer.js';

const KEY_FILE_RE = /^ed25519-([0-9a-f]{16})\.key$/;
const LOCK_NAME = '.create.lock';
/** A lock older than this is a leftover of a crashed process. */
const STALE_LOCK_MS = 10_000;
/** How long a second starter waits for the first to finish creating the key. */
const LOCK_WAIT_MS = 3_000;
const MAX_KEY_FILE_BYTES = 4096;
const POSIX = process.platform !== 'win32';

const KeyFileSchema = z.strictObject({
  v: z.literal(1),
  alg: z.literal('ed25519'),
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  publicKey: z.string(),
  createdAt: z.number().int().nonnegative(),
  seed: z.string().regex(/^[0-9a-f]{64}$/),
});

export interface LoadedKeyring {
  /** Signs with the newest key. */
  signer: CapsuleSigner;
  /** Every key in the directory, newest first: what the sandbox host's keyring is built from. */
  publicKeys: PublicKeyEntry[];
}

interface StoredKey {
  keyId: string;
  createdAt: number;
  seed: Buffer;
  publicKey: string;
}

/** `${XDG_CONFIG_HOME or ~/.config}/wasm-sandbox-mcp/keys` (a relative XDG_CONFIG_HOME is ignored, per the XDG spec). */
export function defaultKeyDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg !== undefined && xdg !== '' && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.config');
  return path.join(base, 'wasm-sandbox-mcp', 'keys');
}

function storeError(message: string, cause?: unknown): SandboxError {
  return new SandboxError(ErrorCode.KEY_STORE, message, cause === undefined ? undefined : { cause });
}

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

function ownedByOther(st: Stats): boolean {
  return POSIX && typeof process.getuid === 'function' && st.uid !== process.getuid();
}

/** Create the directory (0700) if missing; refuse it if it is not a private directory of ours. */
async function ensureKeyDir(dir: string): Promise<void> {
  let created: string | undefined;
  try {
    created = await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw storeError(`cannot create key directory ${dir}: ${(cause as Error).message}`, cause);
  }
  if (created !== undefined && POSIX) {
    // mkdir's mode is filtered by the umask; make the leaf exactly 0700.
    await fsp.chmod(dir, 0o700);
  }
  let st: Stats;
  try {
    st = await fsp.stat(dir);
  } catch (cause) {
    throw storeError(`cannot read key directory ${dir}: ${(cause as Error).message}`, cause);
  }
  if (!st.isDirectory()) throw storeError(`key directory ${dir} is not a directory`);
  if (ownedByOther(st)) throw storeError(`key directory ${dir} is owned by another user; refusing to use it`);
  if (POSIX && (st.mode & 0o077) !== 0) {
    throw storeError(
      `key directory ${dir} is accessible by group or others (mode ${octal(st.mode)}); run: chmod 700 ${dir}`,
    );
  }
}

async function readKeyFile(dir: string, name: string, keyIdFromName: string): Promise<StoredKey> {
  const file = path.join(dir, name);
  let st: Stats;
  try {
    st = await fsp.lstat(file);
  } catch (cause) {
    throw storeError(`cannot read key file ${file}: ${(cause as Error).message}`, cause);
  }
  if (!st.isFile()) throw storeError(`key file ${file} is not a regular file (symlinks are refused)`);
  if (ownedByOther(st)) throw storeError(`key file ${file} is owned by another user; refusing to use it`);
  if (POSIX && (st.mode & 0o077) !== 0) {
    throw storeError(
      `key file ${file} is accessible by group or others (mode ${octal(st.mode)}); run: chmod 600 ${file}`,
    );
  }
  if (st.size > MAX_KEY_FILE_BYTES) throw storeError(`key file ${file} is too large to be a key`);
  let text: string;
  try {
    const handle = await fsp.open(file, fsConstants.O_RDONLY | (POSIX ? fsConstants.O_NOFOLLOW : 0));
    try {
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (cause) {
    throw storeError(`cannot read key file ${file}: ${(cause as Error).message}`, cause);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw storeError(`key file ${file} is not valid JSON`);
  }
  const parsed = KeyFileSchema.safeParse(json);
  if (!parsed.success) {
    throw storeError(`key file ${file} is malformed (expected {v:1, alg:"ed25519", keyId, publicKey, createdAt, seed})`);
  }
  const seed = Buffer.from(parsed.data.seed, 'hex');
  const signer = new CapsuleSigner(seed);
  if (signer.keyId !== keyIdFromName || parsed.data.keyId !== keyIdFromName || signer.publicKey !== parsed.data.publicKey) {
    throw storeError(`key file ${file} does not match its name or its own public key; it was altered or misnamed`);
  }
  return { keyId: signer.keyId, createdAt: parsed.data.createdAt, seed, publicKey: signer.publicKey };
}

async function readAllKeys(dir: string): Promise<StoredKey[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (cause) {
    throw storeError(`cannot list key directory ${dir}: ${(cause as Error).message}`, cause);
  }
  const keys: StoredKey[] = [];
  for (const name of names.sort()) {
    const m = KEY_FILE_RE.exec(name);
    if (m === null) continue; // temporaries, the lock, anything else
    keys.push(await readKeyFile(dir, name, m[1] as string));
  }
  // Newest first; ties broken by keyId so every reader picks the same signer.
  keys.sort((a, b) => b.createdAt - a.createdAt || (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
  return keys;
}

/** Write a new key file atomically: O_EXCL temporary (0600), fsync, rename into place. */
async function writeNewKey(dir: string, createdAt: number): Promise<StoredKey> {
  const seed = randomBytes(32);
  const signer = new CapsuleSigner(seed);
  const doc = {
    alg: 'ed25519',
    createdAt,
    keyId: signer.keyId,
    publicKey: signer.publicKey,
    seed: seed.toString('hex'),
    v: 1,
  };
  const finalPath = path.join(dir, `ed25519-${signer.keyId}.key`);
  const tmpPath = path.join(dir, `.ed25519-${signer.keyId}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await fsp.open(tmpPath, 'wx', 0o600);
    try {
      if (POSIX) await handle.chmod(0o600);
      await handle.writeFile(`${JSON.stringify(doc)}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmpPath, finalPath);
  } catch (cause) {
    await fsp.rm(tmpPath, { force: true }).catch(() => undefined);
    throw storeError(`cannot write key file ${finalPath}: ${(cause as Error).message}`, cause);
  }
  await syncDir(dir);
  return { keyId: signer.keyId, createdAt, seed, publicKey: signer.publicKey };
}

/** Make the rename durable; not every platform can fsync a directory, which is harmless. */
async function syncDir(dir: string): Promise<void> {
  if (!POSIX) return;
  try {
    const handle = await fsp.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    /* best effort */
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Run `fn` holding the directory's creation lock. If another process holds it, wait for it
 * (a lock older than STALE_LOCK_MS is removed); after LOCK_WAIT_MS run `fn` anyway: the worst
 * outcome without the lock is one extra key, never a damaged one.
 */
async function withCreateLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lockPath = path.join(dir, LOCK_NAME);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    let handle: FileHandle | undefined;
    try {
      handle = await fsp.open(lockPath, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw storeError(`cannot create lock ${lockPath}: ${(e as Error).message}`, e);
      }
    }
    if (handle !== undefined) {
      await handle.close();
      try {
        return await fn();
      } finally {
        await fsp.rm(lockPath, { force: true }).catch(() => undefined);
      }
    }
    try {
      const st = await fsp.stat(lockPath);
      if (Date.now() - st.mtimeMs > STALE_LOCK_MS) {
        await fsp.rm(lockPath, { force: true });
        continue;
      }
    } catch {
      continue; // the holder just released it
    }
    if (Date.now() > deadline) return fn();
    await sleep(15 + Math.floor(Math.random() * 20));
  }
}

function toLoaded(keys: StoredKey[]): LoadedKeyring {
  const [newest, ...older] = keys;
  if (newest === undefined) throw storeError('key directory holds no keys'); // unreachable
  const olderEntries = older.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey }));
  const signer = new CapsuleSigner(newest.seed, { verifyOnly: olderEntries });
  for (const k of keys) k.seed.fill(0);
  return { signer, publicKeys: signer.publicKeys() };
}

/**
 * Load the key store in `dir`, creating the directory (0700) and a first key (0600) if needed.
 * Throws SandboxError(KEY_STORE) for an unsafe or damaged store, naming the file and the fix.
 */
export async function loadOrCreateKeyring(dir: string): Promise<LoadedKeyring> {
  await ensureKeyDir(dir);
  let keys = await readAllKeys(dir);
  if (keys.length === 0) {
    keys = await withCreateLock(dir, async () => {
      const again = await readAllKeys(dir); // another process may have just made one
      if (again.length > 0) return again;
      await writeNewKey(dir, Date.now());
      return readAllKeys(dir);
    });
  }
  return toLoaded(keys);
}

/**
 * Add a new key that becomes the signer (its createdAt is later than every existing key's);
 * older keys stay and keep verifying until their files are deleted.
 */
export async function rotateKey(dir: string): Promise<LoadedKeyring> {
  await ensureKeyDir(dir);
  const keys = await withCreateLock(dir, async () => {
    const existing = await readAllKeys(dir);
    const newestAt = existing[0]?.createdAt ?? -1;
    for (const k of existing) k.seed.fill(0);
    await writeNewKey(dir, Math.max(Date.now(), newestAt + 1));
    return readAllKeys(dir);
  });
  return toLoaded(keys);
}
