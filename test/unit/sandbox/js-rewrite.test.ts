import { describe, expect, it } from 'vitest';
import { rewriteRedeclarations, rewriteTopLevelAwait } from '../../../src/sandbox/runtimes/js-rewrite.js';

describe('rewriteRedeclarations', () => {
  it('turns top-level let/const/class into var-style globals, keeping lines', () => {
    const out = rewriteRedeclarations('const a = 1;\nlet {b} = {b: 2};\nclass C {}\nfunction f() { const inner = 1; }')!;
    expect(out).toBe('var   a = 1;\nvar {b} = {b: 2};\nvar C = class C {};\nfunction f() { const inner = 1; }'.replace('var   a', 'var a'));
    expect(out.split('\n')).toHaveLength(4);
  });
  it('ends a rewritten class with a semicolon, so a next line starting with ( [ / or ` stays a statement', () => {
    for (const next of ['(() => 1)()', '[1, 2].length', '/x/.test("x")', '`t`']) {
      const out = rewriteRedeclarations(`class C {}\n${next}`)!;
      expect(out).toBe(`var C = class C {};\n${next}`);
    }
    expect(rewriteRedeclarations('class A {}class B {}')).toBe('var A = class A {};var B = class B {};');
  });
  it('leaves nested declarations and syntax errors alone', () => {
    expect(rewriteRedeclarations('{ const a = 1 }')).toBeUndefined();
    expect(rewriteRedeclarations('const = ;')).toBeUndefined();
  });
});

describe('rewriteTopLevelAwait', () => {
  it('returns undefined without top-level await', () => {
    expect(rewriteTopLevelAwait('async function f() { await 1 }')).toBeUndefined();
  });
  it('wraps the cell, hoists declarations and returns the last expression', () => {
    const out = rewriteTopLevelAwait('const x = await g();\nfunction h() {}\nx + 1')!;
    expect(out.startsWith('var x, h; (async () => { globalThis["h"] = h;')).toBe(true);
    expect(out).toContain('void ((x = await g()));');
    expect(out).toContain('return (x + 1)');
    // Line numbers of the user's code are unchanged.
    expect(out.split('\n').length).toBe(4);
  });
  it('keeps line numbers when a declaration spans lines', () => {
    const source = 'const a = await Promise.resolve(\n1\n);\nconst {\n  b,\n} = { b: 2 };\nclass K {}\n(a + b)';
    const out = rewriteTopLevelAwait(source)!;
    expect(out.split('\n').length).toBe(source.split('\n').length + 1); // + the wrapper's closing line
    expect(out.split('\n')[7]).toBe('return ((a + b));');
    expect(out).toContain('K = class K {};');
  });
  it('handles destructuring and for-await', () => {
    const out = rewriteTopLevelAwait('const {a, b: [c]} = await o;\nfor await (const v of it) {}')!;
    expect(out).toMatch(/^var a, c;/);
    expect(out).toContain('(({a, b: [c]} = await o))');
  });
});
