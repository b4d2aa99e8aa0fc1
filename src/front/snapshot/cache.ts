/**
 * Python's memory snapshot, cached on disk between server starts so a new server's first
 * run_python takes well under a second instead of several (booting Pyodide from scratch).
 *
 * A snapshot is executable state: whoever can swap it runs code in every later interpreter. So
 * the cache holds the snapshot with a signed record `{buildId, sha256, size}` (Ed25519, the
 * server's own key, a domain tag of its own so no capsule or manifest signature can stand in), and
 * `load` hands out the file only when the record verifies against one of the server's keys, names
 * the current build, and matches the bytes. Anything else — missing, corrupt, foreign, stale — is a
 * miss: the server makes a new snapshot (in a process that never runs guest code) and replaces it.
 *
 * The front never holds the ~30 MB. A new snapshot is written into a file the front reserved
 * (`reserveDataFile`) by the maker itself, then streamed through the digest and signed (`adopt`);
 * `load` streams the file through the digest and hands out a reference, and the sandbox host reads
 * the file itself and checks the digest again (sandbox/snapshot-file.ts). On glibc, freeing a
 * buffer that size lifts the allocator's mmap threshold to it for the rest of the process, and the
 * front's heap then keeps what it frees: a front that received a snapshot over IPC stayed ~50 MiB
 * larger for its whole life.
 *
 * The build id covers what the snapshot's content depends on: the Pyodide package version and our
 * own boot and preload code, including the sources it carries compiled (pyodide/precompiled.ts).
 * Any change of either is a miss, never a stale load.
 */
import { createHash, randomBytes, verify as cryptoVerify } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as z from 'zod';
import { canonicalJson, keyringFromPublicKeys, type PublicKeyEntry } from '../../protocol/capsule.js';
import { MAX_SNAPSHOT_BYTES, type SnapshotFileRef } from '../../protocol/messages.js';
import type { CapsuleSigner } from '../capsule/signer.js';
import { packageDir } from '../node-flags.js';
import { CODE_DIR, CODE_EXT } from '../package-paths.js';

export const SNAPSHOT_TAG = 'wasm-sandbox-mcp/python-snapshot/v1\0';
/** A temporary snapshot file older than this was left by a server that died making it. */
const ABANDONED_TMP_MS = 60 * 60 * 1000;

/**
 * The sandbox code that shapes the snapshot's content (built .js, or .ts under the tests): the
 * worker's entry — once bundled, it names the Pyodide adapter's chunk by a hash of its content —
 * and the modules with the boot and preload code (not in the npm package, which ships the bundle
 * only; each that exists is hashed).
 */
const SHAPING_MODULES = [
  'worker',
  'runtimes/pyodide',
  'runtimes/pyodide/boot',
  'runtimes/pyodide/python',
  'runtimes/pyodide/precompiled',
  'runtimes/pyodide/packages',
  'runtimes/pyodide/network',
].map((m) => `${m}${CODE_EXT}`);
const SANDBOX_DIR = path.join(CODE_DIR, 'sandbox');

const RecordSchema = z.strictObject({
  v: z.literal(1),
  buildId: z.string().regex(/^[0-9a-f]{64}$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().positive().max(MAX_SNAPSHOT_BYTES),
  keyId: z.string(),
  signature: z.string(),
});
type SnapshotRecord = z.infer<typeof RecordSchema>;

/** `${XDG_CACHE_HOME or ~/.cache}/wasm-sandbox-mcp` (a relative XDG_CACHE_HOME is ignored, per the XDG spec). */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg !== undefined && xdg !== '' && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'wasm-sandbox-mcp');
}

/** Identifies the Pyodide build and our snapshot-shaping code; computed once per process. */
let buildIdMemo: string | undefined;
export function pythonSnapshotBuildId(): string {
  if (buildIdMemo) return buildIdMemo;
  const h = createHash('sha256').update('python-snapshot/v1\0');
  const pyodide = packageDir('pyodide');
  h.update(pyodide ? fs.readFileSync(path.join(pyodide, 'package.json')) : 'no-pyodide');
  for (const m of SHAPING_MODULES) {
    const file = path.join(SANDBOX_DIR, m);
    if (fs.existsSync(file)) h.update('\0').update(m).update('\0').update(fs.readFileSync(file));
  }
  buildIdMemo = h.digest('hex');
  return buildIdMemo;
}

/**
 * SHA-256 and length of a file, read through one small buffer: never the whole file in memory, and
 * no trail of chunks for the collector (a stream's would be ~30 MB of garbage at start-up).
 */
async function digestFile(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let size = 0;
  const handle = await fs.promises.open(file, 'r');
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, null);
      if (bytesRead === 0) break;
      size += bytesRead;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return { sha256: hash.digest('hex'), size };
}

function signedText(r: Pick<SnapshotRecord, 'buildId' | 'sha256' | 'size'>): string {
  return canonicalJson({ buildId: r.buildId, sha256: r.sha256, size: r.size });
}

export type SnapshotLoad = { ok: true; file: SnapshotFileRef } | { ok: false; reason: string };

export class SnapshotCache {
  readonly dataFile: string;
  readonly recordFile: string;

