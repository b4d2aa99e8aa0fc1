import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErrorCode, SandboxError } from '../../../src/protocol/errors.js';
import { FilesystemPolicySchema } from '../../../src/front/policy/filesystem-schema.js';
import {
  decodeInputFile,
  MAX_REPORTED_REJECTIONS,
  mimeTypeFor,
  SessionVfs,
  type GuestChange,
} from '../../../src/front/vfs/store.js';

const client = { by: 'client' } as const;

function vfs(overrides: Record<string, unknown> = {}, now = () => 1000): SessionVfs {
  return new SessionVfs(FilesystemPolicySchema.parse(overrides), { now });
}

function thrown(f: () => unknown): SandboxError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SandboxError);
    return e as SandboxError;
  }
  throw new Error('expected a SandboxError');
}

const bytes = (n: number, fill = 0x61): Buffer => Buffer.alloc(n, fill);

describe('SessionVfs.writeFile / readFile', () => {
  it('writes, reads back a copy, and records size, mtime and sha256', () => {
    const v = vfs();
    const data = Buffer.from('hello');
    expect(v.writeFile('output//greeting.txt', data, client)).toBe('/output/greeting.txt');
    data[0] = 0x58; // the store kept its own copy
    const back = v.readFile('/output/greeting.txt');
    expect(back?.toString()).toBe('hello');
    back![0] = 0x58; // and hands out copies
    expect(v.readFile('/output/greeting.txt')?.toString()).toBe('hello');
    expect(v.stat('/output/greeting.txt')).toEqual({
      path: '/output/greeting.txt',
      size: 5,
      mtimeMs: 1000,
      sha256: createHash('sha256').update('hello').digest('hex'),
    });
    expect(v.readFile('/output/missing')).toBeUndefined();
  });

  it('NFC and NFD names are one file', () => {
    const v = vfs();
    v.writeFile('/tmp/caf\u00e9', Buffer.from('1'), client);
    v.writeFile('/tmp/cafe\u0301', Buffer.from('2'), client);
    expect(v.fileCount).toBe(1);
    expect(v.readFile('/tmp/caf\u00e9')?.toString()).toBe('2');
  });

  it('refuses writes outside writable prefixes, with traversal in any form', () => {
    const v = vfs();
    for (const p of ['/etc/passwd', '/output/../etc/passwd', '../../etc/passwd', '/outputs/x', '/Output/x', '/x']) {
      const e = thrown(() => v.writeFile(p, Buffer.from('x'), client));
      expect(e.code).toBe(ErrorCode.POLICY_DENIED);
      expect(e.message).toMatch(/writable: \/tmp, \/output/);
    }
    expect(v.fileCount).toBe(0);
  });

  it('refuses writes to readonly paths and read-only mounts', () => {
    const v = vfs({ readonly: ['/data'], mounts: [{ host: '/srv', guest: '/mnt' }] });
    expect(thrown(() => v.writeFile('/data/x', Buffer.from('x'), client)).code).toBe(ErrorCode.POLICY_DENIED);
    expect(thrown(() => v.writeFile('/mnt/x', Buffer.from('x'), { by: 'guest' })).code).toBe(ErrorCode.POLICY_DENIED);
  });

  it('allows writes to rw mounts', () => {
    const v = vfs({ mounts: [{ host: '/srv', guest: '/mnt', mode: 'rw' }] });
    expect(v.writeFile('/mnt/x', Buffer.from('x'), client)).toBe('/mnt/x');
  });

  it('keeps the percent-encoded name literally, inside /output', () => {
    const v = vfs();
    expect(v.writeFile('/output/%2e%2e/%2e%2e/etc/passwd', Buffer.from('x'), client)).toBe(
      '/output/%2e%2e/%2e%2e/etc/passwd',
    );
  });

  it('refuses malformed paths as invalid input', () => {
    const v = vfs();
    for (const p of ['/tmp/a\u0000', '/tmp/a\\b', '/tmp/\u202ex', '']) {
      expect(thrown(() => v.writeFile(p, Buffer.from('x'), client)).code).toBe(ErrorCode.INVALID_INPUT);
    }
  });

  it('a path is never both a file and a directory; policy prefixes are directories', () => {
    const v = vfs();
    v.writeFile('/tmp/a', Buffer.from('file'), client);
    expect(thrown(() => v.writeFile('/tmp/a/b', Buffer.from('x'), client)).message).toMatch(/is a file/);
    v.writeFile('/tmp/d/x', Buffer.from('x'), client);
    expect(thrown(() => v.writeFile('/tmp/d', Buffer.from('x'), client)).message).toMatch(/is a directory/);
    expect(thrown(() => v.writeFile('/output', Buffer.from('x'), client)).message).toMatch(/is a directory/);
    expect(thrown(() => v.writeFile('/output/', Buffer.from('x'), client)).message).toMatch(/is a directory/);
  });
});

