/**
 * The guest's filesystem inside a runtime worker: an in-memory tree of canonical path → bytes,
 * started from the session's files (`GuestFilesystem.initial`) and diffed against them after the
 * run. Language-neutral and pure (no I/O); run_js's `fs` global is a thin binding over it
 * (runtimes/quickjs.ts), and `diffFiles` is there for any runtime that keeps its own tree.
 *
 * This is defence in depth, not the store of truth: the front re-checks every reported change
 * against the policy (`SessionVfs.applyGuestChanges`). Still, every rule is enforced here too:
 * paths are canonicalised with the front's own code (`protocol/guest-paths.ts`), reads are allowed
 * under readonly and writable prefixes, writes under writable prefixes only, and the policy's
 * per-file, file-count and total-byte limits hold at every moment.
 *
 * Errors are `GuestFsError`s shaped like Node's (`code`, `syscall`, `path`, and a message such as
 * "ENOENT: no such file or directory, open '/tmp/x'"). They carry guest paths only — never a host
 * path — because there is no host path anywhere in this model.
 */
import { accessAt, canonicalGuestPath, describePath, isUnder } from '../protocol/guest-paths.js';
import type { FileChange, GuestFile, GuestFilesystem } from './runtimes/types.js';

export type GuestFsErrorCode =
  | 'ENOENT'
  | 'EACCES'
  | 'EISDIR'
  | 'ENOTDIR'
  | 'EEXIST'
  | 'ENOTEMPTY'
  | 'EINVAL'
  | 'ENAMETOOLONG'
  | 'ENOSPC'
  | 'EFBIG'
  | 'EBUSY'
  | 'EINTR';

const DESCRIPTIONS: Record<GuestFsErrorCode, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'illegal operation on a directory',
  ENOTDIR: 'not a directory',
  EEXIST: 'file already exists',
  ENOTEMPTY: 'directory not empty',
  EINVAL: 'invalid argument',
  ENAMETOOLONG: 'name too long',
  ENOSPC: 'no space left on device',
  EFBIG: 'file too large',
  EBUSY: 'resource busy or locked',
  EINTR: 'interrupted system call',
};

/** Node's (negative) errno values on Linux, for code that inspects `err.errno`. */
const ERRNO: Record<GuestFsErrorCode, number> = {
  ENOENT: -2,
  EACCES: -13,
  EISDIR: -21,
  ENOTDIR: -20,
  EEXIST: -17,
  ENOTEMPTY: -39,
  EINVAL: -22,
  ENAMETOOLONG: -36,
  ENOSPC: -28,
  EFBIG: -27,
  EBUSY: -16,
  EINTR: -4,
};

export class GuestFsError extends Error {
  readonly errno: number;
  constructor(
    readonly code: GuestFsErrorCode,
    readonly syscall: string,
    readonly path: string | undefined,
    detail?: string,
  ) {
    super(`${code}: ${DESCRIPTIONS[code]}, ${syscall}${path === undefined ? '' : ` '${path}'`}${detail ? ` (${detail})` : ''}`);
    this.name = 'Error';
    this.errno = ERRNO[code];
  }
}

export interface GuestStat {
  kind: 'file' | 'dir';
  size: number;
  mtimeMs: number;
}

/** Most directories `mkdir` may create in one run (they cost memory and are not kept). */
export const MAX_MADE_DIRS = 10_000;

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function ancestorsOf(p: string): string[] {
  const out: string[] = [];
  for (let q = p; q !== '/'; ) {
    q = parentOf(q);
    out.push(q);
  }
  return out;
}

