/**
 * The TypeScript stripper in-process: positions are kept exactly, refusals carry the user's line,
 * and a trap of swc's WebAssembly instance (hostile nesting) does not break later strips.
 */
import { describe, expect, it } from 'vitest';
import { MAX_TYPESCRIPT_BYTES, stripTypes } from '../../../src/sandbox/runtimes/typescript.js';

const lines = (s: string) => s.split('\n').map((l) => l.length);

describe('stripTypes', () => {
  it('blanks types in place: same length, same lines, code untouched', () => {
    const src = [
      'import type { A } from "a";',
      'declare const g: number;',
      'function h(this: unknown, k?: number): asserts k {}',
      'abstract class B { abstract m(): void; declare d: string }',
      'const f = <T,>(x: T, y?: number): T => x;',
      'let s: "éé" = "é" as const;',
      'f(s)! satisfies string',
    ].join('\n');
    const r = stripTypes(src);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.code.length).toBe(src.length);
    expect(lines(r.code)).toEqual(lines(src));
    expect(r.code).toContain('const f = ');
    expect(r.code).not.toMatch(/:\s*T|number|unknown|satisfies|as const|import type|declare|abstract|asserts/);
  });

  it('refuses an enum with its line and column', () => {
    const r = stripTypes('let a = 1;\n  enum E { A }');
    expect(r).toMatchObject({ ok: false, code: 'E_GUEST_ERROR', error: { type: 'UnsupportedSyntaxError' } });
    if (r.ok) return;
    expect(r.error.message).toMatch(/enum.*\(line 2\)/);
    expect(r.error.traceback).toMatch(/^ {4}at main\.ts:2:3\n/);
  });

  it('recovers from a trap of the WebAssembly instance', () => {
    // Each overflow leaves swc's shadow stack pointer where it was: without a fresh instance the
    // calls after a few of these all fail.
    for (const depth of [5_000, 50_000, 50_000, 200_000]) {
      const deep = stripTypes(`let v: number = ${'['.repeat(depth)}`);
      expect(deep).toMatchObject({ ok: false, error: { type: 'RangeError', message: expect.stringMatching(/nested too deeply/) } });
      expect(stripTypes('let a: number = 1')).toEqual({ ok: true, code: 'let a         = 1' });
    }
  });

  it('refuses sources above its own size cap before parsing them', () => {
    const r = stripTypes(`let a: number = 1;\n${' '.repeat(MAX_TYPESCRIPT_BYTES)}`);
    expect(r).toMatchObject({ ok: false, code: 'E_INVALID_INPUT', error: { type: 'InputError' } });
  });

  it('strips a large source and still works afterwards (its instance is released)', () => {
    const big = 'let a: number = 1;\n'.repeat(20_000);
    const r = stripTypes(big);
    expect(r.ok && r.code.length === big.length).toBe(true);
    expect(stripTypes('let b: string = "x"')).toEqual({ ok: true, code: 'let b         = "x"' });
  });
});
