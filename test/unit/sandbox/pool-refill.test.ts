/**
 * How the worker pool refills its Python spares (src/sandbox/pool.ts). A run that takes a loaded
 * spare has it replaced at once; a run that takes a spare still loading has it replaced only once it
 * has loaded, so no third interpreter loads alongside the two a run is waiting for. Runs the built
 * pool (npm test builds first): its worker threads cannot load TypeScript.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerPool as WorkerPoolType } from '../../../src/sandbox/pool.js';
import type { RuntimeWorker } from '../../../src/sandbox/runtime-worker.js';
import { createPyodideAdapter } from '../../../src/sandbox/runtimes/pyodide.js';
import { testSnapshot } from './pyodide/build.js';

const DIST = path.resolve(import.meta.dirname, '../../../dist/sandbox');
const LIMITS = { timeoutMs: 20_000, memMb: 256, stdoutBytes: 10_000, stderrBytes: 10_000 };

let pool: WorkerPoolType;
/** The pool's spare list for Python (a private field; read only to count). */
const spares = () => (pool as unknown as { spares: { python: RuntimeWorker[] } }).spares.python;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  expect(fs.existsSync(path.join(DIST, 'pool.js')), 'dist/sandbox: run npm run build first').toBe(true);
  const { WorkerPool } = (await import(pathToFileURL(path.join(DIST, 'pool.js')).href)) as { WorkerPool: typeof WorkerPoolType };
  const { compilePyodideWasm } = (await import(pathToFileURL(path.join(DIST, 'runtimes/pyodide/package.js')).href)) as {
    compilePyodideWasm: () => Promise<object>;
  };
  const { snapshot } = await testSnapshot(() => createPyodideAdapter({ unsafeDisableLayers: ['realm'] }).makeSnapshot());
  pool = new WorkerPool({ spares: { js: 0, python: 2 }, memMb: LIMITS.memMb, graceMs: 1000 });
  pool.setup('python', { compile: compilePyodideWasm, snapshot: Promise.resolve(snapshot) });
});

afterAll(async () => {
  await pool?.close();
});

describe('refilling Python spares', () => {
  it('replaces a loaded spare at once, and a loading one only once it has loaded', async () => {
    pool.warm('python');
    // Start-up: the first spare loads alone, then the second.
    for (let i = 0; i < 600 && !(spares().length === 2 && spares().every((w) => w.loaded)); i++) await sleep(50);
    expect(spares().map((w) => w.loaded)).toEqual([true, true]);

    // A loaded spare taken: replaced at once.
    const first = await pool.run('python', null, { code: '6 * 7', limits: LIMITS });
    expect(first.outcome).toEqual({ status: 'ok', result: 42 });
    await sleep(20);
    expect(spares().length).toBe(2);
    expect(spares().filter((w) => !w.loaded).length).toBe(1);

    // Take the loaded one, then the loading one: that one is not replaced while it loads.
    await pool.run('python', null, { code: '1', limits: LIMITS });
    const waiting = pool.run('python', null, { code: '2', limits: LIMITS });
    await sleep(20);
    const loadingNow = spares().filter((w) => !w.loaded).length;
    expect(loadingNow).toBe(1);
    expect(spares().length).toBe(1);
    expect((await waiting).outcome).toEqual({ status: 'ok', result: 2 });
    // Once it had loaded, the spares were topped up again.
    for (let i = 0; i < 600 && spares().length < 2; i++) await sleep(50);
    expect(spares().length).toBe(2);
  });
});
