/**
 * The QuickJS adapter in-process: every guest state it creates must be released completely
 * (QuickJS aborts the WebAssembly module when a handle leaks), whatever the code did.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fewerFrames, quickjsAdapter, timerDelay } from '../../../src/sandbox/runtimes/quickjs.js';
import type { GuestFetchResult, RunContext } from '../../../src/sandbox/runtimes/types.js';

const control = new Int32Array(new SharedArrayBuffer(8));
const ctx = (extra: Partial<RunContext> = {}): RunContext => ({
  limits: { timeoutMs: 5000, memMb: 64, stdoutBytes: 4096, stderrBytes: 4096 },
  deadline: Date.now() + 5000,
  output: { write: () => undefined },
  stopReason: () => 0,
  ...extra,
});
const okFetch = async (): Promise<GuestFetchResult> => ({
  ok: true,
  response: { status: 200, statusText: 'OK', headers: [['content-type', 'application/json']], body: new TextEncoder().encode('{"x":1}'), url: 'http://x/', redirected: false },
});

beforeAll(() => quickjsAdapter.load());

describe('QuickJS adapter releases every handle', () => {
  it.each([
    ['an object from top-level await', 'await Promise.resolve({ x: 1 })', { x: 1 }],
    ['a parenthesised object literal after await', 'const o = await Promise.resolve(2); ({ x: o })', { x: 2 }],
    ['a fetch response read as JSON', "const r = await fetch('http://x/'); await r.json()", { x: 1 }],
    ['a pending fetch left behind', "fetch('http://x/'); 'left'", 'left'],
    ['a thrown object', 'throw { not: "an error" }', undefined],
  ])('%s', async (_label, code, expected) => {
    const inst = await quickjsAdapter.createInstance({ memMb: 64, control });
    const outcome = await inst.run(code, ctx({ fetch: okFetch }));
    if (expected !== undefined) expect(outcome).toMatchObject({ status: 'ok', result: expected });
    expect(() => inst.dispose()).not.toThrow();
  });

  it.each([
    ['await of a parenthesised expression (parsed as a call of `await` in a script)', 'const o = await (Promise.resolve(2)); o', 2],
    ['await(...) with no space', 'await(Promise.resolve(3))', 3],
    ['a script whose own function is named await keeps script semantics', 'var await = (x) => x * 2; await(21)', 42],
  ])('top-level await: %s', async (_label, code, expected) => {
    const inst = await quickjsAdapter.createInstance({ memMb: 64, control });
    expect(await inst.run(code, ctx())).toMatchObject({ status: 'ok', result: expected });
    inst.dispose();
  });

  it('fs takes the bytes of a view without asking the guest (no Symbol.species), and refuses a detached buffer as a TypeError', async () => {
    const inst = await quickjsAdapter.createInstance({ memMb: 64, control });
    const files = { initial: [], writable: ['/tmp'], readonly: [], limits: { quotaBytes: 1 << 22, maxFiles: 10, maxFileBytes: 1 << 21 } };
    const code = `
      let asked = 0;
      const b = new ArrayBuffer(8);
      b.constructor = { [Symbol.species]: function () { asked++; return new ArrayBuffer(1 << 20); } };
      fs.writeFileSync('/tmp/view', new Uint8Array(b, 2, 4));
      fs.writeFileSync('/tmp/dv', new DataView(b, 0, 3));
      let detached = 'no transfer';
      if (typeof b.transfer === 'function') {
        const gone = new ArrayBuffer(4); gone.transfer();
        try { fs.writeFileSync('/tmp/gone', gone); detached = 'written'; } catch (e) { detached = e.name + ' ' + e.code; }
      }
      [asked, fs.statSync('/tmp/view').size, fs.statSync('/tmp/dv').size, detached]`;
    const outcome = await inst.run(code, ctx({ files }));
    expect(outcome).toMatchObject({ status: 'ok' });
    const [asked, view, dv, detached] = (outcome as { result: unknown[] }).result;
    expect([asked, view, dv]).toEqual([0, 4, 3]);
    expect(['no transfer', 'TypeError ERR_INVALID_ARG_TYPE']).toContain(detached);
    inst.dispose();
  });

  it('console shows what JSON cannot: NaN, -0, BigInt, undefined, Map, Set, RegExp, typed arrays, functions, symbols, cycles, error types', async () => {
    const inst = await quickjsAdapter.createInstance({ memMb: 64, control });
    let out = '';
    const code = `
      console.log(NaN, Infinity, -Infinity, -0, 1n, undefined, null);
      console.log(new Map([['a', 1]]), new Set([1, 2]), /x\\/y/gi, new Uint8Array([1, 2]), new Float64Array([NaN]));
      console.log({ f() {}, s: Symbol('d'), n: NaN, u: undefined, arrow: () => 1 });
      const o = { a: 1 }; o.self = o; const shared = { k: 1 };
      console.log(o, [shared, shared]);
      Object.defineProperty(Array.prototype, '0', { set() { throw new Error('poisoned'); }, configurable: true });
      console.log(new Set(['p']), [new Map([[1, 2]])]);
      console.log(new TypeError('tx').toString === undefined, new RangeError('r'));
      ({ e: new RangeError('r'), t: new TypeError('t') })`;
    const outcome = await inst.run(code, ctx({ output: { write: (_stream, text) => void (out += text) } }));
    expect(outcome).toMatchObject({ status: 'ok', result: { e: { name: 'RangeError', message: 'r' }, t: { name: 'TypeError', message: 't' } } });
    const lines = out.split('\n');
    expect(lines[0]).toBe('NaN Infinity -Infinity -0 1n undefined null');
    expect(lines[1]).toBe('Map(1) {"a" => 1} Set(2) {1, 2} /x\\/y/gi Uint8Array(2) [1, 2] Float64Array(1) [NaN]');
    expect(lines[2]).toBe('{"f":[Function: f],"s":Symbol(d),"n":NaN,"u":undefined,"arrow":[Function: arrow]}');
    expect(lines[3]).toBe('{"a":1,"self":[Circular]} [{"k":1},{"k":1}]');
    expect(lines[4]).toBe('Set(1) {"p"} [Map(1) {1 => 2}]');
    expect(lines[5]).toMatch(/^false RangeError: r/);
    inst.dispose();
  });

  it('a syntax error in a cell with await names its own line, not the first await', async () => {
    const inst = await quickjsAdapter.createInstance({ memMb: 64, control });
    const outcome = await inst.run('const a = await Promise.resolve(1);\nconst b = 2;\nconst c = (;', ctx());
    expect(outcome).toMatchObject({ status: 'error', error: { type: 'SyntaxError' } });
    expect((outcome as { error: { traceback?: string } }).error.traceback).toContain('main.js:3');
    inst.dispose();
  });

  it('keeps line numbers in an await cell after a declaration that spans lines', async () => {
    const inst = await quickjsAdapter.createInstance({ memMb: 64, control });
    const outcome = await inst.run('const a = await Promise.resolve(\n1\n);\nconst b = 2;\nnull.boom;', ctx());
    expect((outcome as { error: { traceback?: string } }).error.traceback).toContain('main.js:5');
    inst.dispose();
  });

  it('fs.readdirSync takes withFileTypes and recursive, as Node does; fs.constants exists', async () => {
    const inst = await quickjsAdapter.createInstance({ memMb: 64, control });
    const files = { initial: [{ path: '/tmp/a/b.txt', data: new Uint8Array(1) }, { path: '/tmp/c.txt', data: new Uint8Array(1) }], writable: ['/tmp'], readonly: [], limits: { quotaBytes: 1 << 20, maxFiles: 10, maxFileBytes: 1 << 16 } };
    const code = `[
      fs.readdirSync('/tmp', { withFileTypes: true }).map((d) => [d.name, d.isDirectory(), d.isFile(), d.parentPath]),
      fs.readdirSync('/tmp', { recursive: true }),
      fs.readdirSync('/tmp/'),
      fs.constants.COPYFILE_EXCL,
    ]`;
    const outcome = await inst.run(code, ctx({ files }));
    expect(outcome).toMatchObject({
      status: 'ok',
      result: [[['a', true, false, '/tmp'], ['c.txt', false, true, '/tmp']], ['a', 'a/b.txt', 'c.txt'], ['a', 'c.txt'], 1],
    });
    inst.dispose();
  });

  it('in an await cell, var inside loops and blocks makes globals, as in a script', async () => {
    const inst = await quickjsAdapter.createInstance({ memMb: 64, control });
    await inst.run('for (var i = 0; i < 3; i++) {} if (true) { var y = 7; } for (var k of [5]) {} await 0; [i, y, k]', ctx());
    expect(await inst.run('[i, y, k, typeof globalThis.i]', ctx())).toMatchObject({ status: 'ok', result: [3, 7, 5, 'number'] });
    inst.dispose();
  });

  it('a cell with top-level await runs once: its output is not repeated', async () => {
    const inst = await quickjsAdapter.createInstance({ memMb: 64, control });
    let out = '';
    const outcome = await inst.run("console.log('once'); const v = await (Promise.resolve(5)); v", ctx({ output: { write: (_stream, text) => void (out += text) } }));
    expect(outcome).toMatchObject({ status: 'ok', result: 5 });
    expect(out).toBe('once\n');
    inst.dispose();
  });

  it('a pending timer keeps the run alive until the deadline, then everything is released', async () => {
    const inst = await quickjsAdapter.createInstance({ memMb: 64, control });
    const outcome = await inst.run("setTimeout(() => {}, 100000); 'done'", { ...ctx(), deadline: Date.now() + 200 });
    expect(outcome).toMatchObject({ status: 'error', code: 'E_TIMEOUT' });
    expect(() => inst.dispose()).not.toThrow();
  });

  it('a host function argument error throws in the guest instead of returning an Error value', async () => {
    const inst = await quickjsAdapter.createInstance({ memMb: 64, control });
    const outcome = await inst.run('try { setTimeout(1); "no throw" } catch (e) { e.name }', ctx());
    expect(outcome).toMatchObject({ status: 'ok', result: 'TypeError' });
    inst.dispose();
  });
});

describe('timer delays, as Node reads them', () => {
  it.each([
    [undefined, 1],
    [0, 1],
    [-5, 1],
    [Number.NaN, 1],
    [Number.POSITIVE_INFINITY, 1],
    [2 ** 31, 1],
    [2 ** 31 - 1, 2 ** 31 - 1],
    [20.9, 20],
    ['20', 20],
    ['x', 1],
  ] as Array<[number | string | undefined, number]>)('%s → %s ms', (raw, ms) => {
    expect(timerDelay(raw)).toBe(ms);
  });
});

describe('tracebacks', () => {
  it('a stack overflow keeps its first 40 frames and last 5, and says how many went', () => {
    const tb = Array.from({ length: 2000 }, (_, i) => `    at f${i} (main.js:1:24)`).join('\n');
    const lines = fewerFrames(tb).split('\n');
    expect(lines).toHaveLength(46);
    expect(lines[0]).toBe('    at f0 (main.js:1:24)');
    expect(lines[40]).toBe('    ... 1955 more frames');
    expect(lines[45]).toBe('    at f1999 (main.js:1:24)');
    expect(fewerFrames('    at a\n    at b')).toBe('    at a\n    at b');
  });
});
