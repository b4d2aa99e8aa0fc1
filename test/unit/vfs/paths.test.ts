import { describe, expect, it } from 'vitest';
import { ErrorCode, SandboxError } from '../../../src/protocol/errors.js';
import {
  accessFor,
  canonicalGuestPath,
  describePath,
  isUnder,
  MAX_PATH_DEPTH,
  tryCanonicalGuestPath,
} from '../../../src/front/vfs/paths.js';
import { FilesystemPolicySchema } from '../../../src/front/policy/filesystem-schema.js';

function refusal(p: unknown): SandboxError {
  try {
    canonicalGuestPath(p);
  } catch (e) {
    expect(e).toBeInstanceOf(SandboxError);
    expect((e as SandboxError).code).toBe(ErrorCode.INVALID_INPUT);
    return e as SandboxError;
  }
  throw new Error(`expected ${JSON.stringify(p)} to be refused`);
}

describe('canonicalGuestPath: traversal', () => {
  it.each([
    ['..', '/'],
    ['../..', '/'],
    ['../etc/passwd', '/etc/passwd'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/output/../etc', '/etc'],
    ['/output/a/../../etc/passwd', '/etc/passwd'],
    ['/output/a/..', '/output'],
    ['/output/a/../', '/output'],
    ['/output/./a/./b', '/output/a/b'],
    ['////output//x', '/output/x'],
    ['/output/x/', '/output/x'],
    ['/tmp/a/b/../../../../../../tmp/c', '/tmp/c'],
    ['/', '/'],
    ['.', '/'],
    ['/...', '/...'],
    ['/output/..a', '/output/..a'],
    ['/output/a..', '/output/a..'],
  ])('%s → %s', (input, expected) => {
    expect(canonicalGuestPath(input)).toBe(expected);
  });

  it('never goes above the root, however many ..', () => {
    expect(canonicalGuestPath(`/${'../'.repeat(500)}etc/shadow`)).toBe('/etc/shadow');
  });

  it('is idempotent', () => {
    for (const p of ['/output/x', '/a/b/c', '/', '/%2e%2e/x', '/caf\u00e9']) {
      expect(canonicalGuestPath(canonicalGuestPath(p))).toBe(canonicalGuestPath(p));
    }
  });
});

describe('canonicalGuestPath: absolute vs relative', () => {
  it('resolves relative paths against /', () => {
    expect(canonicalGuestPath('output/a.txt')).toBe('/output/a.txt');
    expect(canonicalGuestPath('./tmp/x')).toBe('/tmp/x');
    expect(canonicalGuestPath('tmp')).toBe('/tmp');
  });
  it('keeps absolute paths', () => {
    expect(canonicalGuestPath('/output/a.txt')).toBe('/output/a.txt');
  });
});

describe('canonicalGuestPath: no decoding, look-alikes are names', () => {
  it('keeps %2e%2e literally, inside its parent', () => {
    expect(canonicalGuestPath('/output/%2e%2e/%2e%2e/etc')).toBe('/output/%2e%2e/%2e%2e/etc');
    expect(canonicalGuestPath('/output/%2E%2E%2Fetc')).toBe('/output/%2E%2E%2Fetc');
    expect(canonicalGuestPath('/output/..%2f..%2fetc')).toBe('/output/..%2f..%2fetc');
    expect(isUnder(canonicalGuestPath('/output/%2e%2e'), '/output')).toBe(true);
  });
  it('treats fullwidth solidus and division slash as ordinary characters', () => {
    const fw = canonicalGuestPath('/output/..\uff0f..\uff0fetc');
    expect(fw).toBe('/output/..\uff0f..\uff0fetc');
    expect(fw.split('/')).toHaveLength(3);
    const ds = canonicalGuestPath('/output/..\u2215etc');
    expect(ds).toBe('/output/..\u2215etc');
    expect(isUnder(ds, '/output')).toBe(true);
    // one-dot leader / two-dot leader are not dots
    expect(canonicalGuestPath('/output/\u2024\u2024/x')).toBe('/output/\u2024\u2024/x');
    expect(canonicalGuestPath('/output/\u2025/x')).toBe('/output/\u2025/x');
  });
  it('NFC and NFD spellings are the same path', () => {
    const nfc = '/output/caf\u00e9.txt';
    const nfd = '/output/cafe\u0301.txt';
    expect(nfc).not.toBe(nfd);
    expect(canonicalGuestPath(nfd)).toBe(canonicalGuestPath(nfc));
    expect(canonicalGuestPath(nfd)).toBe(nfc);
  });
  it('keeps astral characters (well-formed surrogate pairs)', () => {
    expect(canonicalGuestPath('/output/\u{1F600}.txt')).toBe('/output/\u{1F600}.txt');
  });
});

describe('canonicalGuestPath: refused characters', () => {
  it.each([
    ['NUL', '/output/a\u0000b', /NUL/],
    ['newline', '/output/a\nb', /control/],
    ['carriage return', '/output/a\rb', /control/],
    ['tab', '/output/a\tb', /control/],
    ['escape', '/output/\u001b[31m', /control/],
    ['DEL', '/output/a\u007fb', /control/],
    ['C1 NEL', '/output/a\u0085b', /control/],
    ['C1 CSI', '/output/a\u009bb', /control/],
    ['line separator', '/output/a\u2028b', /control/],
  ])('refuses %s', (_name, p, message) => {
    expect(refusal(p).message).toMatch(message);
  });

  it.each(['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'])(
    'refuses bidi character U+%s',
    (c) => {
      expect(refusal(`/output/evil${c}txt.exe`).message).toMatch(/bidirectional/);
    },
  );

  it('refuses backslashes in every position', () => {
    for (const p of ['\\output\\x', '/output\\..\\..\\etc', '/output/a\\b', 'C:\\Windows']) {
      expect(refusal(p).message).toMatch(/backslash/);
    }
  });

  it('refuses unpaired surrogates', () => {
    expect(refusal('/output/a\ud800b').message).toMatch(/surrogate/);
    expect(refusal('/output/a\udc00').message).toMatch(/surrogate/);
  });

  it('refuses non-strings and the empty string', () => {
    for (const p of [undefined, null, 42, {}, ['/output'], Buffer.from('/output')]) {
      expect(refusal(p).message).toMatch(/must be a string/);
    }
    expect(refusal('').message).toMatch(/empty/);
  });

  it('does not echo raw control or bidi characters in its message', () => {
    const m = refusal('/output/\u202eevil\u0000').message;
    expect(m).not.toMatch(/[\u0000\u202e]/);
    expect(m).toContain('\\u202e');
  });
});

describe('canonicalGuestPath: limits', () => {
  it('accepts a 255-byte segment and refuses 256', () => {
    expect(canonicalGuestPath(`/tmp/${'a'.repeat(255)}`)).toHaveLength(5 + 255);
    expect(refusal(`/tmp/${'a'.repeat(256)}`).message).toMatch(/segment is 256 bytes/);
  });
  it('counts segment length in UTF-8 bytes', () => {
    // é is 2 bytes: 127 × 2 = 254 fits, 128 × 2 = 256 does not
    expect(() => canonicalGuestPath(`/tmp/${'\u00e9'.repeat(127)}`)).not.toThrow();
    expect(refusal(`/tmp/${'\u00e9'.repeat(128)}`).message).toMatch(/segment is 256 bytes/);
  });
  it('refuses more than 32 levels', () => {
    const ok = `/${Array.from({ length: MAX_PATH_DEPTH }, () => 'd').join('/')}`;
    expect(canonicalGuestPath(ok)).toBe(ok);
    expect(refusal(`${ok}/d`).message).toMatch(/33 levels deep/);
  });
  it('measures depth after resolving ..', () => {
    const deepThenBack = `/${Array.from({ length: 40 }, () => 'd').join('/')}${'/..'.repeat(10)}`;
    expect(canonicalGuestPath(deepThenBack).split('/').length - 1).toBe(30);
  });
  it('refuses a path over 1024 bytes', () => {
    const seg = 'x'.repeat(200);
    const p = `/${[seg, seg, seg, seg, seg, seg].join('/')}`; // 1206 bytes
    expect(refusal(p).message).toMatch(/1206 bytes.*1024/);
  });
  it('refuses absurdly long input before doing any work', () => {
    expect(refusal('/'.repeat(5000)).message).toMatch(/longer than/);
  });
});

describe('isUnder', () => {
  it('compares on / boundaries', () => {
    expect(isUnder('/out', '/out')).toBe(true);
    expect(isUnder('/out/x', '/out')).toBe(true);
    expect(isUnder('/outside', '/out')).toBe(false);
    expect(isUnder('/outside/x', '/out')).toBe(false);
    expect(isUnder('/ou', '/out')).toBe(false);
    expect(isUnder('/anything', '/')).toBe(true);
    expect(isUnder('/', '/')).toBe(true);
  });
  it('is case-sensitive', () => {
    expect(isUnder('/Output/x', '/output')).toBe(false);
    expect(isUnder('/OUTPUT', '/output')).toBe(false);
  });
});

describe('accessFor', () => {
  const policy = FilesystemPolicySchema.parse({
    readonly: ['/data', '/output/ref'],
    writable: ['/tmp', '/out'],
    mounts: [
      { host: '/srv/a', guest: '/mnt/ro' },
      { host: '/srv/b', guest: '/mnt/rw', mode: 'rw' },
      { host: '/srv/c', guest: '/mnt/ro/inner', mode: 'rw' },
    ],
  });
  it.each([
    ['/tmp/x', 'write'],
    ['/out/a/b', 'write'],
    ['/outside/a', 'none'],
    ['/Out/a', 'none'],
    ['/data/x', 'read'],
    ['/mnt/ro/x', 'read'],
    ['/mnt/rw/x', 'write'],
    ['/mnt/ro/inner/x', 'write'],
    ['/mnt', 'none'],
    ['/etc/passwd', 'none'],
    ['/', 'none'],
  ] as const)('%s → %s', (p, access) => {
    expect(accessFor(p, policy)).toBe(access);
  });
  it('the deepest prefix decides; the same prefix both ways is read-only', () => {
    const p = FilesystemPolicySchema.parse({
      writable: ['/a', '/r/w', '/both'],
      readonly: ['/a/b', '/r', '/m', '/both'],
      mounts: [
        { host: '/srv', guest: '/m', mode: 'rw' },
        { host: '/srv/ref', guest: '/tmp/ref', mode: 'ro' },
        { host: '/srv/rw', guest: '/data', mode: 'rw' },
        { host: '/srv/rw/ro', guest: '/data/ro', mode: 'ro' },
      ],
      allowBroadMounts: true,
    });
    expect(accessFor('/a/x', p)).toBe('write');
    expect(accessFor('/a/b', p)).toBe('read');
    expect(accessFor('/a/b/c', p)).toBe('read'); // read-only inside writable
    expect(accessFor('/a/bc', p)).toBe('write');
    expect(accessFor('/r/x', p)).toBe('read');
    expect(accessFor('/r/w/x', p)).toBe('write'); // writable inside read-only
    expect(accessFor('/both/x', p)).toBe('read');
    expect(accessFor('/m/x', p)).toBe('read');
    expect(accessFor('/tmp/ref/x', FilesystemPolicySchema.parse({ mounts: [{ host: '/srv/ref', guest: '/tmp/ref' }] }))).toBe('read'); // ro mount inside /tmp
    expect(accessFor('/data/x', p)).toBe('write');
    expect(accessFor('/data/ro/x', p)).toBe('read'); // ro mount inside an rw mount
  });
  it('with the default policy: /tmp and /output only', () => {
    const d = FilesystemPolicySchema.parse({});
    expect(accessFor('/tmp/a', d)).toBe('write');
    expect(accessFor('/output/a', d)).toBe('write');
    expect(accessFor('/outputs/a', d)).toBe('none');
    expect(accessFor(canonicalGuestPath('/output/../etc/passwd'), d)).toBe('none');
    expect(accessFor(canonicalGuestPath('////output//x'), d)).toBe('write');
  });
});

describe('helpers', () => {
  it('tryCanonicalGuestPath returns undefined for malformed paths', () => {
    expect(tryCanonicalGuestPath('/a\u0000')).toBeUndefined();
    expect(tryCanonicalGuestPath('a//b')).toBe('/a/b');
  });
  it('describePath escapes and shortens', () => {
    expect(describePath('/a\nb')).toBe('"/a\\u000ab"');
    expect(describePath('x'.repeat(500))).toMatch(/…" \(500 characters\)$/);
    expect(describePath(7)).toBe('<number>');
  });
});
