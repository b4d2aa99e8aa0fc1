/**
 * The rules of run_python's files (src/sandbox/runtimes/pyodide/files.ts) on a plain in-memory tree
 * that behaves like MEMFS where it matters: intermediate symlinks are followed by path lookups, a
 * final one is not by lstat. The tree counts reads, so a test can prove a byte was never read.
 */
import { describe, expect, it } from 'vitest';
import { collectChanges, prepareTree, runtimeOverlap, rulesFor, workingDirFor, type GuestTree, type TreeEntry } from '../../../src/sandbox/runtimes/pyodide/files.js';
import type { GuestFilesystem } from '../../../src/sandbox/runtimes/types.js';

type Node = { kind: 'dir'; mode: number } | { kind: 'file'; data: Uint8Array; nlink: number; mode: number } | { kind: 'symlink'; target: string };

class FakeTree implements GuestTree {
  readonly nodes = new Map<string, Node>([['/', { kind: 'dir', mode: 0o777 }]]);
  readonly reads: string[] = [];
  privilegedNow = false;

  /** Follows symlinks in every component but the last (as a path lookup does). */
  private resolve(path: string): string {
    const parts = path.split('/').filter(Boolean);
    let cur = '';
    for (let i = 0; i < parts.length; i++) {
      cur = `${cur}/${parts[i]}`;
      let n = this.nodes.get(cur);
      for (let hops = 0; i < parts.length - 1 && n?.kind === 'symlink' && hops < 8; hops++) {
        cur = n.target;
        n = this.nodes.get(cur);
      }
    }
    return cur || '/';
  }

  lstat(path: string): TreeEntry | undefined {
    const n = this.nodes.get(this.resolve(path));
    if (!n) return undefined;
    if (n.kind === 'file') return { kind: 'file', size: n.data.byteLength, nlink: n.nlink };
    return { kind: n.kind, size: 0, nlink: 1 };
  }

