/**
 * run_python's files: the session's files shown in Pyodide's in-memory filesystem (MEMFS) before a
 * run, and what the run changed read back out of it afterwards.
 *
 * The guest uses ordinary `open`, `os` and `pathlib` on MEMFS, so nothing can stop it from writing
 * anywhere in that tree, `chmod`-ing a read-only file or making symlinks: MEMFS is the guest's own
 * memory. The rules are therefore enforced on the way in and on the way out:
 *  - in: before every run, everything under the policy's prefixes is removed (never following a
 *    symlink) and exactly the session's files are written; read-only prefixes get read-only modes,
 *    so a plain write fails with PermissionError as it would in run_js (a `chmod` undoes that, which
 *    is why the way out matters);
 *  - out: only the writable prefixes are walked, with `lstat` from the root down (a symlink is
 *    reported as a symlink and never followed, so no content from elsewhere leaves through one), a
 *    regular file with more than one link is reported as "other" and never read, and the policy's
 *    limits are checked on the sizes `lstat` gives before a single byte is read.
 * The front re-checks every change against the policy anyway (`SessionVfs.applyGuestChanges`).
 *
 * Nothing of the host is in this tree: MEMFS lives in the worker's memory and the host filesystems
 * (NODEFS and friends) are cut by the realm layer. Pyodide's own directories (/lib with the standard
 * library, /dev, /proc) are never exported, and a policy prefix that would overlap them is refused.
 *
 * The walk and the preparation work on `GuestTree`, a small interface that `emscriptenTree` backs
 * with Emscripten's FS, so that the rules are unit-tested on a plain in-memory tree as well.
 */
import { ErrorCode } from '../../../protocol/errors.js';
import { MAX_PATH_DEPTH, accessAt, describePath, isUnder, tryCanonicalGuestPath } from '../../../protocol/guest-paths.js';
import { diffFiles } from '../../guest-fs.js';
import type { FileChange, GuestFile, GuestFilesystem, RunOutcome } from '../types.js';

/** What `lstat` says about one path; never follows a symlink. */
export interface TreeEntry {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  nlink: number;
  /** Last modification (epoch ms), where the tree knows it. */
  mtimeMs?: number;
}

/** The filesystem operations the rules need. Paths are absolute; nothing here follows a final symlink. */
export interface GuestTree {
  /** Undefined where nothing is at `path`. */
  lstat(path: string): TreeEntry | undefined;
  /** Names in a directory, without `.` and `..`. */
  list(path: string): string[];
  /** A private copy of a regular file's bytes. */
  read(path: string): Uint8Array;
  /** Removes a file, symlink or other non-directory. */
  unlink(path: string): void;
  rmdir(path: string): void;
  mkdir(path: string, mode: number): void;
  chmod(path: string, mode: number): void;
  write(path: string, data: Uint8Array, mode: number, mtimeMs: number | undefined): void;
  /** Runs `fn` with permission checks off (the guest may have `chmod`-ed things to 000). */
  privileged<T>(fn: () => T): T;
  /** The interpreter's working directory (where `open("x.txt", "w")` writes). */
  chdir(path: string): void;
}

/**
 * Where a fresh interpreter starts: `/tmp` where the run may write there, else the first writable
 * prefix, so a relative path lands among the session's files (Pyodide's own default, /home/pyodide,
 * is neither kept nor counted). Undefined where nothing is writable.
 */
export function workingDirFor(spec: GuestFilesystem): string | undefined {
  const rules = rulesFor(spec);
  if (accessAt('/tmp', rules) === 'write') return '/tmp';
  return rules.writable.find((p) => accessAt(p, rules) === 'write');
}

/** Pyodide's own directories: the standard library and site-packages (/lib), devices, /proc. */
export const RUNTIME_DIRS = ['/lib', '/dev', '/proc'] as const;

/** Most entries (files, directories, links) the walk looks at beyond the policy's file count. */
export const MAX_EXTRA_ENTRIES = 10_000;

const MODE_DIR = 0o777;
const MODE_FILE = 0o666;
const MODE_RO_DIR = 0o555;
const MODE_RO_FILE = 0o444;

/** Canonical prefixes; a malformed one grants nothing. */
function canonicalList(list: readonly unknown[] | undefined): string[] {
  const out: string[] = [];
  for (const p of list ?? []) {
    const c = tryCanonicalGuestPath(p);
    if (c !== undefined) out.push(c);
  }
  return out;
}