describe('SessionVfs limits', () => {
  it('per-file size: refused, with the numbers', () => {
    const v = vfs({ maxFileBytes: 10 });
    v.writeFile('/tmp/ok', bytes(10), client);
    const e = thrown(() => v.writeFile('/tmp/big', bytes(11), client));
    expect(e.code).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(e.message).toMatch(/11 bytes.*limit per file is 10/);
  });

  it('quota exceeded leaves existing files intact', () => {
    const v = vfs({ quotaBytes: 100 });
    v.writeFile('/tmp/a', bytes(60, 0x41), client);
    v.writeFile('/tmp/b', bytes(30, 0x42), client);
    const e = thrown(() => v.writeFile('/tmp/c', bytes(11), client));
    expect(e.code).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(e.message).toMatch(/101 bytes.*quota is 100 bytes \(90 in use\)/);
    // overwriting an existing file with a larger one: refused, old content kept
    expect(thrown(() => v.writeFile('/tmp/a', bytes(71), client)).code).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(v.readFile('/tmp/a')).toEqual(bytes(60, 0x41));
    expect(v.readFile('/tmp/b')).toEqual(bytes(30, 0x42));
    expect(v.readFile('/tmp/c')).toBeUndefined();
    expect(v.usedBytes).toBe(90);
    expect(v.fileCount).toBe(2);
    // exactly at the quota is fine; replacing counts only the difference
    v.writeFile('/tmp/a', bytes(70), client);
    expect(v.usedBytes).toBe(100);
  });

  it('file count limit', () => {
    const v = vfs({ maxFiles: 3 });
    for (const n of [1, 2, 3]) v.writeFile(`/tmp/f${n}`, bytes(1), client);
    const e = thrown(() => v.writeFile('/tmp/f4', bytes(1), client));
    expect(e.code).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(e.message).toMatch(/3 files; the limit is 3/);
    v.writeFile('/tmp/f1', bytes(2), client); // replacing is not a new file
    expect(v.fileCount).toBe(3);
    v.remove('/tmp/f2');
    v.writeFile('/tmp/f4', bytes(1), client);
    expect(v.fileCount).toBe(3);
  });

  it('writeFiles is all-or-nothing', () => {
    const v = vfs({ quotaBytes: 10 });
    v.writeFile('/tmp/keep', bytes(2, 0x4b), client);
    const e = thrown(() =>
      v.writeFiles(
        [
          { path: '/tmp/keep', data: bytes(3) },
          { path: '/tmp/new1', data: bytes(3) },
          { path: '/tmp/new2', data: bytes(5) },
        ],
        client,
      ),
    );
    expect(e.code).toBe(ErrorCode.QUOTA_EXCEEDED);
    expect(v.list().map((f) => f.path)).toEqual(['/tmp/keep']);
    expect(v.readFile('/tmp/keep')).toEqual(bytes(2, 0x4b));
    expect(v.usedBytes).toBe(2);
    expect(v.writeFiles([{ path: 'tmp/x', data: bytes(1) }, { path: '/output/y', data: bytes(1) }], client)).toEqual([
      '/tmp/x',
      '/output/y',
    ]);
  });
});