  constructor(
    readonly dir: string,
    private readonly signer: CapsuleSigner,
    private readonly buildId: string = pythonSnapshotBuildId(),
  ) {
    const stem = `python-${buildId.slice(0, 16)}`;
    // Absolute: the sandbox host (its working directory is /) reads the data file by this path.
    this.dataFile = path.resolve(dir, `${stem}.snapshot`);
    this.recordFile = path.resolve(dir, `${stem}.json`);
  }

  /** The verified snapshot file, or why there is none to use. Never throws. */
  async load(publicKeys: readonly PublicKeyEntry[]): Promise<SnapshotLoad> {
    let record: SnapshotRecord;
    try {
      const parsed = RecordSchema.safeParse(JSON.parse(await fs.promises.readFile(this.recordFile, 'utf8')));
      if (!parsed.success) return { ok: false, reason: 'its record is malformed' };
      record = parsed.data;
    } catch (e) {
      return { ok: false, reason: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'none cached yet' : 'its record is unreadable' };
    }
    if (record.buildId !== this.buildId) return { ok: false, reason: 'it was made for another build' };
    const key = keyringFromPublicKeys(publicKeys).get(record.keyId);
    if (!key) return { ok: false, reason: 'it was signed by a key this server does not hold' };
    const signature = Buffer.from(record.signature, 'base64');
    let valid = false;
    try {
      valid = cryptoVerify(null, Buffer.from(SNAPSHOT_TAG + signedText(record), 'utf8'), key, signature);
    } catch {
      valid = false;
    }
    if (!valid) return { ok: false, reason: 'its signature does not verify' };
    let found: { sha256: string; size: number };
    try {
      found = await digestFile(this.dataFile);
    } catch {
      return { ok: false, reason: 'its data file is unreadable' };
    }
    if (found.size !== record.size || found.sha256 !== record.sha256) return { ok: false, reason: 'its bytes do not match the signed digest' };
    return { ok: true, file: { path: this.dataFile, sha256: record.sha256, size: record.size } };
  }

  /**
   * A new, empty file (mode 0600) in the cache directory for a snapshot to be written into, then
   * `adopt`ed; throws when the directory cannot be made or written.
   */
  async reserveDataFile(): Promise<string> {
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = tmpName(this.dataFile);
    await (await fs.promises.open(file, 'wx', 0o600)).close();
    return file;
  }

  /**
   * Sign the snapshot written into `file` (from `reserveDataFile`) and move it into place, replacing
   * any earlier snapshot of this build (atomic renames); returns the stored file. The bytes are
   * streamed through the digest, never held. `file` is gone afterwards, whatever happens.
   */
  async adopt(file: string): Promise<SnapshotFileRef> {
    const recordTmp = tmpName(this.recordFile);
    try {
      const fields = { buildId: this.buildId, ...(await digestFile(file)) };
      if (fields.size === 0 || fields.size > MAX_SNAPSHOT_BYTES) throw new Error(`a snapshot of ${fields.size} bytes is out of range`);
      const record: SnapshotRecord = { v: 1, ...fields, keyId: this.signer.keyId, signature: this.signer.signTagged(SNAPSHOT_TAG, signedText(fields)) };
      await fs.promises.writeFile(recordTmp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
      // Data first: a reader that sees the new record finds the bytes it signs (or a digest mismatch).
      await fs.promises.rename(file, this.dataFile);
      await fs.promises.rename(recordTmp, this.recordFile);
      await this.prune();
      return { path: this.dataFile, sha256: fields.sha256, size: fields.size };
    } finally {
      await Promise.allSettled([fs.promises.rm(file, { force: true }), fs.promises.rm(recordTmp, { force: true })]);
    }
  }

  /** Sign and store `data` (`reserveDataFile`, write, `adopt`). */
  async save(data: Uint8Array): Promise<SnapshotFileRef> {
    const file = await this.reserveDataFile();
    try {
      await fs.promises.writeFile(file, data);
    } catch (e) {
      await fs.promises.rm(file, { force: true });
      throw e;
    }
    return this.adopt(file);
  }

  /**
   * Snapshots of other builds (~30 MB each) are dead weight after an upgrade, and so are the
   * temporary files of a server killed while making one: remove them (a temporary file only once
   * it is older than any making takes, as another server may be writing it).
   */
  private async prune(): Promise<void> {
    const keep = new Set([path.basename(this.dataFile), path.basename(this.recordFile)]);
    const names = await fs.promises.readdir(this.dir).catch(() => [] as string[]);
    const staleBuilds = names.filter((n) => /^python-[0-9a-f]{16}\.(snapshot|json)$/.test(n) && !keep.has(n));
    const oldTmp = async (n: string) => {
      if (!/^python-[0-9a-f]{16}\.(snapshot|json)\.[0-9a-z.]+\.tmp$/.test(n)) return false;
      const stat = await fs.promises.stat(path.join(this.dir, n)).catch(() => undefined);
      return stat !== undefined && Date.now() - stat.mtimeMs > ABANDONED_TMP_MS;
    };
    const abandoned = (await Promise.all(names.map(async (n) => ((await oldTmp(n)) ? n : undefined)))).filter((n) => n !== undefined);
    await Promise.allSettled([...staleBuilds, ...abandoned].map((n) => fs.promises.rm(path.join(this.dir, n), { force: true })));
  }
}

/** A temporary name next to `file`, unique across servers sharing the directory. */
function tmpName(file: string): string {
  return `${file}.${process.pid}.${Date.now().toString(36)}.${randomBytes(4).toString('hex')}.tmp`;
}
