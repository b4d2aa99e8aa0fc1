/**
 * The session's virtual filesystem: the store of truth, held by the front, shared by both languages.
 *
 * Before a run the front sends `snapshot()` into the sandbox; after the run it hands what the guest
 * reports to `applyGuestChanges`, which treats it as hostile input. Every check is made here, in
 * the trusted process, against the session's filesystem policy.
 *
 * Model: a flat map from canonical path to file. Directories are implied by the files under them
 * (a directory with no files does not persist between runs). A path cannot be both a file and a
 * directory, and a policy prefix such as `/output` is always a directory.
 */

import { createHash } from 'node:crypto';
import { ErrorCode, SandboxError } from '../../protocol/errors.js';
import type { FilesystemPolicy } from '../policy/filesystem-schema.js';
import { accessFor, canonicalGuestPath, describePath, isUnder } from './paths.js';

export interface VfsEntry {
  data: Buffer;
  mtimeMs: number;
  sha256: string;
  /** Who wrote the current content. */
  writtenBy: Writer;
}

export interface VfsFileInfo {
  path: string;
  size: number;
  mtimeMs: number;
  sha256: string;
}

export interface GuestChange {
  path: string;
  data?: Buffer | Uint8Array;
  deleted?: boolean;
  kind: 'file' | 'symlink' | 'other';
}

export interface GuestChangeResult {
  /** Files created or whose content changed, in the order applied. */
  changed: Array<{ path: string; size: number }>;
  /** Files removed at the guest's request. */
  deleted: string[];
  /** Changes refused; at most `MAX_REPORTED_REJECTIONS` are listed. */
  rejected: Array<{ path: string; reason: string }>;
  /** How many changes were refused in all (may exceed `rejected.length`). */
  rejectedCount: number;
}

export type FilesPolicyLimits = Pick<
  FilesystemPolicy,
  'readonly' | 'writable' | 'mounts' | 'quotaBytes' | 'maxFiles' | 'maxFileBytes'
>;

/** A guest that reports thousands of bad changes gets a bounded report. */
export const MAX_REPORTED_REJECTIONS = 100;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function parentsOf(p: string): string[] {
  const out: string[] = [];
  let i = p.lastIndexOf('/');
  while (i > 0) {
    out.push(p.slice(0, i));
    i = p.lastIndexOf('/', i - 1);
  }
  return out;
}

function quota(message: string): SandboxError {
  return new SandboxError(ErrorCode.QUOTA_EXCEEDED, message);
}

/** Who wrote a file: the tool's `files` input, the guest, or a host mount copied in. */
type Writer = 'client' | 'guest' | 'mount';

export class SessionVfs {
  private readonly files = new Map<string, VfsEntry>();
  /** For each implied directory, how many files lie under it. */
  private readonly dirs = new Map<string, number>();
  private totalBytes = 0;
  private readonly policy: FilesPolicyLimits;
  private readonly now: () => number;
  /** Canonical policy prefixes: these are directories, never files. */
  private readonly policyDirs: string[];

  constructor(policy: FilesPolicyLimits, options?: { now?: () => number }) {
    this.policy = policy;
    this.now = options?.now ?? Date.now;
    this.policyDirs = [...policy.writable, ...policy.readonly, ...policy.mounts.map((m) => m.guest)];
  }

  get fileCount(): number {
    return this.files.size;
  }

  get usedBytes(): number {
    return this.totalBytes;
  }

  /**
   * Writes one file. Checks, in order: a well-formed path (`E_INVALID_INPUT`), write access
   * (`E_POLICY_DENIED`), no file/directory clash (`E_INVALID_INPUT`), the per-file size, the file
   * count and the session quota (`E_QUOTA_EXCEEDED`). When a check fails nothing changes.
   * @returns the canonical path written.
   */
  writeFile(path: string, data: Buffer | Uint8Array, options: { by: 'client' | 'guest' }): string {
    const canonical = canonicalGuestPath(path);
    this.put(canonical, data, options.by);
    return canonical;
  }