  list(path: string): string[] {
    const dir = this.resolve(path);
    const prefix = dir === '/' ? '/' : `${dir}/`;
    return [...this.nodes.keys()].filter((p) => p !== dir && p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map((p) => p.slice(prefix.length));
  }

  read(path: string): Uint8Array {
    this.reads.push(path);
    const n = this.nodes.get(this.resolve(path));
    if (n?.kind !== 'file') throw new Error(`not a file: ${path}`);
    return new Uint8Array(n.data);
  }

  unlink(path: string): void {
    const p = this.resolve(path);
    if (this.nodes.get(p)?.kind === 'dir') throw new Error('EISDIR');
    this.nodes.delete(p);
  }

  rmdir(path: string): void {
    const p = this.resolve(path);
    if (this.list(p).length > 0) throw new Error('ENOTEMPTY');
    this.nodes.delete(p);
  }

  mkdir(path: string, mode: number): void {
    const p = this.resolve(path);
    if (this.nodes.has(p)) throw new Error('EEXIST');
    this.nodes.set(p, { kind: 'dir', mode });
  }

  chmod(path: string, mode: number): void {
    const n = this.nodes.get(this.resolve(path));
    if (n && n.kind !== 'symlink') n.mode = mode;
  }

  write(path: string, data: Uint8Array, mode: number): void {
    this.nodes.set(this.resolve(path), { kind: 'file', data: new Uint8Array(data), nlink: 1, mode });
  }

  cwd = '/';
  chdir(path: string): void {
    if (this.nodes.get(path)?.kind !== 'dir') throw new Error(`ENOTDIR ${path}`);
    this.cwd = path;
  }

  privileged<T>(fn: () => T): T {
    this.privilegedNow = true;
    try {
      return fn();
    } finally {
      this.privilegedNow = false;
    }
  }

  // Helpers for the tests (the guest's doing).
  file(path: string, text: string, nlink = 1): void {
    this.nodes.set(path, { kind: 'file', data: new TextEncoder().encode(text), nlink, mode: 0o666 });
  }
  dir(path: string): void {
    this.nodes.set(path, { kind: 'dir', mode: 0o777 });
  }
  link(path: string, target: string): void {
    this.nodes.set(path, { kind: 'symlink', target });
  }
  text(path: string): string | undefined {
    const n = this.nodes.get(path);
    return n?.kind === 'file' ? new TextDecoder().decode(n.data) : undefined;
  }
}

const bytes = (s: string) => new TextEncoder().encode(s);

function spec(over: Partial<GuestFilesystem> = {}): GuestFilesystem {
  return {
    initial: [],
    writable: ['/tmp', '/output'],
    readonly: [],
    limits: { quotaBytes: 1000, maxFiles: 10, maxFileBytes: 500 },
    ...over,
  };
}

function lib(tree: FakeTree): void {
  tree.dir('/lib');
  tree.file('/lib/secret.py', 'runtime file');
}

describe('prepareTree', () => {
  it('shows exactly the session files under the prefixes, removing what an earlier run left', () => {
    const tree = new FakeTree();
    lib(tree);
    tree.dir('/tmp');
    tree.file('/tmp/leftover.txt', 'old');
    tree.dir('/tmp/deep');
    tree.dir('/tmp/deep/er');
    tree.file('/tmp/deep/er/x', 'x');
    tree.link('/tmp/lib-link', '/lib');
    prepareTree(tree, spec({ initial: [{ path: '/output/sub/a.txt', data: bytes('A') }, { path: '/tmp/b.txt', data: bytes('B') }] }));
    expect(tree.list('/tmp')).toEqual(['b.txt']);
    expect(tree.list('/output')).toEqual(['sub']);
    expect(tree.text('/output/sub/a.txt')).toBe('A');
    // The link was removed, not followed: its target is untouched.
    expect(tree.text('/lib/secret.py')).toBe('runtime file');
  });

  it('turns a prefix or an ancestor the guest replaced by a symlink back into a directory, never clearing the target', () => {
    const tree = new FakeTree();
    lib(tree);
    tree.link('/tmp', '/lib');
    tree.link('/data', '/lib');
    prepareTree(tree, spec({ writable: ['/tmp', '/data/out'] }));
    expect(tree.lstat('/tmp')?.kind).toBe('dir');
    expect(tree.lstat('/data')?.kind).toBe('dir');
    expect(tree.lstat('/data/out')?.kind).toBe('dir');
    expect(tree.text('/lib/secret.py')).toBe('runtime file');
  });

  it('gives read-only prefixes and their files read-only modes, a writable prefix inside one stays writable', () => {
    const tree = new FakeTree();
    prepareTree(tree, spec({ readonly: ['/ref'], writable: ['/ref/out'], initial: [{ path: '/ref/data/r.txt', data: bytes('r') }, { path: '/ref/out/w.txt', data: bytes('w') }] }));
    const mode = (p: string) => (tree.nodes.get(p) as { mode: number }).mode;
    expect(mode('/ref')).toBe(0o555);
    expect(mode('/ref/data')).toBe(0o555);
    expect(mode('/ref/data/r.txt')).toBe(0o444);
    expect(mode('/ref/out')).toBe(0o777);
    expect(mode('/ref/out/w.txt')).toBe(0o666);
  });
});

describe('collectChanges', () => {
  it('reports new, changed and deleted files under the writable prefixes in the order the front applies them', () => {
    const tree = new FakeTree();
    const s = spec({ initial: [{ path: '/tmp/gone.txt', data: bytes('g') }, { path: '/tmp/same.txt', data: bytes('s') }, { path: '/output/grow.txt', data: bytes('1') }, { path: '/output/shrink.txt', data: bytes('12345') }] });
    prepareTree(tree, s);
    tree.unlink('/tmp/gone.txt');
    tree.file('/output/grow.txt', '123');
    tree.file('/output/shrink.txt', '1');
    tree.file('/output/new.txt', '12');
    const r = collectChanges(tree, s);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.changes.map((c) => [c.path, c.deleted ? 'deleted' : new TextDecoder().decode(c.data)])).toEqual([
      ['/tmp/gone.txt', 'deleted'],
      ['/output/shrink.txt', '1'],
      ['/output/grow.txt', '123'],
      ['/output/new.txt', '12'],
    ]);
  });

  it('never exports anything outside the writable prefixes: read-only prefix, runtime dirs, the root', () => {
    const tree = new FakeTree();
    const s = spec({ readonly: ['/ref'] });
    prepareTree(tree, s);
    lib(tree);
    tree.file('/ref/x.txt', 'after chmod');
    tree.file('/lib/new.py', 'x');
    tree.file('/evil.txt', 'x');
    const r = collectChanges(tree, s);
    expect(r).toEqual({ ok: true, changes: [], notes: [] });
    expect(tree.reads).toEqual([]);
  });

  it('reports symlinks and multiply-linked files by kind and never reads them', () => {
    const tree = new FakeTree();
    const s = spec({ initial: [{ path: '/output/was-a-file.txt', data: bytes('w') }] });
    prepareTree(tree, s);
    lib(tree);
    tree.link('/output/lib.py', '/lib/secret.py');
    tree.link('/output/dir', '/lib');
    tree.nodes.delete('/output/was-a-file.txt');
    tree.link('/output/was-a-file.txt', '/lib/secret.py');
    // A hard link to a file outside the writable prefixes: MEMFS has none (os.link is absent), but
    // a file with more than one link must never be exported whatever the runtime.
    tree.file('/output/hard.txt', 'runtime file', 2);
    const r = collectChanges(tree, s);
    expect(r.ok && r.changes).toEqual([
      { path: '/output/was-a-file.txt', kind: 'file', deleted: true },
      { path: '/output/dir', kind: 'symlink' },
      { path: '/output/hard.txt', kind: 'other' },
      { path: '/output/lib.py', kind: 'symlink' },
      { path: '/output/was-a-file.txt', kind: 'symlink' },
    ]);
    expect(tree.reads).toEqual([]);
  });

  it('treats a prefix whose ancestor became a symlink as gone, without walking the target', () => {
    const tree = new FakeTree();
    const s = spec({ writable: ['/data/out'], initial: [{ path: '/data/out/a.txt', data: bytes('a') }] });
    prepareTree(tree, s);
    tree.dir('/lib');
    tree.dir('/lib/out');
    tree.file('/lib/out/secret.txt', 'runtime file');
    tree.nodes.delete('/data/out/a.txt');
    tree.nodes.delete('/data/out');
    tree.nodes.delete('/data');
    tree.link('/data', '/lib');
    const r = collectChanges(tree, s);
    expect(r.ok && r.changes).toEqual([{ path: '/data/out/a.txt', kind: 'file', deleted: true }]);
    expect(tree.reads).toEqual([]);
  });

  it('stops before reading a byte when a file, the file count or the quota is over its limit', () => {
    const over = (setup: (t: FakeTree) => void, pattern: RegExp, limits = { quotaBytes: 1000, maxFiles: 3, maxFileBytes: 500 }) => {
      const tree = new FakeTree();
      const s = spec({ limits });
      prepareTree(tree, s);
      setup(tree);
      const r = collectChanges(tree, s);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe('E_QUOTA_EXCEEDED');
        expect(r.message).toMatch(pattern);
        expect(r.message).toContain("none of the run's file changes were kept");
      }
      expect(tree.reads).toEqual([]);
    };
    over((t) => t.file('/tmp/big', 'x'.repeat(501)), /"\/tmp\/big" is 501 bytes; the limit per file is 500 bytes/);
    over((t) => ['a', 'b', 'c', 'd'].forEach((n) => t.file(`/tmp/${n}`, n)), /more than 3 files/);
    over((t) => ['a', 'b', 'c'].forEach((n) => t.file(`/tmp/${n}`, 'x'.repeat(400))), /more than 1000 bytes \(its quota\)/);
  });

