/**
 * Limits of run_python, with each interpreter in its own worker thread like the sandbox host runs it:
 * a soft stop (KeyboardInterrupt through the interrupt buffer) first, then worker.terminate() after a
 * grace period (the host's backstop, emulated by test/unit/sandbox/pyodide/controller.mjs).
 * Workers load from a memory snapshot (in a SharedArrayBuffer) and a shared compiled module, as the
 * host's pool would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, ExitCode, exitCodeFor } from '../../../src/protocol/errors.js';
import { createPyodideAdapter } from '../../../src/sandbox/runtimes/pyodide.js';
import { buildAdapter, testSnapshot, type BuiltAdapter } from './pyodide/build.js';
import { PyWorker, type PyRunReply } from './pyodide/controller.mjs';

let built: BuiltAdapter;
let snapshot: Uint8Array;
let wasmModule: object;
const timings: Record<string, number> = {};
const workers: PyWorker[] = [];

function spawn(memMb = 256, disable: string[] = []): PyWorker {
  const w = new PyWorker({ workerUrl: built.workerUrl, adapterUrl: built.adapterUrl, snapshot, wasmModule, memMb, disable });
  workers.push(w);
  return w;
}

/** Grace before the backstop terminates a worker, for tests of the soft stop (generous: CI machines are busy). */
const SOFT_GRACE_MS = 5000;

const exitOf = (r: PyRunReply) => exitCodeFor(r.outcome.status === 'ok' ? undefined : (r.outcome.code as ErrorCode));

beforeAll(async () => {
  built = buildAdapter();
  const maker = createPyodideAdapter({ unsafeDisableLayers: ['realm'] });
  const made = await testSnapshot(() => maker.makeSnapshot());
  // As a host would keep it: one copy in shared memory for every worker.
  snapshot = new Uint8Array(new SharedArrayBuffer(made.snapshot.byteLength));
  snapshot.set(made.snapshot);
  if (made.madeMs !== undefined) timings.makeSnapshotMs = made.madeMs;
  const t0 = performance.now();
  wasmModule = await maker.compileWasm();
  timings.compileWasmMs = performance.now() - t0;
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  built?.cleanup();
  console.info('[pyodide limits] timings (ms):', Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])));
});

describe('time limit', () => {
  let w: PyWorker;
  beforeAll(async () => {
    w = spawn();
    const t0 = performance.now();
    const ready = await w.ready;
    timings.workerSpawnToReadyMs = performance.now() - t0;
    timings.snapshotLoadMs = ready.loadMs;
  });

  it('stops `while True: pass` with exit 124 and the session keeps its state', async () => {
    expect((await w.run('state = "kept"')).outcome.status).toBe('ok');
    const r = await w.run('while True:\n    pass', { timeoutMs: 400 }, SOFT_GRACE_MS);
    expect(r.outcome, w.log).toMatchObject({ status: 'error', code: ErrorCode.TIMEOUT, fatal: false });
    expect(exitOf(r)).toBe(ExitCode.TIMEOUT);
    expect(r.terminated).toBe(false);
    expect((await w.run('state')).outcome).toEqual({ status: 'ok', result: 'kept' });
  });

  it('stops an asyncio busy loop and an asyncio.sleep(0) loop', async () => {
    const busy = await w.run('import asyncio\nasync def spin():\n    while True:\n        await asyncio.sleep(0)\nawait spin()', { timeoutMs: 400 }, SOFT_GRACE_MS);
    expect(busy.outcome).toMatchObject({ status: 'error', code: ErrorCode.TIMEOUT });
    expect(busy.terminated).toBe(false);
    const hot = await w.run('await asyncio.sleep(0)\nwhile True:\n    pass', { timeoutMs: 400 }, SOFT_GRACE_MS);
    expect(hot.terminated).toBe(false);
    expect(hot.outcome).toMatchObject({ status: 'error', code: ErrorCode.TIMEOUT });
    expect((await w.run('6 * 7')).outcome).toEqual({ status: 'ok', result: 42 });
  });

  it('never loses the interrupt: ten hot loops after an await in a row all stop softly', async () => {
    // Pyodide reads and clears its interrupt buffer in two steps; the adapter reads it atomically.
    for (let i = 0; i < 10; i++) {
      const r = await w.run('import asyncio\nawait asyncio.sleep(0)\nwhile True:\n    pass', { timeoutMs: 200 }, SOFT_GRACE_MS);
      expect(r.terminated, `run ${i}`).toBe(false);
      expect(r.outcome).toMatchObject({ code: ErrorCode.TIMEOUT, fatal: false });
    }
  });

  it('terminates a loop that swallows KeyboardInterrupt after the grace period; a new worker answers', async () => {
    const stubborn = spawn();
    await stubborn.ready;
    const r = await stubborn.run('while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass', { timeoutMs: 300 }, 700);
    expect(r.terminated).toBe(true);
    expect(exitOf(r)).toBe(ExitCode.TIMEOUT);
    expect(stubborn.alive).toBe(false);
    const fresh = spawn();
    expect((await fresh.run('1 + 1')).outcome).toEqual({ status: 'ok', result: 2 });
  });

  it('stops `10**10**8` with exit 124: softly where CPython checks for signals, else by termination', async () => {
    const big = spawn();
    await big.ready;
    const r = await big.run('10**10**8', { timeoutMs: 300 }, 700);
    expect(exitOf(r)).toBe(ExitCode.TIMEOUT);
    const next = big.alive ? big : spawn();
    expect((await next.run('6 * 7')).outcome).toEqual({ status: 'ok', result: 42 });
  });
});

describe('memory limit', () => {
  it('stops a growing list at memMb with exit 137 and discards the interpreter', async () => {
    const w = spawn(128);
    await w.ready;
    const r = await w.run('x = []\nwhile True:\n    x.append(" " * 1_000_000)', { timeoutMs: 20_000 });
    expect(r.outcome).toMatchObject({ status: 'error', code: ErrorCode.MEMORY, fatal: true });
    expect(exitOf(r)).toBe(ExitCode.MEMORY);
    expect(r.terminated).toBe(false);
  });

  it('refuses one allocation above memMb (Node resourceLimits do not cover wasm memory) and allows one below', async () => {
    const w = spawn(96);
    await w.ready;
    expect((await w.run('a = bytearray(40 * 1024 * 1024)\nlen(a)')).outcome).toEqual({ status: 'ok', result: 40 * 1024 * 1024 });
    const r = await w.run('b = bytearray(1536 * 1024 * 1024)');
    expect(r.outcome).toMatchObject({ status: 'error', code: ErrorCode.MEMORY, fatal: true });
    expect(r.outcome.error?.traceback).toContain('bytearray(1536 * 1024 * 1024)');
  });
});

describe('fatal errors', () => {
  it('a Pyodide fatal error (a wasm trap) is fatal: the interpreter is discarded', async () => {
    // ctypes is blocked by the python layer; without it, a guest can make the interpreter trap.
    const w = spawn(256, ['python']);
    await w.ready;
    const r = await w.run('import ctypes\nctypes.string_at(2**32 - 16, 64)');
    expect(r.outcome).toMatchObject({ status: 'error', code: ErrorCode.GUEST_ERROR, fatal: true, error: { type: 'FatalError' } });
    expect(JSON.stringify(r.outcome)).not.toMatch(/node_modules|\/work\/|file:\/\//);
    expect(r.stderr).not.toMatch(/node_modules|file:\/\//);
  });
});