describe('SessionVfs list / remove / snapshot', () => {
  it('lists by prefix on / boundaries, sorted', () => {
    const v = vfs({ writable: ['/out', '/outside'] });
    v.writeFile('/outside/z', bytes(1), client);
    v.writeFile('/out/b', bytes(1), client);
    v.writeFile('/out/a/c', bytes(2), client);
    expect(v.list('/out').map((f) => f.path)).toEqual(['/out/a/c', '/out/b']);
    expect(v.list().map((f) => f.path)).toEqual(['/out/a/c', '/out/b', '/outside/z']);
  });

  it('removes a file or a directory of files, only where writable', () => {
    const v = vfs();
    v.writeFile('/tmp/d/a', bytes(1), client);
    v.writeFile('/tmp/d/b', bytes(1), client);
    v.writeFile('/tmp/e', bytes(1), client);
    expect(v.remove('/tmp/e')).toBe(1);
    expect(v.remove('/tmp/d')).toBe(2);
    expect(v.remove('/tmp/none')).toBe(0);
    expect(v.fileCount).toBe(0);
    expect(thrown(() => v.remove('/etc/passwd')).code).toBe(ErrorCode.POLICY_DENIED);
  });

  it('snapshot hands out sorted copies', () => {
    const v = vfs();
    v.writeFile('/tmp/b', Buffer.from('b'), client);
    v.writeFile('/output/a', Buffer.from('a'), client);
    const snap = v.snapshot();
    expect(snap.map((f) => [f.path, f.data.toString()])).toEqual([
      ['/output/a', 'a'],
      ['/tmp/b', 'b'],
    ]);
    snap[0]!.data[0] = 0x7a;
    expect(v.readFile('/output/a')?.toString()).toBe('a');
  });
});

