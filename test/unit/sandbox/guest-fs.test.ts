import { describe, expect, it } from 'vitest';
import { diffFiles, GuestFs, GuestFsError, MAX_MADE_DIRS } from '../../../src/sandbox/guest-fs.js';
import { CapsuleFilesystemSchema, guestPrefixes } from '../../../src/protocol/guest-filesystem.js';
import type { GuestFilesystem } from '../../../src/sandbox/runtimes/types.js';
import * as frontPaths from '../../../src/front/vfs/paths.js';
import * as sharedPaths from '../../../src/protocol/guest-paths.js';

const enc = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const dec = (b: Uint8Array) => Buffer.from(b).toString('utf8');

function spec(overrides: Partial<GuestFilesystem> = {}, limits: Partial<GuestFilesystem['limits']> = {}): GuestFilesystem {
  return {
    initial: [],
    writable: ['/tmp', '/output'],
    readonly: [],
    limits: { quotaBytes: 1 << 20, maxFiles: 100, maxFileBytes: 1 << 16, ...limits },
    ...overrides,
  };
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(GuestFsError);
    return (e as GuestFsError).code;
  }
  throw new Error('expected a GuestFsError');
}

describe('one canonicalisation for both processes', () => {
  it('the front re-exports the protocol implementation, not a copy', () => {
    expect(frontPaths.canonicalGuestPath).toBe(sharedPaths.canonicalGuestPath);
    expect(frontPaths.isUnder).toBe(sharedPaths.isUnder);
    expect(frontPaths.describePath).toBe(sharedPaths.describePath);
  });
});

describe('GuestFs: reads and writes', () => {
  it('starts with the initial files and reads them back', () => {
    const fs = new GuestFs(spec({ initial: [{ path: '/tmp/a.txt', data: enc('hello'), mtimeMs: 1234 }] }));
    expect(dec(fs.readFile('/tmp/a.txt'))).toBe('hello');
    expect(dec(fs.readFile('tmp//./a.txt'))).toBe('hello');
    expect(fs.stat('/tmp/a.txt')).toEqual({ kind: 'file', size: 5, mtimeMs: 1234 });
    expect(fs.changes()).toEqual([]);
  });

  it('writes, appends and overwrites; the stored bytes are a private copy', () => {
    const fs = new GuestFs(spec());
    const data = enc('one');
    fs.writeFile('/output/x.txt', data);
    data[0] = 0x58;
    expect(dec(fs.readFile('/output/x.txt'))).toBe('one');
    fs.writeFile('/output/x.txt', enc('+two'), { append: true });
    expect(dec(fs.readFile('/output/x.txt'))).toBe('one+two');
    fs.writeFile('/output/x.txt', enc('three'));
    expect(dec(fs.readFile('/output/x.txt'))).toBe('three');
    expect(code(() => fs.writeFile('/output/x.txt', enc('no'), { exclusive: true }))).toBe('EEXIST');
  });

  it('names guest paths only in Node-shaped errors', () => {
    const fs = new GuestFs(spec());
    let err: GuestFsError | undefined;
    try {
      fs.readFile('/tmp/missing.txt');
    } catch (e) {
      err = e as GuestFsError;
    }
    expect(err).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'open', path: '/tmp/missing.txt' });
    expect(err!.message).toBe("ENOENT: no such file or directory, open '/tmp/missing.txt'");
  });

  it('refuses writes outside the writable prefixes and reads outside every prefix with EACCES', () => {
    const fs = new GuestFs(spec({ readonly: ['/data'], initial: [{ path: '/data/ref.txt', data: enc('ref') }] }));
    expect(code(() => fs.writeFile('/etc/x', enc('a')))).toBe('EACCES');
    expect(code(() => fs.writeFile('/data/ref.txt', enc('a')))).toBe('EACCES');
    expect(code(() => fs.writeFile('/data/new.txt', enc('a')))).toBe('EACCES');
    expect(dec(fs.readFile('/data/ref.txt'))).toBe('ref');
    expect(code(() => fs.readFile('/etc/passwd'))).toBe('EACCES');
    expect(code(() => fs.readFile('/output/../etc/passwd'))).toBe('EACCES');
    expect(code(() => fs.writeFile('/output/../etc/passwd', enc('x')))).toBe('EACCES');
    // "/out" is not "/output", and case matters.
    expect(code(() => fs.writeFile('/outputx/a', enc('x')))).toBe('EACCES');
    expect(code(() => fs.writeFile('/Output/a', enc('x')))).toBe('EACCES');
    expect(code(() => fs.rm('/data/ref.txt'))).toBe('EACCES');
    expect(fs.changes()).toEqual([]);
  });

  it('refuses malformed paths with EINVAL or ENAMETOOLONG, never touching anything', () => {
    const fs = new GuestFs(spec());
    expect(code(() => fs.writeFile('/tmp/a\u0000b', enc('x')))).toBe('EINVAL');
    expect(code(() => fs.writeFile('/tmp\\a', enc('x')))).toBe('EINVAL');
    expect(code(() => fs.writeFile('/tmp/\u202eevil', enc('x')))).toBe('EINVAL');
    expect(code(() => fs.writeFile('', enc('x')))).toBe('EINVAL');
    expect(code(() => fs.writeFile(42, enc('x')))).toBe('EINVAL');
    expect(code(() => fs.writeFile(`/tmp/${'a'.repeat(300)}`, enc('x')))).toBe('ENAMETOOLONG');
    expect(code(() => fs.writeFile(`/tmp${'/d'.repeat(40)}`, enc('x')))).toBe('ENAMETOOLONG');
    expect(fs.exists('/tmp/a\u0000b')).toBe(false);
    expect(fs.changes()).toEqual([]);
  });

  it('treats look-alike slashes and encoded dots as ordinary name characters', () => {
    const fs = new GuestFs(spec());
    fs.writeFile('/tmp/%2e%2e', enc('a'));
    fs.writeFile('/tmp/a\uff0fb', enc('b'));
    expect(fs.readdir('/tmp')).toEqual(['%2e%2e', 'a\uff0fb']);
    expect(code(() => fs.writeFile('/etc\u2215passwd', enc('x')))).toBe('EACCES');
  });
});

