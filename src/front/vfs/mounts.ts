/**
 * Host mounts, copied in. The sandbox host never opens a host path: the front reads each mount's
 * directory (resolved and checked at policy load by `validateMounts`) and writes its regular files
 * into a session's filesystem when the session is created (and for every sessionless run), so the
 * guest sees the directory as it was at that moment.
 *
 * Only regular files are copied. Symlinks are never followed (files are opened with O_NOFOLLOW,
 * directories must resolve inside the mount), devices, FIFOs and sockets are skipped, and so are
 * names that are not valid guest paths. The policy's per-file size, file count and session quota
 * apply: a mount that does not fit is refused with E_QUOTA_EXCEEDED naming the file. The host
 * directory is never written: what the guest changes under a "rw" mount stays in its session.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, SandboxError } from '../../protocol/errors.js';
import { isUnder, tryCanonicalGuestPath } from '../../protocol/guest-paths.js';
import { validateMounts, type FilesystemPolicy, type ResolvedMount } from '../policy/filesystem-schema.js';

export interface MountFile {
  path: string;
  data: Buffer;
}

type Limits = Pick<FilesystemPolicy, 'quotaBytes' | 'maxFiles' | 'maxFileBytes'>;

interface CachedFile {
  key: string;
  data: Buffer;
}

function quota(message: string): SandboxError {
  return new SandboxError(ErrorCode.QUOTA_EXCEEDED, message);
}

/** `child` is `root` or inside it (both real host paths). */
function inside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  // `..` as a whole first segment only: an entry named `..foo` is inside.
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

export class MountReader {
  /** Unchanged files (same inode, size and mtime) are not read again. */
  private readonly cache = new Map<string, CachedFile>();

  constructor(
    private readonly mounts: readonly ResolvedMount[],
    private readonly limits: Limits,
  ) {}

  get empty(): boolean {
    return this.mounts.length === 0;
  }

  /** Every mount's files as guest paths, within the limits; throws E_QUOTA_EXCEEDED when they do not fit. */
  async read(): Promise<MountFile[]> {
    const out: MountFile[] = [];
    const state = { bytes: 0, paths: new Set<string>() };
    const seen = new Set<string>();
    for (const mount of this.mounts) await this.walk(mount, mount.host, mount.guest, out, state, seen);
    // Entries of files that vanished from the host are dropped with them.
    for (const key of this.cache.keys()) if (!seen.has(key)) this.cache.delete(key);
    return out;
  }

  private async walk(mount: ResolvedMount, dir: string, guestDir: string, out: MountFile[], state: { bytes: number; paths: Set<string> }, seen: Set<string>): Promise<void> {
    // A directory swapped for a symlink after validation must not lead out of the mount.
    const real = await fs.promises.realpath(dir).catch(() => undefined);
    if (real === undefined || !inside(mount.host, real)) return;
    const entries = await fs.promises.readdir(real, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const guest = tryCanonicalGuestPath(`${guestDir}/${entry.name}`);
      // Two host names can make one guest path (NFC and NFD forms): the first, by name, is kept.
      if (guest === undefined || !isUnder(guest, mount.guest) || (entry.isFile() && state.paths.has(guest))) continue;
      const host = path.join(real, entry.name);
      if (entry.isDirectory()) await this.walk(mount, host, guest, out, state, seen);
      else if (entry.isFile()) {
        const data = await this.readFile(host, guest, seen);
        if (data === undefined) continue;
        if (out.length + 1 > this.limits.maxFiles) {
          throw quota(`mount ${mount.guest}: more than ${this.limits.maxFiles} files (filesystem.maxFiles)`);
        }
        state.bytes += data.length;
        if (state.bytes > this.limits.quotaBytes) {
          throw quota(`mount ${mount.guest}: its files exceed the session quota of ${this.limits.quotaBytes} bytes (filesystem.quotaBytes)`);
        }
        out.push({ path: guest, data });
        state.paths.add(guest);
      }
    }
  }

  private async readFile(host: string, guest: string, seen: Set<string>): Promise<Buffer | undefined> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(host, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    } catch {
      return undefined; // gone, unreadable, or a symlink after all
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) return undefined;
      if (st.size > this.limits.maxFileBytes) {
        throw quota(`mount file ${guest} is ${st.size} bytes; the limit per file is ${this.limits.maxFileBytes} bytes (filesystem.maxFileBytes)`);
      }
      const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
      seen.add(host);
      const cached = this.cache.get(host);
      if (cached?.key === key) return cached.data;
      const data = await handle.readFile();
      // The file grew while it was read: still one limit.
      if (data.length > this.limits.maxFileBytes) {
        throw quota(`mount file ${guest} is ${data.length} bytes; the limit per file is ${this.limits.maxFileBytes} bytes (filesystem.maxFileBytes)`);
      }
      this.cache.set(host, { key, data });
      return data;
    } finally {
      await handle.close();
    }
  }
}

/**
 * The policy's mounts, checked at start-up: each host directory must pass `validateMounts` and its
 * files must fit the limits now. Either failure is a configuration error (exit 2) naming the mount.
 */
export async function openMounts(fsPolicy: FilesystemPolicy, dirs: { homeDir: string; keyDir: string }): Promise<MountReader> {
  let reader: MountReader;
  try {
    reader = new MountReader(validateMounts(fsPolicy, dirs), fsPolicy);
    await reader.read();
  } catch (e) {
    if (e instanceof SandboxError) throw new SandboxError(ErrorCode.CONFIG, `invalid policy: ${e.message}`);
    throw e;
  }
  return reader;
}
