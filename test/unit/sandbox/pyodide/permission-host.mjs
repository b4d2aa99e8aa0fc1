// Test fixture: a miniature sandbox host, run by the tests as a child process under Node's permission
// model (no fs writes, fs reads only where allowed, no child processes, no code generation from
// strings, empty environment). It runs each attack in a Pyodide worker, then checks that the worker
// (or, after a fatal outcome, its replacement) still answers, and prints one JSON document on stdout.
//
// argv[2]: JSON { snapshotPath?, memMb?, attacks: [{ name, code, timeoutMs?, disable? }] }
import fs from 'node:fs';
import { PyWorker } from './controller.mjs';

const config = JSON.parse(process.argv[2]);
const here = new URL('./', import.meta.url);
const adapterUrl = new URL('./sandbox/runtimes/pyodide.js', here).href;
const snapshot = config.snapshotPath ? new Uint8Array(fs.readFileSync(config.snapshotPath)) : undefined;
const { createPyodideAdapter } = await import(adapterUrl);
const wasmModule = await createPyodideAdapter().compileWasm();

const environment = {
  permission: typeof process.permission?.has === 'function',
  fsWrite: process.permission?.has('fs.write') ?? true,
  child: process.permission?.has('child') ?? true,
  envKeys: Object.keys(process.env).length,
  codegen: (() => {
    try {
      // eslint-disable-next-line no-new-func
      new Function('return 1');
      return true;
    } catch {
      return false;
    }
  })(),
};

const workers = new Map();
const loadMs = [];
async function workerFor(disable) {
  const key = [...disable].sort().join(',');
  let w = workers.get(key);
  if (!w || !w.alive) {
    w = new PyWorker({ workerUrl: new URL('./worker.mjs', here), adapterUrl, snapshot, wasmModule, memMb: config.memMb ?? 256, disable });
    workers.set(key, w);
    loadMs.push((await w.ready).loadMs);
  }
  return w;
}

const results = [];
for (const attack of config.attacks) {
  const disable = attack.disable ?? [];
  let w = await workerFor(disable);
  const r = await w.run(attack.code, { timeoutMs: attack.timeoutMs ?? 15_000 });
  if (r.terminated || r.outcome.fatal) {
    await w.close();
    workers.delete([...disable].sort().join(','));
    w = await workerFor(disable);
  }
  const next = await w.run('6 * 7', { timeoutMs: 10_000 });
  results.push({ name: attack.name, outcome: r.outcome, stdout: r.stdout, stderr: r.stderr, terminated: r.terminated, next: next.outcome });
}
await Promise.all([...workers.values()].map((w) => w.close()));
process.stdout.write(JSON.stringify({ environment, loadMs, results }));
process.exit(0);