describe('SessionVfs.applyGuestChanges (hostile input)', () => {
  const file = (path: string, data: string | Buffer): GuestChange => ({
    path,
    kind: 'file',
    data: typeof data === 'string' ? Buffer.from(data) : data,
  });

  it('accepts writable changes and reports them', () => {
    const v = vfs();
    const r = v.applyGuestChanges([file('/output/a.txt', 'A'), file('/tmp//b', 'BB')]);
    expect(r.changed).toEqual([
      { path: '/output/a.txt', size: 1 },
      { path: '/tmp/b', size: 2 },
    ]);
    expect(r.rejected).toEqual([]);
    expect(v.readFile('/tmp/b')?.toString()).toBe('BB');
  });

  it('ignores symlinks and other kinds, and reports them', () => {
    const v = vfs();
    const r = v.applyGuestChanges([
      { path: '/output/link', kind: 'symlink', data: Buffer.from('/etc/passwd') },
      { path: '/output/dev', kind: 'other' },
    ]);
    expect(r.changed).toEqual([]);
    expect(r.rejected.map((x) => x.path)).toEqual(['/output/link', '/output/dev']);
    expect(r.rejected[0]!.reason).toMatch(/symlink/);
    expect(v.fileCount).toBe(0);
  });

  it('refuses (without throwing) traversal, readonly and malformed paths', () => {
    const v = vfs({ readonly: ['/data'] });
    const r = v.applyGuestChanges([
      file('/output/../etc/passwd', 'x'),
      file('/../../root/.ssh/authorized_keys', 'x'),
      file('/data/x', 'x'),
      file('/outside', 'x'),
      file('/output/a\u0000b', 'x'),
      file('/output/\u202etxt.exe', 'x'),
      file('/output\\x', 'x'),
      { path: 42 as unknown as string, kind: 'file', data: Buffer.from('x') },
      null as unknown as GuestChange,
      { path: '/output/nodata', kind: 'file' },
      { path: '/output/str', kind: 'file', data: 'not bytes' as unknown as Buffer },
      file('/output/ok', 'fine'),
    ]);
    expect(r.changed).toEqual([{ path: '/output/ok', size: 4 }]);
    expect(r.rejectedCount).toBe(11);
    expect(r.rejected.slice(0, 3).map((x) => x.path)).toEqual(['/etc/passwd', '/root/.ssh/authorized_keys', '/data/x']);
    for (const x of r.rejected) expect(`${x.path} ${x.reason}`).not.toMatch(/[\u0000\u202e]/);
    expect(v.list().map((f) => f.path)).toEqual(['/output/ok']);
  });

  it('never exceeds the quota; refuses per file and keeps existing files', () => {
    const v = vfs({ quotaBytes: 10, maxFileBytes: 8 });
    v.writeFile('/tmp/keep', bytes(4, 0x4b), client);
    const r = v.applyGuestChanges([
      file('/output/a', bytes(3)),
      file('/output/too-big', bytes(9)),
      file('/output/b', bytes(4)),
      file('/output/c', bytes(3)),
    ]);
    expect(r.changed.map((c) => c.path)).toEqual(['/output/a', '/output/c']);
    expect(r.rejected.map((c) => c.path)).toEqual(['/output/too-big', '/output/b']);
    expect(r.rejected[0]!.reason).toMatch(/limit per file is 8/);
    expect(r.rejected[1]!.reason).toMatch(/quota is 10/);
    expect(v.usedBytes).toBe(10);
    expect(v.readFile('/tmp/keep')).toEqual(bytes(4, 0x4b));
  });

  it('never exceeds the file count', () => {
    const v = vfs({ maxFiles: 2 });
    const r = v.applyGuestChanges([file('/tmp/1', 'x'), file('/tmp/2', 'x'), file('/tmp/3', 'x')]);
    expect(r.changed).toHaveLength(2);
    expect(r.rejected[0]!.reason).toMatch(/limit is 2/);
    expect(v.fileCount).toBe(2);
  });

  it('applies deletions first, so freed space can be reused', () => {
    const v = vfs({ quotaBytes: 10 });
    v.writeFile('/tmp/old', bytes(8), client);
    const r = v.applyGuestChanges([file('/tmp/new', bytes(8)), { path: '/tmp/old', kind: 'file', deleted: true }]);
    expect(r.deleted).toEqual(['/tmp/old']);
    expect(r.changed).toEqual([{ path: '/tmp/new', size: 8 }]);
    expect(v.list().map((f) => f.path)).toEqual(['/tmp/new']);
  });

  it('a deleted directory drops its files; deletions outside writable paths are refused', () => {
    const v = vfs({ readonly: ['/data'] });
    v.writeFile('/output/d/a', bytes(1), client);
    v.writeFile('/output/d/b', bytes(1), client);
    const r = v.applyGuestChanges([
      { path: '/output/d', kind: 'other', deleted: true },
      { path: '/data/x', kind: 'file', deleted: true },
      { path: '/', kind: 'other', deleted: true },
    ]);
    expect(r.deleted).toEqual(['/output/d/a', '/output/d/b']);
    expect(r.rejected.map((x) => x.path)).toEqual(['/data/x', '/']);
  });

  it('the last entry for a path is its final state; a file reported with its same content was written again, and is returned', () => {
    const v = vfs();
    v.writeFile('/output/same', Buffer.from('same'), client);
    const r = v.applyGuestChanges([
      file('/output/x', '1'),
      file('/output//x', '22'),
      file('/output/same', 'same'),
      file('/output/gone', 'g'),
      { path: '/output/gone', kind: 'file', deleted: true },
    ]);
    expect(r.changed).toEqual([
      { path: '/output/x', size: 2 },
      { path: '/output/same', size: 4 },
    ]);
    expect(v.readFile('/output/x')?.toString()).toBe('22');
    expect(v.readFile('/output/same')?.toString()).toBe('same');
    expect(v.readFile('/output/gone')).toBeUndefined();
  });

  it('bounds the rejection report', () => {
    const v = vfs();
    const many = Array.from({ length: 500 }, (_, i) => file(`/etc/f${i}`, 'x'));
    const r = v.applyGuestChanges(many);
    expect(r.rejected).toHaveLength(MAX_REPORTED_REJECTIONS);
    expect(r.rejectedCount).toBe(500);
  });

  it('survives input that is not an array', () => {
    const v = vfs();
    const r = v.applyGuestChanges({ length: 1 } as unknown as GuestChange[]);
    expect(r.changed).toEqual([]);
    expect(r.rejectedCount).toBe(1);
  });
});