/** The prefixes that are not inside another one of the list, shortest first. */
function outermost(prefixes: readonly string[]): string[] {
  const sorted = [...new Set(prefixes)].sort((a, b) => a.length - b.length || (a < b ? -1 : 1));
  const out: string[] = [];
  for (const p of sorted) if (!out.some((q) => isUnder(p, q))) out.push(p);
  return out;
}

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function ancestorsTopDown(p: string): string[] {
  const parts = p.split('/').filter(Boolean);
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(`/${parts.slice(0, i).join('/')}`);
  return out;
}

export interface FileRules {
  writable: string[];
  readonly: string[];
  readable: string[];
}

/** The prefixes of a run, canonical. */
export function rulesFor(spec: GuestFilesystem): FileRules {
  const writable = canonicalList(spec.writable);
  const readonly = canonicalList(spec.readonly);
  return { writable, readonly, readable: [...writable, ...readonly] };
}

/**
 * Why Python cannot run with these prefixes, or undefined: a prefix that is, contains or lies inside
 * one of Pyodide's own directories would wipe or expose the interpreter's files before each run.
 */
export function runtimeOverlap(rules: FileRules): string | undefined {
  for (const prefix of rules.readable) {
    const hit = RUNTIME_DIRS.find((d) => isUnder(prefix, d) || isUnder(d, prefix));
    if (hit !== undefined) {
      return `run_python cannot use the filesystem policy: the prefix ${describePath(prefix)} overlaps ${hit}, where the Python runtime keeps its own files (${RUNTIME_DIRS.join(', ')}); choose another guest path for it`;
    }
  }
  return undefined;
}

function canWrite(rules: FileRules, p: string): boolean {
  return accessAt(p, rules) === 'write';
}

/** Removes whatever is at `path`, never following a symlink; a directory with all it holds. */
function removeTree(tree: GuestTree, path: string): void {
  const top = tree.lstat(path);
  if (top === undefined) return;
  if (top.kind !== 'dir') {
    tree.unlink(path);
    return;
  }
  // Depth-first without recursion: a guest may have nested directories very deeply.
  const stack: Array<{ path: string; listed: boolean }> = [{ path, listed: false }];
  while (stack.length > 0) {
    const current = stack[stack.length - 1]!;
    if (!current.listed) {
      current.listed = true;
      for (const name of tree.list(current.path)) {
        const child = join(current.path, name);
        const e = tree.lstat(child);
        if (e === undefined) continue;
        if (e.kind === 'dir') stack.push({ path: child, listed: false });
        else tree.unlink(child);
      }
      continue;
    }
    stack.pop();
    tree.rmdir(current.path);
  }
}

/** Makes `path` a real directory (replacing a file or symlink there), with its ancestors. */
function ensureDir(tree: GuestTree, path: string, mode: number): void {
  for (const p of [...ancestorsTopDown(path), path]) {
    const e = tree.lstat(p);
    if (e?.kind === 'dir') continue;
    if (e !== undefined) tree.unlink(p);
    tree.mkdir(p, MODE_DIR);
  }
  tree.chmod(path, mode);
}

/**
 * Before a run: the tree under the policy's prefixes becomes exactly the session's files. Anything
 * an earlier run of the session left there is removed (the front may have refused it); the prefixes
 * and their ancestors are real directories; read-only prefixes and their files get read-only modes.
 */
export function prepareTree(tree: GuestTree, spec: GuestFilesystem): void {
  const rules = rulesFor(spec);
  tree.privileged(() => {
    for (const prefix of outermost(rules.readable)) {
      ensureDir(tree, prefix, MODE_DIR);
      for (const name of tree.list(prefix)) removeTree(tree, join(prefix, name));
    }
    // Shortest first; each prefix's directory gets the mode the deepest prefix over it decides.
    const byLength = [...new Set(rules.readable)].sort((a, b) => a.length - b.length);
    for (const prefix of byLength) ensureDir(tree, prefix, canWrite(rules, prefix) ? MODE_DIR : MODE_RO_DIR);
    for (const f of spec.initial) {
      const path = tryCanonicalGuestPath(f.path);
      if (path === undefined || !rules.readable.some((r) => isUnder(path, r))) continue;
      const writable = canWrite(rules, path);
      const prefix = rules.readable.filter((r) => isUnder(path, r)).sort((a, b) => b.length - a.length)[0]!;
      // Directories between the prefix and the file, made as the prefix's kind.
      for (const dir of ancestorsTopDown(path).filter((a) => isUnder(a, prefix) && a !== prefix)) {
        const e = tree.lstat(dir);
        if (e === undefined) tree.mkdir(dir, writable ? MODE_DIR : MODE_RO_DIR);
      }
      if (tree.lstat(path) !== undefined) continue; // a duplicate, or a file where a directory is
      tree.write(path, f.data, writable ? MODE_FILE : MODE_RO_FILE, f.mtimeMs);
    }
  });
}

