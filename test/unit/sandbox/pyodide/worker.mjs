// Test fixture: a runtime worker thread holding one Pyodide interpreter, like the sandbox host's
// workers. It loads the adapter (transpiled by build.ts) from `workerData.adapterUrl`.
import { parentPort, workerData } from 'node:worker_threads';

const { adapterUrl, snapshot, wasmModule, control: controlSab, memMb, disable } = workerData;
const control = new Int32Array(controlSab);

let instance;
try {
  const { createPyodideAdapter } = await import(adapterUrl);
  const adapter = createPyodideAdapter({ unsafeDisableLayers: disable ?? [] });
  const t0 = performance.now();
  await adapter.load({ ...(snapshot ? { snapshot } : {}), ...(wasmModule ? { wasmModule } : {}) });
  const loadMs = performance.now() - t0;
  instance = await adapter.createInstance({ memMb, control });
  parentPort.postMessage({ t: 'ready', loadMs, stats: adapter.loadStats });
} catch (e) {
  parentPort.postMessage({ t: 'load-failed', message: String(e && e.stack ? e.stack : e) });
}

parentPort.on('message', async (msg) => {
  if (msg?.t !== 'run') return;
  const out = { stdout: '', stderr: '' };
  const t0 = performance.now();
  let outcome;
  try {
    outcome = await instance.run(msg.code, {
      limits: msg.limits,
      deadline: Date.now() + msg.limits.timeoutMs,
      output: {
        write(stream, text) {
          const cap = stream === 'stdout' ? msg.limits.stdoutBytes : msg.limits.stderrBytes;
          if (out[stream].length < cap) out[stream] += text.slice(0, cap - out[stream].length);
        },
      },
      stopReason: () => Atomics.load(control, 0),
    });
  } catch (e) {
    outcome = { status: 'error', code: 'E_INTERNAL', error: { type: 'InternalError', message: String(e) }, fatal: true };
  }
  parentPort.postMessage({ t: 'done', outcome, ...out, ms: performance.now() - t0 });
});