describe('decodeInputFile', () => {
  it('defaults to utf8 and canonicalises the path', () => {
    expect(decodeInputFile({ path: 'tmp/a.txt', content: 'h\u00e9' })).toEqual({
      path: '/tmp/a.txt',
      data: Buffer.from('h\u00e9', 'utf8'),
    });
  });
  it('decodes strict base64', () => {
    const data = Buffer.from([0, 1, 2, 253, 254, 255]);
    expect(decodeInputFile({ path: '/tmp/b', content: data.toString('base64'), encoding: 'base64' }).data).toEqual(data);
    expect(decodeInputFile({ path: '/tmp/e', content: '', encoding: 'base64' }).data).toHaveLength(0);
    expect(decodeInputFile({ path: '/tmp/p', content: 'YQ==', encoding: 'base64' }).data.toString()).toBe('a');
  });
  it('decodes a file of 16 MiB, the default policy\'s largest, without overflowing the stack', () => {
    const data = Buffer.alloc(16 * 1024 * 1024, 0xa5);
    data[data.length - 1] = 1;
    const decoded = decodeInputFile({ path: '/tmp/big', content: data.toString('base64'), encoding: 'base64' }).data;
    expect(decoded.equals(data)).toBe(true);
    const odd = data.subarray(0, data.length - 1);
    expect(decodeInputFile({ path: '/tmp/odd', content: odd.toString('base64'), encoding: 'base64' }).data.equals(odd)).toBe(true);
  });
  it.each([
    ['YQ', /multiple of 4/],
    ['Y Q==', /whitespace/],
    ['YQ==\n', /whitespace/],
    ['a-_b', /URL-safe/],
    ['YQ=a', /padding/],
    ['=YQ=', /padding/],
    ['Y===', /padding/],
    ['YQ==YQ==', /padding/],
    ['YR==', /unused bits/],
    ['aGVsbG8*', /outside the base64 alphabet/],
    ['not base64!', /.+/],
  ])('refuses %j', (content, message) => {
    const e = thrown(() => decodeInputFile({ path: '/tmp/x.bin', content, encoding: 'base64' }));
    expect(e.code).toBe(ErrorCode.INVALID_INPUT);
    expect(e.message).toMatch(/"\/tmp\/x.bin" is not valid base64/);
    expect(e.message).toMatch(message);
  });
  it('refuses an unknown encoding and bad paths', () => {
    expect(
      thrown(() => decodeInputFile({ path: '/tmp/x', content: 'x', encoding: 'hex' as unknown as 'utf8' })).message,
    ).toMatch(/must be "utf8" or "base64"/);
    expect(thrown(() => decodeInputFile({ path: '/tmp/\u0000', content: 'x' })).code).toBe(ErrorCode.INVALID_INPUT);
  });
});

describe('mimeTypeFor', () => {
  it.each([
    ['/output/a.png', 'image/png'],
    ['/output/a.JPG', 'image/jpeg'],
    ['/output/a.jpeg', 'image/jpeg'],
    ['/output/a.gif', 'image/gif'],
    ['/output/a.svg', 'image/svg+xml'],
    ['/output/a.webp', 'image/webp'],
    ['/output/a.json', 'application/json'],
    ['/output/a.csv', 'text/csv'],
    ['/output/a.txt', 'text/plain'],
    ['/output/a.html', 'text/html'],
    ['/output/a.md', 'text/markdown'],
    ['/output/a.pdf', 'application/pdf'],
    ['/output/a.tar.gz', 'application/octet-stream'],
    ['/output/noext', 'application/octet-stream'],
    ['/output/.png', 'application/octet-stream'],
    ['/output.png/data', 'application/octet-stream'],
  ])('%s → %s', (p, type) => {
    expect(mimeTypeFor(p)).toBe(type);
  });
});
