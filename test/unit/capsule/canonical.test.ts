import { describe, expect, it } from 'vitest';
import { canonicalJson, capsuleId, sha256Hex } from '../../../src/protocol/capsule.js';
import type { JsonValue } from '../../../src/protocol/json.js';

describe('canonicalJson (RFC 8785)', () => {
  it('sorts object keys by UTF-16 code units, recursively, with no whitespace', () => {
    const value = { b: 1, a: { d: [3, { z: true, y: null }], c: 'x' }, A: false };
    expect(canonicalJson(value)).toBe('{"A":false,"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
  });

  it('orders non-ASCII keys by UTF-16 code units, not code points (RFC 8785 §3.2.3 example)', () => {
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB33 in UTF-16 order
    // although its code point is larger.
    const value: Record<string, string> = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // (Object.keys cannot show this order: it lists integer-like keys such as "1" first.)
    expect(canonicalJson(value)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control",' +
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
        '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('serializes strings as JSON.stringify does: short escapes, lowercase \\u00XX, raw non-ASCII', () => {
    const s = '\u20ac$\u000f\nA\'B"\\\\"/';
    expect(canonicalJson(s)).toBe('"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"');
    expect(canonicalJson('héllo wörld ✓ 😀')).toBe('"héllo wörld ✓ 😀"');
    expect(canonicalJson('\u2028\u2029')).toBe('"\u2028\u2029"');
    // A lone surrogate cannot be encoded as UTF-8, so it is escaped (well-formed JSON.stringify).
    expect(canonicalJson('a\ud800b')).toBe('"a\\ud800b"');
  });

  it('writes numbers in ECMAScript shortest round-trip form (RFC 8785 Appendix B values)', () => {
    const cases: Array<[number, string]> = [
      [0, '0'],
      [-0, '0'],
      [1, '1'],
      [-1, '-1'],
      [4.5, '4.5'],
      [0.002, '0.002'],
      [1e30, '1e+30'],
      [1e-7, '1e-7'],
      [0.000001, '0.000001'],
      [1e-27, '1e-27'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
      [9007199254740992, '9007199254740992'],
      [295147905179352830000, '295147905179352830000'],
      [333333333.3333333, '333333333.3333333'],
      [0.1 + 0.2, '0.30000000000000004'],
    ];
    for (const [n, text] of cases) expect(canonicalJson(n)).toBe(text);
    expect(canonicalJson([4.5, 1e21, -0])).toBe('[4.5,1e+21,0]');
  });

  it('accepts null-prototype objects and empty containers', () => {
    const o = Object.create(null) as Record<string, JsonValue>;
    o['b'] = [];
    o['a'] = {};
    expect(canonicalJson(o)).toBe('{"a":{},"b":[]}');
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson(true)).toBe('true');
  });

  it('rejects non-finite numbers', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson(Number.POSITIVE_INFINITY)).toThrow(/non-finite/);
    expect(() => canonicalJson({ a: [1, Number.NEGATIVE_INFINITY] })).toThrow(/non-finite/);
  });

  it('rejects undefined, functions, symbols and bigints anywhere', () => {
    const bad: unknown[] = [
      undefined,
      { a: undefined },
      [1, undefined],
      () => 1,
      { f: function named() {} },
      Symbol('s'),
      { n: 10n },
    ];
    for (const v of bad) expect(() => canonicalJson(v as JsonValue)).toThrow(TypeError);
  });

  it('rejects non-plain objects, holes, cycles and __proto__ keys', () => {
    class Thing {
      x = 1;
    }
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3];
    const bad: unknown[] = [
      new Date(0),
      new Map([['a', 1]]),
      new Thing(),
      new String('boxed'),
      new Uint8Array(2),
      { nested: { when: new Date(0) } },
      sparse,
      cyclic,
      JSON.parse('{"__proto__":{"polluted":true}}'),
    ];
    for (const v of bad) expect(() => canonicalJson(v as JsonValue)).toThrow(TypeError);
    expect(() => canonicalJson(cyclic as JsonValue)).toThrow(/cyclic/);
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
  });

  it('round-trips: canonicalJson(JSON.parse(canonicalJson(x))) is stable', () => {
    const x = { z: [1.5, 'ü', { b: null, a: [true, false] }], y: -0.0001, 'é': 'e' };
    const once = canonicalJson(x);
    expect(canonicalJson(JSON.parse(once) as JsonValue)).toBe(once);
  });
});

describe('hash helpers', () => {
  it('sha256Hex hashes strings as UTF-8 and bytes as is', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new Uint8Array([0x61, 0x62, 0x63]))).toBe(sha256Hex('abc'));
    expect(sha256Hex('é')).toBe(sha256Hex(new Uint8Array([0xc3, 0xa9])));
  });

  it('capsuleId is the lowercase hex SHA-256 of the body text', () => {
    expect(capsuleId('{"a":1}')).toBe(sha256Hex('{"a":1}'));
    expect(capsuleId('{"a":1}')).toMatch(/^[0-9a-f]{64}$/);
  });
});