  /**
   * Writes several files all-or-nothing: where one is refused, none is written and the error of
   * the first refusal is thrown. Used for the tool's `files` input.
   * @returns the canonical paths written, in order.
   */
  writeFiles(files: ReadonlyArray<{ path: string; data: Buffer | Uint8Array }>, options: { by: Writer }): string[] {
    const undo: Array<{ path: string; before: VfsEntry | undefined }> = [];
    const written: string[] = [];
    try {
      for (const f of files) {
        const canonical = canonicalGuestPath(f.path);
        const before = this.files.get(canonical);
        this.put(canonical, f.data, options.by);
        undo.push({ path: canonical, before });
        written.push(canonical);
      }
    } catch (e) {
      for (let i = undo.length - 1; i >= 0; i--) {
        const u = undo[i]!;
        this.drop(u.path);
        if (u.before !== undefined) this.insert(u.path, u.before);
      }
      throw e;
    }
    return written;
  }

  /** A copy of the file's bytes, or `undefined` where there is no such file. */
  readFile(path: string): Buffer | undefined {
    const entry = this.files.get(canonicalGuestPath(path));
    return entry === undefined ? undefined : Buffer.from(entry.data);
  }

  stat(path: string): VfsFileInfo | undefined {
    const canonical = canonicalGuestPath(path);
    const entry = this.files.get(canonical);
    return entry === undefined ? undefined : info(canonical, entry);
  }