  it('counts files outside the writable prefixes (read-only ones) towards the quota, as the front does', () => {
    const tree = new FakeTree();
    const s = spec({ readonly: ['/ref'], initial: [{ path: '/ref/r.bin', data: new Uint8Array(900) }] });
    prepareTree(tree, s);
    tree.file('/tmp/t.bin', 'x'.repeat(200));
    const r = collectChanges(tree, s);
    expect(r.ok).toBe(false);
  });

  it('bounds the walk: a flood of directories ends it with a clear error, very deep nesting is not kept', () => {
    const tree = new FakeTree();
    const s = spec({ limits: { quotaBytes: 1000, maxFiles: 5, maxFileBytes: 500 } });
    prepareTree(tree, s);
    for (let i = 0; i < 10_010; i++) tree.dir(`/tmp/d${i}`);
    const r = collectChanges(tree, s);
    expect(!r.ok && r.message).toMatch(/more than 10005 entries/);

    const deep = new FakeTree();
    prepareTree(deep, s);
    let p = '/tmp';
    for (let i = 0; i < 40; i++) {
      p += '/d';
      deep.dir(p);
    }
    deep.file(`${p}/f.txt`, 'x');
    const d = collectChanges(deep, s);
    expect(d.ok && d.notes).toEqual(['1 directory nested deeper than 32 levels was not kept']);
    expect(d.ok && d.changes).toEqual([]);
  });

  it('works with permission checks off (the guest may have chmod-ed everything to 000)', () => {
    const tree = new FakeTree();
    prepareTree(tree, spec());
    tree.file('/tmp/x', 'x');
    const unprivileged: string[] = [];
    for (const op of ['lstat', 'list', 'read'] as const) {
      const original = (tree[op] as (p: string) => unknown).bind(tree);
      (tree as unknown as Record<string, (p: string) => unknown>)[op] = (p: string) => {
        if (!tree.privilegedNow) unprivileged.push(`${op} ${p}`);
        return original(p);
      };
    }
    expect(collectChanges(tree, spec()).ok).toBe(true);
    expect(tree.reads).toEqual(['/tmp/x']);
    expect(unprivileged).toEqual([]);
  });
});

describe('runtimeOverlap', () => {
  it('refuses prefixes that are, contain or lie inside the runtime directories', () => {
    expect(runtimeOverlap(rulesFor(spec()))).toBeUndefined();
    expect(runtimeOverlap(rulesFor(spec({ readonly: ['/library'] })))).toBeUndefined();
    for (const bad of ['/lib', '/', '/lib/python3.14/site-packages', '/dev', '/proc/self']) {
      expect(runtimeOverlap(rulesFor(spec({ readonly: [bad] })))).toMatch(/run_python cannot use the filesystem policy: the prefix .* overlaps \/(lib|dev|proc)/);
    }
  });
});

describe('workingDirFor', () => {
  const fs = (writable: string[], readonly: string[] = []): GuestFilesystem => ({ initial: [], writable, readonly, limits: { quotaBytes: 1, maxFiles: 1, maxFileBytes: 1 } });
  it('is /tmp where /tmp is writable, else the first writable prefix, else nothing', () => {
    expect(workingDirFor(fs(['/output', '/tmp']))).toBe('/tmp');
    expect(workingDirFor(fs(['/work', '/output']))).toBe('/work');
    expect(workingDirFor(fs(['/tmp', '/data'], ['/tmp']))).toBe('/data');
    expect(workingDirFor(fs([], ['/data']))).toBeUndefined();
  });
});