function nameOf(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** A private copy with its own exactly-sized buffer. */
function copyOf(data: Uint8Array): Uint8Array {
  return new Uint8Array(data);
}

/**
 * The changes from `initial` to `final` under the `writable` prefixes, in the order the front
 * applies them without a spurious quota refusal: deletions, then files that shrank (or kept their
 * size), then files that grew or are new; ties by path. A file is reported when its bytes differ or
 * the run wrote it again (`rewritten`: a re-run that saves the same chart returns it again); files
 * left alone are not.
 */
export function diffFiles(
  initial: Iterable<GuestFile>,
  final: Iterable<readonly [path: string, data: Uint8Array, rewritten?: boolean]>,
  prefixes: { writable: readonly string[]; readonly: readonly string[] },
): FileChange[] {
  const before = new Map<string, GuestFile>();
  for (const f of initial) before.set(f.path, f);
  const after = new Map<string, { data: Uint8Array; rewritten: boolean }>();
  for (const [path, data, rewritten] of final) after.set(path, { data, rewritten: rewritten === true });
  const canWrite = (p: string) => accessAt(p, prefixes) === 'write';
  const deletions: FileChange[] = [];
  const writes: Array<{ change: FileChange; growth: number }> = [];
  for (const path of before.keys()) {
    if (!after.has(path) && canWrite(path)) deletions.push({ path, kind: 'file', deleted: true });
  }
  for (const [path, { data, rewritten }] of after) {
    const old = before.get(path);
    if (old !== undefined && !rewritten && sameBytes(old.data, data)) continue;
    if (!canWrite(path)) continue;
    writes.push({ change: { path, kind: 'file', data }, growth: data.byteLength - (old?.data.byteLength ?? 0) });
  }
  const byPath = (a: FileChange, b: FileChange) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  deletions.sort(byPath);
  writes.sort((a, b) => a.growth - b.growth || byPath(a.change, b.change));
  return [...deletions, ...writes.map((w) => w.change)];
}

export class GuestFs {
  private readonly files = new Map<string, { data: Uint8Array; mtimeMs: number }>();
  private readonly initial: GuestFile[] = [];
  /** Paths this run wrote (even with the bytes they had): reported, so a re-made output returns. */
  private readonly written = new Set<string>();
  /** For each directory with something under it, how many files and made directories lie under it. */
  private readonly dirCounts = new Map<string, number>();
  /** Directories made by the guest, or kept after their last file went (they may be empty). */
  private readonly madeDirs = new Set<string>();
  /** The policy prefixes and their ancestors: always directories, never removable. */
  private readonly fixedDirs = new Set<string>(['/']);
  private readonly writable: string[];
  /** The prefixes as `accessAt` reads them. */
  private readonly prefixes: { writable: string[]; readonly: string[] };
  private readonly readable: string[];
  private readonly limits: GuestFilesystem['limits'];
  private totalBytes = 0;
  private readonly now: () => number;
  private readonly startedMs: number;

  constructor(spec: GuestFilesystem | undefined, options?: { now?: () => number }) {
    this.now = options?.now ?? Date.now;
    this.startedMs = this.now();
    const prefixes = (list: readonly unknown[] | undefined): string[] => {
      const out: string[] = [];
      for (const p of list ?? []) {
        try {
          out.push(canonicalGuestPath(p));
        } catch {
          // A malformed prefix grants nothing.
        }
      }
      return out;
    };
    this.writable = prefixes(spec?.writable);
    this.prefixes = { writable: this.writable, readonly: prefixes(spec?.readonly) };
    this.readable = [...this.writable, ...this.prefixes.readonly];
    for (const p of this.readable) {
      this.fixedDirs.add(p);
      for (const a of ancestorsOf(p)) this.fixedDirs.add(a);
    }
    this.limits = spec?.limits ?? { quotaBytes: 0, maxFiles: 0, maxFileBytes: 0 };
    for (const f of spec?.initial ?? []) {
      let path: string;
      try {
        path = canonicalGuestPath(f.path);
      } catch {
        continue;
      }
      if (!(f.data instanceof Uint8Array) || this.files.has(path) || this.isDir(path) || this.fileAncestor(path) !== undefined) continue;
      const data = copyOf(f.data);
      this.insert(path, data, typeof f.mtimeMs === 'number' && Number.isFinite(f.mtimeMs) ? f.mtimeMs : this.startedMs);
      this.initial.push({ path, data });
    }
  }

  // --- queries -------------------------------------------------------------------------------

  get usedBytes(): number {
    return this.totalBytes;
  }

  get fileCount(): number {
    return this.files.size;
  }

  /** What changed since the start (see `diffFiles`). */
  changes(): FileChange[] {
    return diffFiles(
      this.initial,
      [...this.files].map(([p, e]) => [p, e.data, this.written.has(p)] as const),
      this.prefixes,
    );
  }

  // --- the Node-like operations ----------------------------------------------------------------

  /** The file's bytes (the stored array: copy it before handing it on). */
  readFile(raw: unknown, syscall = 'open'): Uint8Array {
    const p = this.resolve(raw, syscall);
    this.mustRead(p, syscall);
    return this.fileAt(p, syscall).data;
  }

  /** Creates or replaces (or, with `append`, extends) a regular file. */
  writeFile(raw: unknown, data: Uint8Array, options?: { append?: boolean; exclusive?: boolean }, syscall = 'open'): void {
    const p = this.resolve(raw, syscall);
    this.mustWrite(p, syscall);
    const kind = this.lookup(p);
    if (kind === 'dir') throw new GuestFsError('EISDIR', syscall, p);
    if (kind === 'notdir') throw new GuestFsError('ENOTDIR', syscall, p);
    if (kind === 'none') this.mustHaveParent(p, syscall);
    if (kind === 'file' && options?.exclusive) throw new GuestFsError('EEXIST', syscall, p);
    const old = this.files.get(p);
    let next = data;
    if (options?.append && old !== undefined) {
      next = new Uint8Array(old.data.byteLength + data.byteLength);
      next.set(old.data, 0);
      next.set(data, old.data.byteLength);
    }
    this.checkLimits(p, next.byteLength, syscall);
    this.insert(p, next === data ? copyOf(data) : next, this.now());
    this.written.add(p);
  }

  copyFile(rawFrom: unknown, rawTo: unknown, options?: { exclusive?: boolean }): void {
    const data = this.readFile(rawFrom, 'copyfile');
    this.writeFile(rawTo, data, { exclusive: options?.exclusive === true }, 'copyfile');
  }

  /** Names in the directory, sorted. Outside the prefixes only the way to them is shown. */
  readdir(raw: unknown): string[] {
    const syscall = 'scandir';
    const p = this.resolve(raw, syscall);
    if (!this.visible(p)) throw new GuestFsError('EACCES', syscall, p);
    const kind = this.lookup(p);
    if (kind === 'file' || kind === 'notdir') throw new GuestFsError('ENOTDIR', syscall, p);
    if (kind === 'none') throw new GuestFsError('ENOENT', syscall, p);
    const names = new Set<string>();
    const consider = (q: string) => {
      if (q !== '/' && parentOf(q) === p && this.visible(q)) names.add(nameOf(q));
    };
    for (const q of this.files.keys()) consider(q);
    for (const q of this.dirCounts.keys()) consider(q);
    for (const q of this.madeDirs) consider(q);
    for (const q of this.fixedDirs) consider(q);
    return [...names].sort();
  }

  stat(raw: unknown): GuestStat {
    const syscall = 'stat';
    const p = this.resolve(raw, syscall);
    if (!this.visible(p)) throw new GuestFsError('EACCES', syscall, p);
    const kind = this.lookup(p);
    if (kind === 'none') throw new GuestFsError('ENOENT', syscall, p);
    if (kind === 'notdir') throw new GuestFsError('ENOTDIR', syscall, p);
    if (kind === 'dir') return { kind: 'dir', size: 0, mtimeMs: this.startedMs };
    const entry = this.files.get(p)!;
    return { kind: 'file', size: entry.data.byteLength, mtimeMs: entry.mtimeMs };
  }

  /** Never throws: false for anything that is missing, not visible or malformed. */
  exists(raw: unknown): boolean {
    try {
      this.stat(raw);
      return true;
    } catch {
      return false;
    }
  }

  /** Like `fs.mkdirSync`: with `recursive`, returns the first directory created (or undefined). */
  mkdir(raw: unknown, options?: { recursive?: boolean }): string | undefined {
    const syscall = 'mkdir';
    const p = this.resolve(raw, syscall);
    const recursive = options?.recursive === true;
    const kind = this.lookup(p);
    if (kind === 'dir') {
      if (recursive) return undefined;
      throw new GuestFsError('EEXIST', syscall, p);
    }
    this.mustWrite(p, syscall);
    if (kind === 'file') throw new GuestFsError('EEXIST', syscall, p);
    if (kind === 'notdir') throw new GuestFsError('ENOTDIR', syscall, p);
    const missing = [p];
    for (const a of ancestorsOf(p)) {
      if (this.isDir(a)) break;
      missing.push(a);
    }
    if (missing.length > 1 && !recursive) throw new GuestFsError('ENOENT', syscall, p);
    if (this.madeDirs.size + missing.length > MAX_MADE_DIRS) {
      throw new GuestFsError('ENOSPC', syscall, p, `at most ${MAX_MADE_DIRS} directories can be made in one run`);
    }
    for (const d of missing) this.addDir(d);
    return recursive ? missing[missing.length - 1] : undefined;
  }

  /** Like `fs.rmSync`. A policy prefix itself stays (it is always there); its contents go. */
  rm(raw: unknown, options?: { recursive?: boolean; force?: boolean }): void {
    const syscall = 'rm';
    const p = this.resolve(raw, syscall);
    this.mustWrite(p, syscall);
    const kind = this.lookup(p);
    if (kind === 'none') {
      if (options?.force) return;
      throw new GuestFsError('ENOENT', syscall, p);
    }
    if (kind === 'notdir') {
      if (options?.force) return;
      throw new GuestFsError('ENOTDIR', syscall, p);
    }
    if (kind === 'dir' && !options?.recursive) {
      throw new GuestFsError('EISDIR', syscall, p, 'use { recursive: true } to remove a directory');
    }
    this.removeTree(p);
  }

  unlink(raw: unknown): void {
    const syscall = 'unlink';
    const p = this.resolve(raw, syscall);
    this.mustWrite(p, syscall);
    this.fileAt(p, syscall);
    this.removeTree(p);
  }

  rmdir(raw: unknown): void {
    const syscall = 'rmdir';
    const p = this.resolve(raw, syscall);
    this.mustWrite(p, syscall);
    const kind = this.lookup(p);
    if (kind === 'none') throw new GuestFsError('ENOENT', syscall, p);
    if (kind === 'file' || kind === 'notdir') throw new GuestFsError('ENOTDIR', syscall, p);
    if (this.fixedDirs.has(p)) throw new GuestFsError('EBUSY', syscall, p);
    if (this.dirCounts.has(p)) throw new GuestFsError('ENOTEMPTY', syscall, p);
    this.removeTree(p);
  }

  /** Like `fs.renameSync`, for a file or a directory, within the writable prefixes. */
  rename(rawFrom: unknown, rawTo: unknown): void {
    const syscall = 'rename';
    const from = this.resolve(rawFrom, syscall);
    const to = this.resolve(rawTo, syscall);
    this.mustWrite(from, syscall);
    this.mustWrite(to, syscall);
    const kind = this.lookup(from);
    if (kind === 'none') throw new GuestFsError('ENOENT', syscall, from);
    if (kind === 'notdir') throw new GuestFsError('ENOTDIR', syscall, from);
    if (from === to) return;
    const target = this.lookup(to);
    if (target === 'notdir') throw new GuestFsError('ENOTDIR', syscall, to);
    if (target === 'none') this.mustHaveParent(to, syscall);
    if (kind === 'file') {
      if (target === 'dir') throw new GuestFsError('EISDIR', syscall, to);
      const entry = this.files.get(from)!;
      this.removeTree(from);
      this.insert(to, entry.data, entry.mtimeMs); // same bytes: the limits cannot be exceeded
      return;
    }
    if (this.fixedDirs.has(from)) throw new GuestFsError('EBUSY', syscall, from);
    if (isUnder(to, from)) throw new GuestFsError('EINVAL', syscall, from, 'cannot move a directory into itself');
    if (target === 'file') throw new GuestFsError('ENOTDIR', syscall, to);
    if (target === 'dir') {
      if (this.fixedDirs.has(to)) throw new GuestFsError('EBUSY', syscall, to);
      if (this.dirCounts.has(to)) throw new GuestFsError('ENOTEMPTY', syscall, to);
    }
    const moved = (q: string) => {
      const next = to + q.slice(from.length);
      try {
        return canonicalGuestPath(next);
      } catch {
        throw new GuestFsError('ENAMETOOLONG', syscall, to);
      }
    };
    const files = [...this.files].filter(([q]) => isUnder(q, from));
    const dirs = [...this.madeDirs].filter((d) => isUnder(d, from));
    const plan = files.map(([q, e]) => [moved(q), e] as const);
    const dirPlan = dirs.map(moved);
    this.removeTree(from);
    this.removeTree(to);
    this.addDir(to);
    for (const d of dirPlan) this.addDir(d);
    for (const [q, e] of plan) this.insert(q, e.data, e.mtimeMs);
  }

  // --- internals -------------------------------------------------------------------------------

  private resolve(raw: unknown, syscall: string): string {
    try {
      return canonicalGuestPath(raw);
    } catch (e) {
      const why = e instanceof Error ? e.message.replace(/^invalid guest path .*?: /su, '') : 'malformed path';
      const tooLong = /longer than|bytes of UTF-8|levels deep/u.test(why);
      throw new GuestFsError(tooLong ? 'ENAMETOOLONG' : 'EINVAL', syscall, undefined, `${describePath(raw)}: ${why}`);
    }
  }

  private canWrite(p: string): boolean {
    return accessAt(p, this.prefixes) === 'write';
  }

  private canRead(p: string): boolean {
    return this.readable.some((r) => isUnder(p, r));
  }

  /** Readable, or one of the directories on the way to a prefix. */
  private visible(p: string): boolean {
    return this.canRead(p) || this.fixedDirs.has(p);
  }

  private mustRead(p: string, syscall: string): void {
    if (this.canRead(p)) return;
    throw new GuestFsError(this.fixedDirs.has(p) ? 'EISDIR' : 'EACCES', syscall, p);
  }

  private mustWrite(p: string, syscall: string): void {
    if (this.canWrite(p)) return;
    const where = this.canRead(p) ? 'read-only' : 'outside the sandbox filesystem';
    const allowed = this.writable.length === 0 ? 'nothing is writable' : `writable: ${this.writable.join(', ')}`;
    throw new GuestFsError('EACCES', syscall, p, `${where}; ${allowed}`);
  }

  private isDir(p: string): boolean {
    return this.fixedDirs.has(p) || this.dirCounts.has(p) || this.madeDirs.has(p);
  }

  private fileAncestor(p: string): string | undefined {
    return ancestorsOf(p).find((a) => this.files.has(a));
  }

  private lookup(p: string): 'file' | 'dir' | 'none' | 'notdir' {
    if (this.files.has(p)) return 'file';
    if (this.isDir(p)) return 'dir';
    return this.fileAncestor(p) === undefined ? 'none' : 'notdir';
  }

  private fileAt(p: string, syscall: string): { data: Uint8Array; mtimeMs: number } {
    const entry = this.files.get(p);
    if (entry !== undefined) return entry;
    const kind = this.lookup(p);
    if (kind === 'dir') throw new GuestFsError('EISDIR', syscall, p);
    throw new GuestFsError(kind === 'notdir' ? 'ENOTDIR' : 'ENOENT', syscall, p);
  }

  private mustHaveParent(p: string, syscall: string): void {
    if (!this.isDir(parentOf(p))) throw new GuestFsError('ENOENT', syscall, p);
  }

  private checkLimits(p: string, size: number, syscall: string): void {
    const { maxFileBytes, maxFiles, quotaBytes } = this.limits;
    if (size > maxFileBytes) {
      throw new GuestFsError('EFBIG', syscall, p, `${size} bytes; the policy allows at most ${maxFileBytes} bytes per file`);
    }
    const old = this.files.get(p);
    if (old === undefined && this.files.size + 1 > maxFiles) {
      throw new GuestFsError('ENOSPC', syscall, p, `the session's file quota is exceeded: it already holds ${this.files.size} files; the limit is ${maxFiles}`);
    }
    const after = this.totalBytes - (old?.data.byteLength ?? 0) + size;
    if (after > quotaBytes) {
      throw new GuestFsError(
        'ENOSPC',
        syscall,
        p,
        `the session's file quota is exceeded: this write would make its files ${after} bytes; the quota is ${quotaBytes} bytes`,
      );
    }
  }

  private count(p: string, delta: 1 | -1): void {
    for (const d of ancestorsOf(p)) {
      const n = (this.dirCounts.get(d) ?? 0) + delta;
      if (n <= 0) this.dirCounts.delete(d);
      else this.dirCounts.set(d, n);
    }
  }

  private insert(p: string, data: Uint8Array, mtimeMs: number): void {
    this.drop(p);
    this.files.set(p, { data, mtimeMs });
    this.totalBytes += data.byteLength;
    this.count(p, 1);
  }

  private drop(p: string): void {
    const entry = this.files.get(p);
    if (entry === undefined) return;
    this.files.delete(p);
    this.totalBytes -= entry.data.byteLength;
    this.count(p, -1);
  }

  private addDir(d: string): void {
    if (d === '/' || this.madeDirs.has(d)) return;
    this.madeDirs.add(d);
    this.count(d, 1);
  }

  /**
   * Removes the file at `p`, or the directory at `p` and everything under it (a fixed directory
   * itself stays). As in any filesystem, the parent directory stays even when it becomes empty.
   */
  private removeTree(p: string): void {
    const parent = parentOf(p);
    const parentWasDir = this.isDir(parent);
    if (this.files.has(p)) this.drop(p);
    else {
      for (const q of [...this.files.keys()]) if (isUnder(q, p)) this.drop(q);
      for (const d of [...this.madeDirs]) {
        if (isUnder(d, p) && this.madeDirs.delete(d)) this.count(d, -1);
      }
    }
    if (parentWasDir && !this.isDir(parent)) this.addDir(parent);
  }
}