  /** Files at or under `prefix` (default: all), sorted by path. */
  list(prefix = '/'): VfsFileInfo[] {
    const canonical = canonicalGuestPath(prefix);
    const out: VfsFileInfo[] = [];
    for (const [p, entry] of this.files) {
      if (isUnder(p, canonical)) out.push(info(p, entry));
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * Removes the file at `path`, or every file under it where `path` is a directory.
   * Needs write access (`E_POLICY_DENIED`). @returns how many files were removed.
   */
  remove(path: string): number {
    const canonical = canonicalGuestPath(path);
    if (accessFor(canonical, this.policy) !== 'write') {
      throw new SandboxError(ErrorCode.POLICY_DENIED, `cannot remove ${describePath(canonical)}: ${this.notWritableReason()}`);
    }
    if (this.files.has(canonical)) {
      this.drop(canonical);
      return 1;
    }
    if (!this.dirs.has(canonical) && canonical !== '/') return 0;
    const doomed = [...this.files.keys()].filter((p) => isUnder(p, canonical));
    for (const p of doomed) this.drop(p);
    return doomed.length;
  }

  /** Drops every file. */
  clear(): void {
    this.files.clear();
    this.dirs.clear();
    this.totalBytes = 0;
  }

  /** What goes into the sandbox before a run: a copy of every file, sorted by path. */
  snapshot(): Array<{ path: string; data: Buffer; mtimeMs: number }> {
    return [...this.files.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([path, entry]) => ({ path, data: Buffer.from(entry.data), mtimeMs: entry.mtimeMs }));
  }

  /**
   * Accepts what the guest changed during a run, as far as the policy allows. The input is hostile
   * (typed for callers, checked as `unknown` inside): malformed entries, paths outside the writable
   * prefixes, symlinks and other non-regular kinds, and writes over a limit are refused one by one
   * and reported, never thrown. A deletion is honoured whatever the kind (the thing is gone in the
   * guest): it drops the file at that path, or every file under it where the path is a directory.
   * Where a path appears more than once the last entry is its final state. Deletions are applied
   * before writes (so space the run freed can be reused); writes are applied in the order given,
   * each against the limits as they stand, so the quota is never exceeded. A write whose content
   * equals the stored file is not a change.
   */
  applyGuestChanges(changes: ReadonlyArray<GuestChange>): GuestChangeResult {
    const result: GuestChangeResult = { changed: [], deleted: [], rejected: [], rejectedCount: 0 };
    const reject = (path: string, reason: string): void => {
      result.rejectedCount++;
      if (result.rejected.length < MAX_REPORTED_REJECTIONS) result.rejected.push({ path, reason });
    };
    if (!Array.isArray(changes)) {
      reject('', 'the sandbox reported changes in an unreadable form; none were applied');
      return result;
    }

    // Holds the guest's buffers by reference; `put` copies only what passes the size checks.
    const finalState = new Map<string, { deleted: true } | { deleted: false; data: Uint8Array }>();
    for (const raw of changes as readonly unknown[]) {
      if (typeof raw !== 'object' || raw === null) {
        reject('', 'malformed change entry');
        continue;
      }
      const change = raw as Partial<Record<keyof GuestChange, unknown>>;
      let canonical: string;
      try {
        canonical = canonicalGuestPath(change.path);
      } catch (e) {
        reject(describePath(change.path), e instanceof Error ? e.message : 'invalid path');
        continue;
      }
      if (accessFor(canonical, this.policy) !== 'write') {
        reject(canonical, this.notWritableReason());
        continue;
      }
      if (change.deleted === true) {
        // Whatever it was in the guest, it is gone there: drop it (a file, or a directory's files).
        finalState.delete(canonical);
        finalState.set(canonical, { deleted: true });
        continue;
      }
      if (change.kind !== 'file') {
        const kind = change.kind === 'symlink' ? 'a symlink' : 'not a regular file';
        reject(canonical, `${kind}; only regular files are kept`);
        continue;
      }
      if (!(change.data instanceof Uint8Array)) {
        reject(canonical, 'a changed file came without its content');
        continue;
      }
      finalState.delete(canonical);
      finalState.set(canonical, { deleted: false, data: change.data });
    }

    for (const [path, state] of finalState) {
      if (!state.deleted) continue;
      const doomed = this.files.has(path)
        ? [path]
        : this.dirs.has(path)
          ? [...this.files.keys()].filter((p) => isUnder(p, path)).sort()
          : [];
      for (const p of doomed) {
        this.drop(p);
        result.deleted.push(p);
      }
    }
    for (const [path, state] of finalState) {
      if (state.deleted) continue;
      const before = this.files.get(path);
      if (before !== undefined && before.data.equals(state.data)) {
        // Written again with the same bytes (the runtime reports only what the run wrote): nothing
        // to store, but the run did make it, so it is returned like any other.
        result.changed.push({ path, size: state.data.length });
        continue;
      }
      try {
        this.put(path, state.data, 'guest');
        result.changed.push({ path, size: state.data.length });
      } catch (e) {
        reject(path, e instanceof Error ? e.message : 'refused');
      }
    }
    return result;
  }

  // --- internals -----------------------------------------------------------------------------

  private notWritableReason(): string {
    const w = this.policy.writable;
    const rw = this.policy.mounts.filter((m) => m.mode === 'rw').map((m) => m.guest);
    const all = [...w, ...rw];
    const ro = [...this.policy.readonly, ...this.policy.mounts.filter((m) => m.mode === 'ro').map((m) => m.guest)];
    return all.length === 0
      ? 'the policy allows no writes'
      : `not under a writable path (writable: ${all.join(', ')}${ro.length > 0 ? `; read-only, where deeper: ${ro.join(', ')}` : ''})`;
  }

  /** All checks, then the write of a private copy of `data`. */
  private put(path: string, data: Buffer | Uint8Array, by: Writer): void {
    if (!(data instanceof Uint8Array)) {
      throw new SandboxError(ErrorCode.INVALID_INPUT, `content for ${describePath(path)} must be bytes`);
    }
    // A mount's files land under its guest path whatever its mode (the mount reader checks that);
    // everyone else needs write access.
    if (by !== 'mount' && accessFor(path, this.policy) !== 'write') {
      throw new SandboxError(ErrorCode.POLICY_DENIED, `cannot write ${describePath(path)}: ${this.notWritableReason()}`);
    }
    if (path === '/' || this.dirs.has(path) || this.policyDirs.some((d) => isUnder(d, path))) {
      throw new SandboxError(ErrorCode.INVALID_INPUT, `cannot write ${describePath(path)}: it is a directory`);
    }
    const fileParent = parentsOf(path).find((p) => this.files.has(p));
    if (fileParent !== undefined) {
      throw new SandboxError(
        ErrorCode.INVALID_INPUT,
        `cannot write ${describePath(path)}: ${describePath(fileParent)} is a file, not a directory`,
      );
    }

    const size = data.length;
    const { maxFileBytes, maxFiles, quotaBytes } = this.policy;
    if (size > maxFileBytes) {
      throw quota(`cannot write ${describePath(path)}: it is ${size} bytes; the limit per file is ${maxFileBytes} bytes`);
    }
    const before = this.files.get(path);
    if (before === undefined && this.files.size + 1 > maxFiles) {
      throw quota(`cannot write ${describePath(path)}: the session already holds ${this.files.size} files; the limit is ${maxFiles}`);
    }
    const after = this.totalBytes - (before?.data.length ?? 0) + size;
    if (after > quotaBytes) {
      throw quota(
        `cannot write ${describePath(path)} (${size} bytes): the session would hold ${after} bytes; ` +
          `its quota is ${quotaBytes} bytes (${this.totalBytes} in use)`,
      );
    }

    const copy = Buffer.from(data);
    this.drop(path);
    this.insert(path, { data: copy, mtimeMs: this.now(), sha256: sha256(copy), writtenBy: by });
  }

  private insert(path: string, entry: VfsEntry): void {
    this.files.set(path, entry);
    this.totalBytes += entry.data.length;
    for (const d of parentsOf(path)) this.dirs.set(d, (this.dirs.get(d) ?? 0) + 1);
  }

  private drop(path: string): void {
    const entry = this.files.get(path);
    if (entry === undefined) return;
    this.files.delete(path);
    this.totalBytes -= entry.data.length;
    for (const d of parentsOf(path)) {
      const n = (this.dirs.get(d) ?? 0) - 1;
      if (n <= 0) this.dirs.delete(d);
      else this.dirs.set(d, n);
    }
  }
}

function info(path: string, entry: VfsEntry): VfsFileInfo {
  return { path, size: entry.data.length, mtimeMs: entry.mtimeMs, sha256: entry.sha256 };
}

// --- the tool's `files` input -----------------------------------------------------------------

/**
 * Decodes one entry of the tool's `files` input. `encoding` defaults to "utf8". Base64 must be
 * the standard alphabet, padded, with no whitespace and canonical trailing bits; anything else is
 * refused with `E_INVALID_INPUT` naming the file. The path is canonicalised (not access-checked:
 * `writeFile` does that).
 */
export function decodeInputFile(file: { path: string; content: string; encoding?: 'utf8' | 'base64' | undefined }): {
  path: string;
  data: Buffer;
} {
  const path = canonicalGuestPath(file.path);
  if (typeof file.content !== 'string') {
    throw new SandboxError(ErrorCode.INVALID_INPUT, `files: content for ${describePath(path)} must be a string`);
  }
  const encoding = file.encoding ?? 'utf8';
  if (encoding === 'utf8') return { path, data: Buffer.from(file.content, 'utf8') };
  if (encoding !== 'base64') {
    throw new SandboxError(
      ErrorCode.INVALID_INPUT,
      `files: encoding for ${describePath(path)} must be "utf8" or "base64", not ${describePath(String(encoding))}`,
    );
  }
  const s = file.content;
  const bad = (why: string): SandboxError =>
    new SandboxError(ErrorCode.INVALID_INPUT, `files: content for ${describePath(path)} is not valid base64: ${why}`);
  if (/\s/.test(s)) throw bad('it contains whitespace');
  if (/[-_]/.test(s)) throw bad('it uses the URL-safe alphabet ("-" or "_"); use standard base64 ("+" and "/")');
  if (/[^A-Za-z0-9+/=]/.test(s)) throw bad('it contains a character outside the base64 alphabet');
  if (s.length % 4 !== 0) throw bad(`its length (${s.length}) is not a multiple of 4; is padding ("=") missing?`);
  // Not a regular expression over the whole text: a repeated group overflows V8's stack on a few MiB.
  const padding = s.indexOf('=');
  if (padding !== -1 && padding < s.length - 2) throw bad('"=" padding appears somewhere other than the end');
  if (padding === s.length - 2 && s[s.length - 1] !== '=') throw bad('"=" padding appears somewhere other than the end');
  const data = Buffer.from(s, 'base64');
  if (data.toString('base64') !== s) throw bad('the unused bits of its last character are not zero');
  return { path, data };
}

const MIME_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  webp: 'image/webp',
  json: 'application/json',
  csv: 'text/csv',
  txt: 'text/plain',
  html: 'text/html',
  htm: 'text/html',
  md: 'text/markdown',
  pdf: 'application/pdf',
};

/** The MIME type for a path by its extension (case-insensitive); application/octet-stream otherwise. */
export function mimeTypeFor(path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return 'application/octet-stream'; // no extension, or a dotfile such as ".png"
  return MIME_TYPES[name.slice(dot + 1).toLowerCase()] ?? 'application/octet-stream';
}
