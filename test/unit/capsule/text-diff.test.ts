/**
 * The shipped text_diff capsule's algorithm, run in a plain node:vm context (the code is guest code: it
 * reads the global `input` and its completion value is the result). What a user relies on: the unified
 * diff, applied to `a`, gives `b`; the counts are the shortest edit's wherever the search stays under its
 * cost cap; and texts that differ a lot still finish (the e2e registry test runs them in QuickJS, under
 * the default memory limit).
 */
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { REGISTRY_DIR } from '../../../src/front/capsule/registry.js';

interface DiffResult {
  unified: string;
  added: number;
  removed: number;
  identical: boolean;
}

const script = new vm.Script(fs.readFileSync(path.join(REGISTRY_DIR, 'src', 'text_diff.js'), 'utf8'));
const diff = (input: Record<string, unknown>): DiffResult => script.runInNewContext({ input }) as DiffResult;

/** Apply a unified diff to the lines of `a`, checking every context and removed line against them. */
function patch(a: string[], unified: string): string[] {
  if (unified === '') return a.slice();
  const lines = unified.replace(/\n$/, '').split('\n');
  expect(lines.slice(0, 2)).toEqual(['--- a', '+++ b']);
  const out: string[] = [];
  let at = 0;
  for (const line of lines.slice(2)) {
    const hunk = /^@@ -(\d+),(\d+) \+(\d+),(\d+) @@$/.exec(line);
    if (hunk) {
      const start = Number(hunk[2]) === 0 ? Number(hunk[1]) : Number(hunk[1]) - 1;
      expect(start).toBeGreaterThanOrEqual(at);
      while (at < start) out.push(a[at++]!);
      continue;
    }
    const [op, text] = [line[0], line.slice(1)];
    if (op === '+') out.push(text);
    else {
      expect(a[at], `line ${at + 1} of a`).toBe(text);
      if (op === ' ') out.push(text);
      else expect(op).toBe('-');
      at++;
    }
  }
  while (at < a.length) out.push(a[at++]!);
  return out;
}

/** Length of a longest common subsequence (quadratic; small inputs only). */
function lcs(a: string[], b: string[]): number {
  let next = new Int32Array(b.length + 1);
  for (let i = a.length - 1; i >= 0; i--) {
    const row = new Int32Array(b.length + 1);
    for (let j = b.length - 1; j >= 0; j--) row[j] = a[i] === b[j] ? next[j + 1]! + 1 : Math.max(next[j]!, row[j + 1]!);
    next = row;
  }
  return next[0]!;
}

/** A small deterministic generator, so a failure reproduces. */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}
const text = (lines: string[]) => lines.join('\n');

describe('text_diff capsule', () => {
  it('random small texts: the diff applies, and its counts are those of a shortest edit', () => {
    const rnd = random(1);
    for (let t = 0; t < 3000; t++) {
      const alphabet = 1 + Math.floor(rnd() * 6);
      const pick = () => `l${Math.floor(rnd() * alphabet)}`;
      const a = Array.from({ length: Math.floor(rnd() * 25) }, pick);
      const b = Array.from({ length: Math.floor(rnd() * 25) }, pick);
      const r = diff({ a: text(a) + (a.length && rnd() < 0.5 ? '\n' : ''), b: text(b), context: Math.floor(rnd() * 4) });
      const context = JSON.stringify({ a, b });
      expect(patch(a, r.unified), context).toEqual(b);
      const common = lcs(a, b);
      expect([r.removed, r.added], context).toEqual([a.length - common, b.length - common]);
      expect(r.identical, context).toBe(text(a) === text(b));
    }
  });

  it('texts past the cost cap (thousands of lines, few distinct) still give a diff that applies', () => {
    const rnd = random(2);
    for (let t = 0; t < 20; t++) {
      const alphabet = 2 + Math.floor(rnd() * 10);
      const pick = () => `x${Math.floor(rnd() * alphabet)}`;
      const a = Array.from({ length: 1000 + Math.floor(rnd() * 2000) }, pick);
      const b = Array.from({ length: 1000 + Math.floor(rnd() * 2000) }, pick);
      const r = diff({ a: text(a), b: text(b), context: 1000 });
      expect(patch(a, r.unified)).toEqual(b);
      const common = lcs(a, b);
      // Never shorter than the shortest edit, and not far from it.
      expect(r.removed).toBeGreaterThanOrEqual(a.length - common);
      expect(r.removed).toBeLessThan((a.length - common) * 1.2);
      expect(r.added - r.removed).toBe(b.length - a.length);
    }
  });

  it('a third of 5,000 lines changed: exact counts (the former algorithm kept a copy of its frontier per step)', () => {
    const a = Array.from({ length: 5000 }, (_, i) => `line ${i}`);
    const b = a.map((line, i) => (i % 3 === 0 ? `changed ${i}` : line));
    const r = diff({ a: text(a), b: text(b), context: 0 });
    expect(r).toMatchObject({ added: 1667, removed: 1667, identical: false });
    expect(patch(a, r.unified)).toEqual(b);
  });

  it('50,000 lines that share nothing: every line removed and added', () => {
    const a = Array.from({ length: 50_000 }, (_, i) => `old ${i}`);
    const b = Array.from({ length: 50_000 }, (_, i) => `new ${i}`);
    const r = diff({ a: text(a), b: text(b) });
    expect(r).toMatchObject({ added: 50_000, removed: 50_000 });
    expect(patch(a, r.unified)).toEqual(b);
  });

  it('renders hunks with their context, removals before additions, and the labels', () => {
    const a = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'];
    const b = ['1', 'two', '3', '4', '5', '6', '7', '8', 'nine', '10', '11'];
    expect(diff({ a: text(a), b: text(b), context: 1, labelA: 'old.txt', labelB: 'new.txt' }).unified).toBe(
      ['--- old.txt', '+++ new.txt', '@@ -1,3 +1,3 @@', ' 1', '-2', '+two', ' 3', '@@ -8,3 +8,4 @@', ' 8', '-9', '+nine', ' 10', '+11', ''].join('\n'),
    );
    // Wide context merges the two hunks into one.
    expect(diff({ a: text(a), b: text(b), context: 3 }).unified.match(/^@@/gm)).toHaveLength(1);
  });

  it('edge cases: empty texts, a trailing newline, CRLF lines, identical texts', () => {
    expect(diff({ a: '', b: '' })).toEqual({ unified: '', added: 0, removed: 0, identical: true });
    expect(diff({ a: 'x\n', b: 'x' })).toMatchObject({ identical: true });
    expect(diff({ a: '', b: 'a\nb' }).unified).toBe('--- a\n+++ b\n@@ -0,0 +1,2 @@\n+a\n+b\n');
    expect(diff({ a: 'a\nb', b: '' }).unified).toBe('--- a\n+++ b\n@@ -1,2 +0,0 @@\n-a\n-b\n');
    expect(diff({ a: 'a\r\nb', b: 'a\nb' })).toMatchObject({ added: 1, removed: 1 });
  });

  it('refuses a bad context or non-string texts', () => {
    expect(() => diff({ a: 'x', b: 'y', context: -1 })).toThrow(/context/);
    expect(() => diff({ a: 'x', b: 'y', context: 1.5 })).toThrow(/context/);
    expect(() => diff({ a: 1, b: 'y' })).toThrow(/strings/);
  });
});