export type CollectResult =
  | { ok: true; changes: FileChange[]; notes: string[] }
  /** The run's files are over a limit: none of its changes are reported. */
  | { ok: false; code: typeof ErrorCode.QUOTA_EXCEEDED; message: string };

/**
 * After a run: what changed under the writable prefixes, as `FileChange`s in the order the front
 * applies them (deletions, files that shrank, files that grew or are new; then symlinks and other
 * kinds, which the front refuses). Over a limit of the policy, nothing is reported and the result
 * says which limit: the session's files then stay as they were before the run.
 */
export function collectChanges(tree: GuestTree, spec: GuestFilesystem): CollectResult {
  return tree.privileged(() => collect(tree, spec));
}

function collect(tree: GuestTree, spec: GuestFilesystem): CollectResult {
  const rules = rulesFor(spec);
  const { quotaBytes, maxFiles, maxFileBytes } = spec.limits;
  const initial: GuestFile[] = [];
  // Files outside the writable prefixes stay as the front has them; they count towards the limits.
  let bytes = 0;
  let count = 0;
  for (const f of spec.initial) {
    const path = tryCanonicalGuestPath(f.path);
    if (path === undefined) continue;
    if (canWrite(rules, path)) initial.push({ path, data: f.data, ...(f.mtimeMs !== undefined ? { mtimeMs: f.mtimeMs } : {}) });
    else {
      bytes += f.data.byteLength;
      count++;
    }
  }
  const over = (message: string): CollectResult => ({
    ok: false,
    code: ErrorCode.QUOTA_EXCEEDED,
    message: `the run's files exceed the policy's limits: ${message}; none of the run's file changes were kept`,
  });

  const files: string[] = [];
  const odd: FileChange[] = [];
  const notes: string[] = [];
  const maxEntries = maxFiles + MAX_EXTRA_ENTRIES;
  let entries = 0;
  let tooDeep = 0;
  for (const prefix of outermost(rules.writable)) {
    // Every directory on the way must be a real one, or the prefix is gone (its files deleted).
    if (![...ancestorsTopDown(prefix), prefix].every((p) => tree.lstat(p)?.kind === 'dir')) continue;
    const stack: Array<{ path: string; depth: number }> = [{ path: prefix, depth: prefix.split('/').length - 1 }];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      for (const name of tree.list(dir.path)) {
        if (++entries > maxEntries) return over(`the writable paths hold more than ${maxEntries} entries (files, directories and links)`);
        const path = join(dir.path, name);
        const e = tree.lstat(path);
        if (e === undefined) continue;
        if (e.kind === 'dir') {
          if (dir.depth + 1 >= MAX_PATH_DEPTH) tooDeep++;
          else stack.push({ path, depth: dir.depth + 1 });
          continue;
        }
        if (e.kind !== 'file' || e.nlink !== 1) {
          // Never read: a symlink's target or a hard link's content may lie outside the writable paths.
          odd.push({ path, kind: e.kind === 'symlink' ? 'symlink' : 'other' });
          continue;
        }
        if (e.size > maxFileBytes) return over(`${describePath(path)} is ${e.size} bytes; the limit per file is ${maxFileBytes} bytes`);
        count++;
        bytes += e.size;
        if (count > maxFiles) return over(`the session would hold more than ${maxFiles} files`);
        if (bytes > quotaBytes) return over(`the session's files would take more than ${quotaBytes} bytes (its quota)`);
        files.push(path);
      }
    }
  }
  if (tooDeep > 0) notes.push(`${tooDeep} director${tooDeep === 1 ? 'y' : 'ies'} nested deeper than ${MAX_PATH_DEPTH} levels ${tooDeep === 1 ? 'was' : 'were'} not kept`);
  // Within the limits: reading every file is bounded by the quota.
  // Written again (prepareTree stamped each file with the front's mtime): reported even if its bytes are the same.
  const stamped = new Map(initial.map((f) => [f.path, f.mtimeMs]));
  const final = files.map((p) => {
    const was = stamped.get(p);
    const now = tree.lstat(p)?.mtimeMs;
    return [p, tree.read(p), was !== undefined && now !== undefined && now !== was] as const;
  });
  const changes = diffFiles(initial, final, rules);
  // A symlink where a file was: the file is gone (a deletion from diffFiles), and the link is refused.
  odd.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { ok: true, changes: [...changes, ...odd], notes };
}