describe('GuestFs: directories', () => {
  it('shows the prefixes and the way to them, and nothing else outside them', () => {
    const fs = new GuestFs(spec({ readonly: ['/data/ref'] }));
    expect(fs.readdir('/')).toEqual(['data', 'output', 'tmp']);
    expect(fs.readdir('/data')).toEqual(['ref']);
    expect(fs.stat('/').kind).toBe('dir');
    expect(fs.stat('/output').kind).toBe('dir');
    expect(fs.exists('/etc')).toBe(false);
    expect(code(() => fs.readdir('/etc'))).toBe('EACCES');
    expect(code(() => fs.stat('/etc/passwd'))).toBe('EACCES');
    expect(code(() => fs.readFile('/'))).toBe('EISDIR');
    expect(code(() => fs.writeFile('/', enc('x')))).toBe('EACCES');
    expect(code(() => fs.writeFile('/output', enc('x')))).toBe('EISDIR');
  });

  it('mkdir needs an existing parent unless recursive; rm needs recursive for a directory', () => {
    const fs = new GuestFs(spec());
    expect(code(() => fs.mkdir('/tmp/a/b'))).toBe('ENOENT');
    expect(fs.mkdir('/tmp/a/b', { recursive: true })).toBe('/tmp/a');
    expect(fs.mkdir('/tmp/a/b', { recursive: true })).toBeUndefined();
    expect(code(() => fs.mkdir('/tmp/a'))).toBe('EEXIST');
    expect(code(() => fs.mkdir('/etc/x', { recursive: true }))).toBe('EACCES');
    expect(fs.readdir('/tmp/a')).toEqual(['b']);
    expect(code(() => fs.writeFile('/tmp/nodir/x.txt', enc('x')))).toBe('ENOENT');
    fs.writeFile('/tmp/a/b/c.txt', enc('c'));
    expect(code(() => fs.writeFile('/tmp/a/b/c.txt/d', enc('x')))).toBe('ENOTDIR');
    expect(code(() => fs.readFile('/tmp/a/b/c.txt/d'))).toBe('ENOTDIR');
    expect(code(() => fs.readdir('/tmp/a/b/c.txt'))).toBe('ENOTDIR');
    expect(code(() => fs.writeFile('/tmp/a', enc('x')))).toBe('EISDIR');
    expect(code(() => fs.readFile('/tmp/a'))).toBe('EISDIR');
    expect(code(() => fs.rm('/tmp/a'))).toBe('EISDIR');
    expect(code(() => fs.rmdir('/tmp/a'))).toBe('ENOTEMPTY');
    fs.rm('/tmp/a', { recursive: true });
    expect(fs.exists('/tmp/a')).toBe(false);
    expect(code(() => fs.rm('/tmp/a'))).toBe('ENOENT');
    fs.rm('/tmp/a', { force: true });
    expect(fs.readdir('/tmp')).toEqual([]);
  });

  it('keeps a directory when its last file is removed', () => {
    const fs = new GuestFs(spec({ initial: [{ path: '/output/sub/a.txt', data: enc('a') }] }));
    fs.unlink('/output/sub/a.txt');
    expect(fs.stat('/output/sub').kind).toBe('dir');
    fs.writeFile('/output/sub/b.txt', enc('b'));
    expect(fs.readdir('/output/sub')).toEqual(['b.txt']);
  });

  it('never removes a policy prefix, only its contents', () => {
    const fs = new GuestFs(spec({ initial: [{ path: '/output/a.txt', data: enc('a') }] }));
    fs.rm('/output', { recursive: true });
    expect(fs.readdir('/output')).toEqual([]);
    expect(code(() => fs.rmdir('/output'))).toBe('EBUSY');
    expect(code(() => fs.rm('/', { recursive: true }))).toBe('EACCES');
  });

  it('renames files and directories within the writable prefixes', () => {
    const fs = new GuestFs(spec());
    fs.mkdir('/tmp/d/e', { recursive: true });
    fs.writeFile('/tmp/d/e/f.txt', enc('f'));
    fs.rename('/tmp/d', '/output/moved');
    expect(fs.readdir('/output/moved/e')).toEqual(['f.txt']);
    expect(fs.exists('/tmp/d')).toBe(false);
    fs.rename('/output/moved/e/f.txt', '/output/f.txt');
    expect(dec(fs.readFile('/output/f.txt'))).toBe('f');
    expect(code(() => fs.rename('/output/f.txt', '/etc/f.txt'))).toBe('EACCES');
    expect(code(() => fs.rename('/output/moved', '/output/moved/inner'))).toBe('EINVAL');
    expect(code(() => fs.rename('/output', '/tmp/o'))).toBe('EBUSY');
    fs.copyFile('/output/f.txt', '/tmp/g.txt');
    expect(dec(fs.readFile('/tmp/g.txt'))).toBe('f');
  });

  it('bounds how many directories a run can make', () => {
    const fs = new GuestFs(spec());
    for (let i = 0; i < MAX_MADE_DIRS; i++) fs.mkdir(`/tmp/d${i}`);
    expect(code(() => fs.mkdir('/tmp/one-more'))).toBe('ENOSPC');
  });
});

