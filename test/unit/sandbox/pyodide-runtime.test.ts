/**
 * run_python semantics on the Pyodide adapter, in this test's own thread: one interpreter for the
 * whole file (a cold load, no snapshot). The `realm` layer is off here because it would harden the
 * test runner's own realm; it is proven in pyodide-hardening.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, SandboxError } from '../../../src/protocol/errors.js';
import { createPyodideAdapter, type PyodideRuntimeAdapter } from '../../../src/sandbox/runtimes/pyodide.js';
import { StopReason, type RuntimeInstance } from '../../../src/sandbox/runtimes/types.js';
import { LIMITS, Stopper, runIn, summary, type RunResult } from './pyodide/helpers.js';

let adapter: PyodideRuntimeAdapter;
let instance: RuntimeInstance;
let stopper: Stopper;
let loadMs = 0;

const run = (code: string, options: Parameters<typeof runIn>[3] = {}): Promise<RunResult> => runIn(instance, stopper, code, options);
const ok = async (code: string): Promise<unknown> => {
  const r = await run(code);
  expect(summary(r)).toMatchObject({ status: 'ok' });
  return r.outcome.status === 'ok' ? r.outcome.result : undefined;
};

beforeAll(async () => {
  stopper = new Stopper();
  adapter = createPyodideAdapter({ unsafeDisableLayers: ['realm'] });
  const t0 = performance.now();
  await adapter.load();
  loadMs = performance.now() - t0;
  // Refused before the instance exists: below the interpreter's own footprint.
  await expect(adapter.createInstance({ memMb: 8, control: stopper.control })).rejects.toMatchObject({ code: ErrorCode.RUNTIME_UNAVAILABLE });
  instance = await adapter.createInstance({ memMb: LIMITS.memMb, control: stopper.control });
});

afterAll(async () => {
  instance?.dispose();
  await stopper?.close();
});

describe('loading', () => {
  it('loads offline from the installed package and holds exactly one interpreter per worker', async () => {
    expect(adapter.language).toBe('python');
    expect(adapter.reusableWorker).toBe(false);
    expect(loadMs).toBeGreaterThan(0);
    expect(adapter.loadStats?.heapBytes).toBeGreaterThan(16 * 1024 * 1024);
    await expect(adapter.createInstance({ memMb: 256, control: stopper.control })).rejects.toBeInstanceOf(SandboxError);
  });
});

describe('what the guest sees of the host', () => {
  it('no host paths in sys.executable, argv, environment or paths', async () => {
    const seen = JSON.stringify(await ok('import sys, os\n[sys.executable, sys.argv, sys.orig_argv, dict(os.environ), sys.path, os.getcwd(), sys.prefix]'));
    expect(seen).not.toMatch(/node_modules|\/work\/|vitest|file:\/\//);
    expect(seen).not.toContain(process.cwd());
    expect(await ok('import sys\nsys.executable')).toBe('/usr/bin/python');
  });
});

describe('notebook semantics', () => {
  it('returns the value of the last expression statement, nothing for statements or None', async () => {
    expect(await ok('1 + 1')).toBe(2);
    expect(summary(await run('x = 1'))).toEqual({ status: 'ok' });
    expect(summary(await run('None'))).toEqual({ status: 'ok' });
    expect(summary(await run('print("hi")'))).toEqual({ status: 'ok' });
    expect(await ok('y = 20\nif y:\n    y += 1\ny * 2')).toBe(42);
  });

  it('a trailing semicolon hides the last value, as in IPython; the expression still runs', async () => {
    expect(summary(await run('hidden = [1]\nhidden.append(2);'))).toEqual({ status: 'ok' });
    expect(await ok('hidden')).toEqual([1, 2]);
    expect(summary(await run('len(hidden) ;  # quiet'))).toEqual({ status: 'ok' });
    expect(summary(await run('"é" + "ü";\n\n# trailing comment'))).toEqual({ status: 'ok' });
    expect(await ok('x = 1; x + 1')).toBe(2);
    expect(await ok('"a;b"')).toBe('a;b');
    expect(await ok('len(hidden)  # no semicolon; just a comment')).toBe(2);
    expect(await ok('(1 +\n 2)')).toBe(3);
    expect(summary(await run('(1 +\n 2);'))).toEqual({ status: 'ok' });
  });

  it('keeps globals between runs of one instance, like cells of a notebook', async () => {
    await ok('counter = 5\ndef bump(n):\n    return counter + n');
    expect(await ok('bump(10)')).toBe(15);
    expect(await ok('import sys; sys.modules["__main__"].counter')).toBe(5);
  });

  it('supports top-level await', async () => {
    expect(await ok('import asyncio\nawait asyncio.sleep(0.01)\nsum([1, 2, 3])')).toBe(6);
    expect(await ok('async def twice(v):\n    await asyncio.sleep(0)\n    return v * 2\nawait twice(21)')).toBe(42);
    const r = await run('asyncio.run(twice(1))');
    expect(summary(r)).toMatchObject({ status: 'error', type: 'RuntimeError' });
    expect(summary(r).message).toContain('top-level await');
  });

  it('converts results to JSON: scalars, containers, non-JSON values as repr()', async () => {
    expect(await ok('(1, "a", True, None, 2.5)')).toEqual([1, 'a', true, null, 2.5]);
    expect(await ok('{"a": [1, {"b": (2, 3)}], 1: "int key", None: 0, 2.5: "f", False: "no"}')).toEqual({
      a: [1, { b: [2, 3] }],
      '1': 'int key',
      null: 0,
      '2.5': 'f',
      false: 'no',
    });
    expect(await ok('[float("nan"), float("inf"), -float("inf")]')).toEqual(['NaN', 'Infinity', '-Infinity']);
    expect(await ok('[2**53, 2**64, -(2**70)]')).toEqual([2 ** 53, '18446744073709551616', '-1180591620717411303424']);
    expect(await ok('{1, 2}')).toBe('{1, 2}');
    expect(await ok('{(1, 2): "tuple key"}')).toBe("{(1, 2): 'tuple key'}");
    expect(await ok('b"\\x00ab"')).toBe("b'\\x00ab'");
    expect(await ok('class P:\n    def __repr__(self):\n        return "<P>"\n[P()]')).toEqual(['<P>']);
    expect(await ok('class Bad:\n    def __repr__(self):\n        raise ValueError("no")\nBad()')).toBe('<unrepresentable Bad>');
    // Subclasses of str/int/list/dict are the guest's own types: converted by repr(), never trusted.
    expect(await ok('class S(str):\n    pass\nS("sub")')).toBe("'sub'");
  });

  it('bounds the result: depth, cycles, number of items, size', async () => {
    const deep = await ok('d = []\ncur = d\nfor _ in range(50):\n    nxt = []\n    cur.append(nxt)\n    cur = nxt\nd');
    expect(JSON.stringify(deep).length).toBeLessThan(200);
    expect(await ok('c = [1]\nc.append(c)\nc')).toEqual([1, '[1, [...]]']);
    const many = (await ok('list(range(20000))')) as unknown[];
    expect(many.length).toBe(10_001);
    expect(many.at(-1)).toBe('… 10000 more items');
    const big = (await ok('"x" * 3_000_000')) as string;
    expect(big.length).toBeLessThan(1_100_000);
    expect(big.endsWith('[truncated]')).toBe(true);
    expect(await ok('10**5000')).toMatch(/^<int with \d+ bits>$/);
  });
});

describe('errors', () => {
  it('reports an uncaught exception with its class, message and a traceback of the user code only', async () => {
    const r = await run('def inner():\n    return 1 / 0\n\ndef outer():\n    return inner()\n\nouter()');
    expect(summary(r)).toMatchObject({ status: 'error', code: ErrorCode.GUEST_ERROR, type: 'ZeroDivisionError', message: 'division by zero', fatal: false });
    const tb = r.outcome.status === 'error' ? (r.outcome.error.traceback ?? '') : '';
    expect(tb).toMatch(/^Traceback \(most recent call last\):/);
    expect(tb).toMatch(/File "<code(-\d+)?>", line 7, in <module>/);
    expect(tb).toContain('return 1 / 0');
    expect(tb).toContain('ZeroDivisionError: division by zero');
    expect(tb).not.toMatch(/<sandbox>|\/lib\/python|node_modules|\/work\/|file:\/\//);
  });

  it('leaves out standard-library and Pyodide frames, keeps chained causes', async () => {
    const r = await run('import json\ntry:\n    json.loads("{")\nexcept ValueError as e:\n    raise RuntimeError("bad input") from e');
    expect(summary(r)).toMatchObject({ type: 'RuntimeError', message: 'bad input' });
    const tb = r.outcome.status === 'error' ? (r.outcome.error.traceback ?? '') : '';
    expect(tb).toContain('json.decoder.JSONDecodeError');
    expect(tb).toContain('The above exception was the direct cause');
    expect(tb).not.toContain('/lib/python');
  });

  it('reports syntax errors with the offending line', async () => {
    const r = await run('x = = 1');
    expect(summary(r)).toMatchObject({ status: 'error', code: ErrorCode.GUEST_ERROR, type: 'SyntaxError' });
    const tb = r.outcome.status === 'error' ? (r.outcome.error.traceback ?? '') : '';
    expect(tb).toContain('x = = 1');
    expect(tb).not.toContain('<sandbox>');
  });

  it('shows the defining cell of a function from an earlier run', async () => {
    await ok('def fails():\n    raise KeyError("k")');
    const r = await run('fails()');
    const tb = r.outcome.status === 'error' ? (r.outcome.error.traceback ?? '') : '';
    expect(tb).toContain('raise KeyError("k")');
    expect(tb).toContain('fails()');
  });

  it('treats sys.exit(0) as success and another status as an error; a KeyboardInterrupt the guest raises is its own error', async () => {
    expect(summary(await run('import sys\nsys.exit(0)'))).toEqual({ status: 'ok' });
    expect(summary(await run('sys.exit(3)'))).toMatchObject({ status: 'error', code: ErrorCode.GUEST_ERROR, type: 'SystemExit', message: '3' });
    expect(summary(await run('raise KeyboardInterrupt'))).toMatchObject({ status: 'error', code: ErrorCode.GUEST_ERROR, type: 'KeyboardInterrupt' });
    // As in CPython, False is status 0 and True status 1.
    expect(summary(await run('sys.exit(False)'))).toEqual({ status: 'ok' });
    expect(summary(await run('sys.exit(True)'))).toMatchObject({ status: 'error', type: 'SystemExit', message: 'True' });
    expect(await ok('"still alive"')).toBe('still alive');
  });

  it('a MemoryError the code raises itself is its own error (exit 1): the interpreter and its state stay', async () => {
    await ok('kept = 41');
    expect(summary(await run('raise MemoryError("my own")'))).toMatchObject({ status: 'error', code: ErrorCode.GUEST_ERROR, type: 'MemoryError', message: 'my own' });
    expect(await ok('kept + 1')).toBe(42);
  });
});

describe('streams', () => {
  it('captures stdout and stderr separately, including multi-byte text', async () => {
    const r = await run('import sys\nprint("out", 1)\nprint("err", file=sys.stderr)\nprint("é" * 5000 + "€🐍")');
    expect(r.stdout).toBe(`out 1\n${'é'.repeat(5000)}€🐍\n`);
    expect(r.stderr).toBe('err\n');
  });

  it('stops forwarding output far past the cap, and survives a sink that throws', async () => {
    let received = 0;
    const r = await run('for _ in range(200):\n    print("x" * 10000)\n"done"', {
      limits: { stdoutBytes: 1000 },
      sink: (_s, text) => {
        received += text.length;
      },
    });
    expect(summary(r)).toEqual({ status: 'ok', result: 'done' });
    expect(received).toBeLessThan(64 * 1024);
    const r2 = await run('print("boom")\n7', {
      sink: () => {
        throw new Error('sink failure');
      },
    });
    expect(summary(r2)).toEqual({ status: 'ok', result: 7 });
  });

  it('gives the guest a closed stdin: never the host process file descriptor 0', async () => {
    expect(summary(await run('input()'))).toMatchObject({ type: 'EOFError' });
    expect(await ok('import sys\nsys.stdin.read()')).toBe('');
    expect(await ok('import os\nos.read(0, 10)')).toBe("b''");
    expect(await ok('open("/dev/tty").read()')).toBe('');
    expect(await ok('open("/dev/stdin").read()')).toBe('');
  });
});

describe('stops', () => {
  it('interrupts a busy loop with E_TIMEOUT and keeps the session usable', async () => {
    await ok('kept = "yes"');
    const r = await run('while True:\n    pass', { stopAfterMs: 300 });
    expect(summary(r)).toMatchObject({ status: 'error', code: ErrorCode.TIMEOUT, fatal: false });
    expect(r.ms).toBeLessThan(3000);
    expect(await ok('kept')).toBe('yes');
  });

  it('reports E_CANCELLED when the client cancelled', async () => {
    const r = await run('while True:\n    pass', { stopAfterMs: 200, reason: StopReason.CANCELLED });
    expect(summary(r)).toMatchObject({ status: 'error', code: ErrorCode.CANCELLED, fatal: false });
  });

  it('interrupts time.sleep and an awaited sleep promptly', async () => {
    const r1 = await run('import time\ntime.sleep(30)', { stopAfterMs: 300 });
    expect(summary(r1)).toMatchObject({ code: ErrorCode.TIMEOUT, fatal: false });
    expect(r1.ms).toBeLessThan(2000);
    const r2 = await run('import asyncio\nawait asyncio.sleep(30)', { stopAfterMs: 300 });
    expect(summary(r2)).toMatchObject({ code: ErrorCode.TIMEOUT, fatal: false });
    expect(r2.ms).toBeLessThan(2000);
    const r3 = await run('import asyncio\nwhile True:\n    await asyncio.sleep(0)', { stopAfterMs: 300 });
    expect(summary(r3)).toMatchObject({ code: ErrorCode.TIMEOUT });
    expect(await ok('6 * 7')).toBe(42);
  });

  it('does not start a run the host already stopped', async () => {
    stopper.reset();
    Atomics.store(stopper.control, 0, StopReason.TIMEOUT);
    const outcome = await instance.run('print("never")', {
      limits: LIMITS,
      deadline: Date.now(),
      output: { write: () => undefined },
      stopReason: () => Atomics.load(stopper.control, 0) as StopReason,
    });
    stopper.reset();
    expect(outcome).toMatchObject({ status: 'error', code: ErrorCode.TIMEOUT });
  });

  it('runs nothing of the guest between runs: scheduled callbacks and tasks die with their run', async () => {
    await ok('import asyncio\nticks = []\ndef tick():\n    ticks.append(1)\nasyncio.get_event_loop().call_soon(tick)\nasync def bg():\n    while True:\n        ticks.append(2)\n        await asyncio.sleep(0)\nt = asyncio.ensure_future(bg())');
    await new Promise((r) => setTimeout(r, 100));
    expect(await ok('len(ticks)')).toBe(0);
  });
});