// ---------------------------------------------------------------------------------------------
// Emscripten's FS
// ---------------------------------------------------------------------------------------------

interface EmStat {
  mode: number;
  size: number;
  nlink: number;
  mtime?: unknown;
}

/** The members of Emscripten's FS object used here. */
interface EmFs {
  ignorePermissions: boolean;
  lstat(path: string): EmStat;
  readdir(path: string): string[];
  readFile(path: string, opts: { encoding: 'binary' }): Uint8Array;
  writeFile(path: string, data: Uint8Array): void;
  unlink(path: string): void;
  rmdir(path: string): void;
  mkdir(path: string, mode: number): void;
  chmod(path: string, mode: number, dontFollow?: boolean): void;
  utime(path: string, atime: number, mtime: number): void;
  isDir(mode: number): boolean;
  isFile(mode: number): boolean;
  isLink(mode: number): boolean;
  chdir(path: string): void;
}

/**
 * A `GuestTree` over Emscripten's FS. Takes the functions now (call it before any guest code runs),
 * so a guest that later replaces members of the FS object does not replace what this uses.
 */
export function emscriptenTree(fsObject: unknown): GuestTree {
  const FS = fsObject as EmFs;
  const bind = <K extends keyof EmFs>(k: K): EmFs[K] => {
    const f = FS[k];
    if (typeof f !== 'function') throw new Error(`unexpected Pyodide build: FS.${String(k)} is missing`);
    return (f as (...a: unknown[]) => unknown).bind(FS) as EmFs[K];
  };
  const lstat = bind('lstat');
  const readdir = bind('readdir');
  const readFile = bind('readFile');
  const writeFile = bind('writeFile');
  const unlink = bind('unlink');
  const rmdir = bind('rmdir');
  const mkdir = bind('mkdir');
  const chmod = bind('chmod');
  const utime = bind('utime');
  const isDir = bind('isDir');
  const isFile = bind('isFile');
  const isLink = bind('isLink');
  const chdir = bind('chdir');
  return {
    chdir: (path) => chdir(path),
    lstat(path) {
      let st: EmStat;
      try {
        st = lstat(path);
      } catch {
        return undefined;
      }
      const kind = isDir(st.mode) ? 'dir' : isFile(st.mode) ? 'file' : isLink(st.mode) ? 'symlink' : 'other';
      const mtimeMs = st.mtime instanceof Date ? st.mtime.getTime() : typeof st.mtime === 'number' ? st.mtime : undefined;
      return { kind, size: Number(st.size) || 0, nlink: Number(st.nlink) || 1, ...(mtimeMs !== undefined && Number.isFinite(mtimeMs) ? { mtimeMs } : {}) };
    },
    list(path) {
      return readdir(path).filter((n) => n !== '.' && n !== '..');
    },
    read(path) {
      return new Uint8Array(readFile(path, { encoding: 'binary' }));
    },
    unlink: (path) => unlink(path),
    rmdir: (path) => rmdir(path),
    mkdir: (path, mode) => mkdir(path, mode),
    chmod: (path, mode) => chmod(path, mode, true),
    write(path, data, mode, mtimeMs) {
      writeFile(path, data);
      chmod(path, mode, true);
      if (mtimeMs !== undefined && Number.isFinite(mtimeMs)) utime(path, mtimeMs, mtimeMs);
    },
    privileged(fn) {
      const before = FS.ignorePermissions;
      FS.ignorePermissions = true;
      try {
        return fn();
      } finally {
        FS.ignorePermissions = before;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------------

/**
 * Runs `run` between `prepareTree` and `collectChanges`, and adds the changes to its outcome.
 * Without a filesystem (warm-up runs) the tree is left alone and nothing is reported. The changes
 * are collected whatever the outcome (an error, a timeout, the memory limit: MEMFS lives outside
 * the interpreter's heap); the caller skips this when the interpreter is already known to be broken.
 */
export async function runWithFiles(
  tree: GuestTree,
  spec: GuestFilesystem | undefined,
  stderr: (text: string) => void,
  run: () => Promise<RunOutcome>,
): Promise<RunOutcome> {
  if (spec === undefined) return run();
  const overlap = runtimeOverlap(rulesFor(spec));
  if (overlap !== undefined) {
    return { status: 'error', code: ErrorCode.POLICY_DENIED, error: { type: 'PolicyError', message: overlap }, fatal: false };
  }
  prepareTree(tree, spec);
  const outcome = await run();
  let collected: CollectResult;
  try {
    collected = collectChanges(tree, spec);
  } catch {
    stderr('[files: the files of this run could not be read back; none of its changes were kept]\n');
    return outcome;
  }
  if (!collected.ok) {
    if (outcome.status === 'ok') {
      return { status: 'error', code: collected.code, error: { type: 'QuotaExceeded', message: collected.message }, fatal: false };
    }
    stderr(`[files: ${collected.message}]\n`);
    return outcome;
  }
  for (const note of collected.notes) stderr(`[files: ${note}]\n`);
  return collected.changes.length === 0 ? outcome : { ...outcome, files: collected.changes };
}

// ---------------------------------------------------------------------------------------------
// Memory of the in-memory filesystem
// ---------------------------------------------------------------------------------------------

interface MemNode {
  mode: number;
  contents?: { length: number } | null;
  name_next?: MemNode | null;
}

/**
 * Bounds the bytes MEMFS holds in file contents to `limit()` (the policy's memory limit). File
 * contents live in the worker's JavaScript memory, outside the capped WebAssembly heap, so without
 * this a guest writing gigabytes to a file would grow the sandbox host until the run's timeout.
 * A growth past the bound fails the write with ENOSPC (Python: OSError "No space left on device").
 * Counted: every file reachable by name, plus every open file (an unlinked file can still be written).
 */
export function capFileMemory(module: Record<string, unknown>, limit: () => number): void {
  const MEMFS = module['MEMFS'] as Record<string, unknown> | undefined;
  const FS = module['FS'] as { nameTable?: Array<MemNode | null>; streams?: Array<{ node?: MemNode } | null>; isFile(mode: number): boolean; ErrnoError: new (errno: number) => Error } | undefined;
  const ENOSPC = (module['ERRNO_CODES'] as Record<string, number> | undefined)?.['ENOSPC'];
  const expand = MEMFS?.['expandFileStorage'];
  const resize = MEMFS?.['resizeFileStorage'];
  if (!MEMFS || !FS || typeof expand !== 'function' || typeof resize !== 'function' || typeof ENOSPC !== 'number') {
    throw new Error('unexpected Pyodide build: MEMFS storage functions are missing');
  }
  const ErrnoError = FS.ErrnoError;
  const isFile = FS.isFile.bind(FS);
  const used = (): number => {
    const seen = new Set<MemNode>();
    let total = 0;
    const add = (node: MemNode | null | undefined) => {
      if (!node || seen.has(node)) return;
      seen.add(node);
      if (isFile(node.mode) && node.contents) total += node.contents.length;
    };
    for (const head of FS.nameTable ?? []) for (let n = head; n; n = n.name_next ?? null) add(n);
    for (const s of FS.streams ?? []) add(s?.node);
    return total;
  };
  const check = (node: MemNode, capacity: number) => {
    const before = node.contents?.length ?? 0;
    if (capacity > before && used() + (capacity - before) > limit()) throw new ErrnoError(ENOSPC);
  };
  MEMFS['expandFileStorage'] = function expandFileStorage(this: unknown, node: MemNode, newCapacity: number): unknown {
    const before = node.contents?.length ?? 0;
    // MEMFS doubles small files and grows large ones by 1/8: check the size it will allocate.
    check(node, Math.max(newCapacity, before < 1024 * 1024 ? before * 2 : Math.floor(before * 1.125)));
    return (expand as (n: MemNode, c: number) => unknown).call(this, node, newCapacity);
  };
  MEMFS['resizeFileStorage'] = function resizeFileStorage(this: unknown, node: MemNode, newSize: number): unknown {
    check(node, newSize);
    return (resize as (n: MemNode, s: number) => unknown).call(this, node, newSize);
  };
}
