/**
 * The sandbox host runs with `--expose-gc` (src/front/node-flags.ts) for its threads' idle
 * collections; src/sandbox/garbage.ts takes the global `gc` that V8 then puts in every realm, so
 * that no guest can call it. Checked in a real process under that flag, in its main thread (the
 * host's) and in a worker (a runtime's): the global is gone and cannot be put back, and the module
 * still runs a full collection.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sandboxHostLaunch } from '../../../src/front/node-flags.js';
import { HOST_SCRIPT } from '../../../src/front/sandbox-client.js';

// The built module (npm test builds first): plain Node cannot import the TypeScript source.
const BUILT = path.resolve(import.meta.dirname, '../../../dist/sandbox/garbage.js');

const PROBE = `
import { PerformanceObserver, constants } from 'node:perf_hooks';
export async function probe(moduleUrl) {
  const before = typeof globalThis.gc;
  const { collectGarbage, globalGcReachable } = await import(moduleUrl);
  const reachable = globalGcReachable();
  let reassigned = 'refused';
  try {
    globalThis.gc = () => {};
    reassigned = typeof globalThis.gc;
  } catch {}
  const kinds = [];
  const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) kinds.push(e.detail.kind); });
  observer.observe({ entryTypes: ['gc'] });
  collectGarbage();
  await new Promise((r) => setTimeout(r, 50));
  observer.disconnect();
  return { before, after: typeof globalThis.gc, reassigned, reachable, major: kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR) };
}
`;
const WORKER = `
import { parentPort, workerData } from 'node:worker_threads';
import { probe } from './probe.mjs';
parentPort.postMessage(await probe(workerData));
`;
const MAIN = `
import { Worker } from 'node:worker_threads';
import { probe } from './probe.mjs';
const moduleUrl = process.argv[2];
const main = await probe(moduleUrl);
const worker = await new Promise((resolve, reject) => {
  const w = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: moduleUrl });
  w.once('message', (m) => { resolve(m); void w.terminate(); });
  w.once('error', reject);
});
console.log(JSON.stringify({ main, worker }));
`;

function runProbe(nodeArgs: string[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-gc-'));
  try {
    fs.writeFileSync(path.join(dir, 'probe.mjs'), PROBE);
    fs.writeFileSync(path.join(dir, 'worker.mjs'), WORKER);
    fs.writeFileSync(path.join(dir, 'main.mjs'), MAIN);
    const r = spawnSync(process.execPath, [...nodeArgs, path.join(dir, 'main.mjs'), pathToFileURL(BUILT).href], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as Record<'main' | 'worker', { before: string; after: string; reassigned: string; reachable: boolean; major: boolean }>;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('the sandbox host’s gc', () => {
  it('is launched with --expose-gc', () => {
    expect(sandboxHostLaunch(HOST_SCRIPT).args).toContain('--expose-gc');
  });

  it('takes the global gc away in the main thread and in workers, for good, and still collects', () => {
    expect(fs.existsSync(BUILT), 'dist/sandbox/garbage.js: run npm run build first').toBe(true);
    const r = runProbe(['--expose-gc']);
    for (const thread of [r.main, r.worker]) {
      // V8 made the global (so this test can fail), the module took it, and it cannot be put back.
      expect(thread.before).toBe('function');
      expect(thread.after).toBe('undefined');
      expect(thread.reassigned).toBe('refused');
      expect(thread.reachable).toBe(false);
      expect(thread.major).toBe(true);
    }
  });

  it('does nothing without the flag', () => {
    const r = runProbe([]);
    for (const thread of [r.main, r.worker]) {
      expect(thread.before).toBe('undefined');
      expect(thread.reachable).toBe(false);
      expect(thread.major).toBe(false);
    }
  });
});
