/**
 * TypeScript in run_js, end to end through the built server (and the `run` subcommand): types are
 * stripped inside the sandbox with positions kept, so errors name the user's own lines; TypeScript
 * that would need code generation is refused with a clear error; nothing is type-checked.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
const ts = (code: string, extra: Record<string, unknown> = {}) => srv.call('run_js', { code, typescript: true, ...extra });
const stillAnswers = async () => {
  const r = await ts('const n: number = 6 * 7; n');
  expect(r.structuredContent).toMatchObject({ exitCode: 0, result: 42 });
};

beforeAll(async () => {
  srv = await startServer(['--timeout', '15000']);
});
afterAll(async () => {
  await srv.close();
});

describe('run_js with typescript: true', () => {
  it('offers the field, described, on run_js only', async () => {
    const { tools } = await srv.client.listTools();
    const props = (name: string) => tools.find((t) => t.name === name)!.inputSchema.properties as Record<string, { type?: string; description?: string }>;
    expect(props('run_js').typescript).toMatchObject({ type: 'boolean' });
    expect(props('run_js').typescript!.description).toMatch(/not checked/i);
    expect(props('run_python')).not.toHaveProperty('typescript');
  });

  it('runs annotated code and returns the last expression', async () => {
    const code = [
      'interface Point { x: number; y: number }',
      'type Pair<T> = [T, T];',
      'const p: Point = { x: 3, y: 4 };',
      'function norm<T extends Point>(q: T): number { return Math.hypot(q.x, q.y); }',
      'abstract class Shape { abstract area(): number }',
      'class Sq extends Shape { private readonly s: number = 2; area(): number { return this.s ** 2 } }',
      'const pair: Pair<string> = ["a", "b"] as Pair<string>;',
      'console.log(pair.join("") satisfies string);',
      '({ norm: norm(p), area: new Sq().area(), last: pair[1]! })',
    ].join('\n');
    const r = await ts(code);
    expect(r.isError).toBe(false);
    expect(r.structuredContent).toMatchObject({ exitCode: 0, stdout: 'ab\n', result: { norm: 5, area: 4, last: 'b' } });
  });

  it('reports an error thrown on line N at line N of the user code', async () => {
    const code = [
      'type Id = string;',
      'interface User {',
      '  id: Id;',
      '  name: string;',
      '}',
      'function check(u: User): asserts u is User & { ok: true } {',
      '  throw new RangeError(`bad user ${u.id}`);',
      '}',
      'check({ id: "7", name: "x" } as User);',
    ].join('\n');
    const r = await ts(code);
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error).toMatchObject({ type: 'RangeError', message: 'bad user 7', code: 'E_GUEST_ERROR' });
    // Line 7, column 9 is where `throw new` puts `RangeError` for QuickJS; line 9 is the call.
    expect(r.structuredContent.error.traceback).toContain('main.ts:7:');
    expect(r.structuredContent.error.traceback).toContain('main.ts:9:');
  });

  it('supports top-level await and a session across TypeScript cells', async () => {
    const a = await ts('const base: number = await Promise.resolve(40);', { session: 'ts-cells' });
    expect(a.structuredContent.exitCode).toBe(0);
    const b = await ts('const add = (x: number): number => x + base; add(2)', { session: 'ts-cells' });
    expect(b.structuredContent).toMatchObject({ exitCode: 0, result: 42 });
  });

  it('does not check types: a type error still runs', async () => {
    const r = await ts('const n: number = "not a number" as unknown as number; typeof n');
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: 'string' });
  });

  it.each([
    ['an enum', 'const a = 1;\nenum Color { Red, Green }\nColor.Red', 2, /enum/],
    ['a namespace', 'let x = 0;\n\nnamespace N { export const v = 1 }', 3, /namespace/],
    ['a parameter property', 'class P {\n  constructor(private x: number) {}\n}', 2, /parameter propert/],
  ])('refuses %s with a clear error naming its line', async (_label, code, line, what) => {
    const r = await ts(code);
    expect(r.isError).toBe(true);
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error).toMatchObject({ type: 'UnsupportedSyntaxError', code: 'E_GUEST_ERROR' });
    expect(r.structuredContent.error.message).toMatch(what);
    expect(r.structuredContent.error.message).toContain(`(line ${line})`);
    expect(r.structuredContent.error.message).toMatch(/only removes types/);
    expect(r.structuredContent.error.traceback).toContain(`main.ts:${line}:`);
    await stillAnswers();
  });

  it('reports TypeScript that does not parse as a SyntaxError at its line', async () => {
    const r = await ts('let ok: number = 1;\nlet broken: = 2;');
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error.type).toBe('SyntaxError');
    expect(r.structuredContent.error.message).toContain('(line 2)');
  });

  it('survives code nested too deeply for the stripper, and strips the next call', async () => {
    const r = await ts(`const v: number = ${'('.repeat(20000)}1${')'.repeat(20000)};`);
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error.message).toMatch(/nested too deeply/);
    // The stripper's WebAssembly instance trapped; the next TypeScript run gets a fresh one.
    await stillAnswers();
  });

  it('treats `x: number` as a syntax error when typescript is absent or false', async () => {
    for (const extra of [{}, { typescript: false }]) {
      const r = await srv.call('run_js', { code: 'let x: number = 1; x', ...extra });
      expect(r.structuredContent.exitCode).toBe(1);
      expect(r.structuredContent.error.type).toBe('SyntaxError');
      expect(r.structuredContent.error.traceback ?? '').not.toContain('main.ts');
    }
  });

  it('rejects a non-boolean typescript value as invalid input', async () => {
    const r = await srv.call('run_js', { code: '1', typescript: 'yes' });
    expect(r.isError).toBe(true);
    await stillAnswers();
  });
});

describe('wasm-sandbox-mcp run FILE.ts', () => {
  it('strips the types of .ts and .mts files and exits with the run exit code', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-ts-'));
    try {
      const keys = ['--key-dir', path.join(dir, 'keys')];
      fs.writeFileSync(path.join(dir, 'ok.ts'), 'const greet = (who: string): string => `hi ${who}`;\nconsole.log(greet("ts"));\n(6 * 7) as number');
      fs.writeFileSync(path.join(dir, 'fail.mts'), 'const a: number = 1;\n\nthrow new TypeError("line three");');
      fs.writeFileSync(path.join(dir, 'enum.ts'), 'enum E { A }');
      const ok = runCli(['run', path.join(dir, 'ok.ts'), '--json', ...keys]);
      expect(ok).toMatchObject({ status: 0, stdout: 'hi ts\n42\n' });
      const fail = runCli(['run', path.join(dir, 'fail.mts'), ...keys]);
      expect(fail.status).toBe(1);
      expect(fail.stderr).toContain('TypeError: line three');
      expect(fail.stderr).toContain('main.ts:3:');
      const refused = runCli(['run', path.join(dir, 'enum.ts'), ...keys]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('UnsupportedSyntaxError');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