describe('GuestFs: limits', () => {
  it('refuses a file over the per-file limit with EFBIG', () => {
    const fs = new GuestFs(spec({}, { maxFileBytes: 10 }));
    fs.writeFile('/tmp/ok', new Uint8Array(10));
    expect(code(() => fs.writeFile('/tmp/big', new Uint8Array(11)))).toBe('EFBIG');
    expect(code(() => fs.writeFile('/tmp/ok', new Uint8Array(1), { append: true }))).toBe('EFBIG');
    expect(fs.readFile('/tmp/ok').byteLength).toBe(10);
  });

  it('counts the initial files against the quota and the file count', () => {
    const fs = new GuestFs(
      spec({ initial: [{ path: '/tmp/a', data: new Uint8Array(60) }] }, { quotaBytes: 100, maxFiles: 2 }),
    );
    expect(code(() => fs.writeFile('/tmp/b', new Uint8Array(41)))).toBe('ENOSPC');
    fs.writeFile('/tmp/b', new Uint8Array(40));
    expect(code(() => fs.writeFile('/tmp/c', new Uint8Array(0)))).toBe('ENOSPC');
    fs.writeFile('/tmp/a', new Uint8Array(10)); // shrinking is always fine
    fs.writeFile('/tmp/b', new Uint8Array(90));
    expect(fs.usedBytes).toBe(100);
    let message = '';
    try {
      fs.writeFile('/tmp/b', new Uint8Array(91));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^ENOSPC: no space left on device, open '\/tmp\/b' \(the session's file quota is exceeded/);
  });
});

describe('diffFiles / GuestFs.changes', () => {
  it('reports deletions first, then shrinking writes, then growing or new files', () => {
    const fs = new GuestFs(
      spec({
        initial: [
          { path: '/tmp/gone', data: enc('x') },
          { path: '/tmp/shrinks', data: enc('123456') },
          { path: '/tmp/same', data: enc('same') },
          { path: '/tmp/grows', data: enc('1') },
        ],
      }),
    );
    fs.writeFile('/tmp/new', enc('abc'));
    fs.writeFile('/tmp/grows', enc('12345'));
    fs.writeFile('/tmp/shrinks', enc('1'));
    fs.writeFile('/tmp/same', enc('same'));
    fs.rm('/tmp/gone');
    const changes = fs.changes();
    // /tmp/same was written again with its bytes: reported (a re-made output is returned again).
    expect(changes.map((c) => [c.path, c.deleted ?? false])).toEqual([
      ['/tmp/gone', true],
      ['/tmp/shrinks', false],
      ['/tmp/same', false],
      ['/tmp/new', false],
      ['/tmp/grows', false],
    ]);
    expect(dec(changes[3]!.data!)).toBe('abc');
    expect(new GuestFs(spec({ initial: [{ path: '/tmp/untouched', data: enc('u') }] })).changes()).toEqual([]);
    expect(changes.every((c) => c.kind === 'file')).toBe(true);
  });

  it('reports nothing outside the writable prefixes', () => {
    const changes = diffFiles([{ path: '/data/a', data: enc('a') }], [['/etc/x', enc('x')]], { writable: ['/tmp'], readonly: ['/data'] });
    expect(changes).toEqual([]);
  });

  it('a read-only prefix inside a writable one stays read-only', () => {
    const fs = new GuestFs(spec({ writable: ['/tmp'], readonly: ['/tmp/ref'], initial: [{ path: '/tmp/ref/a', data: enc('a') }] }));
    expect(code(() => fs.writeFile('/tmp/ref/a', enc('changed')))).toBe('EACCES');
    expect(code(() => fs.writeFile('/tmp/ref/new', enc('x')))).toBe('EACCES');
    expect(code(() => fs.rm('/tmp/ref/a'))).toBe('EACCES');
    fs.writeFile('/tmp/ok', enc('ok'));
    expect(fs.changes().map((c) => c.path)).toEqual(['/tmp/ok']);
    const diffed = diffFiles([{ path: '/tmp/ref/a', data: enc('a') }], [['/tmp/ref/a', enc('b')]], { writable: ['/tmp'], readonly: ['/tmp/ref'] });
    expect(diffed).toEqual([]);
  });

  it('ignores malformed prefixes and initial files, and works without a spec', () => {
    const fs = new GuestFs({
      initial: [{ path: 'bad\u0000', data: enc('x') }, { path: '/tmp/ok', data: enc('ok') }],
      writable: ['/tmp', '\\evil'],
      readonly: [],
      limits: { quotaBytes: 100, maxFiles: 10, maxFileBytes: 100 },
    });
    expect(fs.fileCount).toBe(1);
    const none = new GuestFs(undefined);
    expect(code(() => none.writeFile('/tmp/x', enc('x')))).toBe('EACCES');
    expect(none.readdir('/')).toEqual([]);
  });
});

describe('CapsuleFilesystemSchema', () => {
  it('accepts the default policy section and maps mounts to prefixes', () => {
    const fs = CapsuleFilesystemSchema.parse({
      writable: ['/tmp', '/output'],
      readonly: ['/ref'],
      mounts: [
        { host: '/srv/a', guest: '/a', mode: 'ro' },
        { host: '/srv/b', guest: '/b', mode: 'rw' },
      ],
      allowBroadMounts: false,
      quotaBytes: 10,
      maxFiles: 2,
      maxFileBytes: 5,
    });
    expect(guestPrefixes(fs)).toEqual({ writable: ['/tmp', '/output', '/b'], readonly: ['/ref', '/a'] });
  });

  it('refuses non-canonical prefixes and missing limits', () => {
    const base = { writable: ['/tmp'], readonly: [], quotaBytes: 1, maxFiles: 1, maxFileBytes: 1 };
    expect(CapsuleFilesystemSchema.safeParse(base).success).toBe(true);
    expect(CapsuleFilesystemSchema.safeParse({ ...base, writable: ['/tmp/'] }).success).toBe(false);
    expect(CapsuleFilesystemSchema.safeParse({ ...base, writable: ['/tmp/../etc'] }).success).toBe(false);
    expect(CapsuleFilesystemSchema.safeParse({ ...base, quotaBytes: undefined }).success).toBe(false);
  });
});
