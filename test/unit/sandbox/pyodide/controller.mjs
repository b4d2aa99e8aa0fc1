// Test fixture: the host side of one Pyodide worker, as the sandbox host does it (see
// src/sandbox/runtime-worker.ts): a soft stop through the shared control array (CONTROL_STOP and
// SIGINT in CONTROL_PY_SIGNAL), then worker.terminate() after a grace period. Plain JavaScript so the
// permission-model child process can use it too.
import { Worker } from 'node:worker_threads';

const CONTROL_STOP = 0;
const CONTROL_PY_SIGNAL = 1;

export const DEFAULT_LIMITS = { timeoutMs: 10_000, memMb: 256, stdoutBytes: 1 << 20, stderrBytes: 1 << 20 };

export class PyWorker {
  /**
   * @param {{ workerUrl: URL | string, adapterUrl: string, snapshot?: Uint8Array, wasmModule?: object,
   *           memMb?: number, disable?: string[] }} options
   */
  constructor(options) {
    this.memMb = options.memMb ?? 256;
    this.control = new Int32Array(new SharedArrayBuffer(8));
    this.alive = true;
    this.pending = undefined;
    this.worker = new Worker(options.workerUrl, {
      workerData: {
        adapterUrl: options.adapterUrl,
        snapshot: options.snapshot,
        wasmModule: options.wasmModule,
        control: this.control.buffer,
        memMb: this.memMb,
        disable: options.disable ?? [],
      },
      stdout: true,
      stderr: true,
      stdin: false,
      env: {},
      resourceLimits: { stackSizeMb: 8, maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32 },
    });
    // The worker's own stdio (never guest output): kept, bounded, for diagnostics.
    this.log = '';
    const keep = (d) => {
      this.log = (this.log + d.toString()).slice(-8192);
    };
    this.worker.stdout.on('data', keep);
    this.worker.stderr.on('data', keep);
    this.ready = new Promise((resolve, reject) => {
      this.worker.on('message', (m) => {
        if (m?.t === 'ready') resolve(m);
        else if (m?.t === 'load-failed') reject(new Error(m.message));
        else this.pending?.(m);
      });
      this.worker.on('error', (e) => {
        this.log += `\n[worker error] ${e && e.stack ? e.stack : e}`;
        reject(e);
        this.pending?.({ t: 'exit', error: String(e) });
      });
      this.worker.on('exit', (code) => {
        this.log += `\n[worker exit] ${code}`;
        this.alive = false;
        reject(new Error(`worker exited ${code}`));
        this.pending?.({ t: 'exit', code });
      });
    });
    this.ready.catch(() => undefined);
  }

  /**
   * Run code; stop it softly at timeoutMs, terminate the worker graceMs later.
   * @returns {Promise<{ outcome: any, stdout: string, stderr: string, ms: number, terminated: boolean }>}
   */
  async run(code, limits = {}, graceMs = 1500) {
    await this.ready;
    if (!this.alive) throw new Error(`the worker is gone; its log: ${this.log}`);
    const lim = { ...DEFAULT_LIMITS, memMb: this.memMb, ...limits };
    Atomics.store(this.control, CONTROL_STOP, 0);
    Atomics.store(this.control, CONTROL_PY_SIGNAL, 0);
    const t0 = performance.now();
    let hard;
    let resignal;
    const soft = setTimeout(() => {
      Atomics.store(this.control, CONTROL_STOP, 1);
      Atomics.store(this.control, CONTROL_PY_SIGNAL, 2);
      Atomics.notify(this.control, CONTROL_STOP);
      // As the host does: repeat the signal until the run ends (Pyodide's poll can swallow one).
      resignal = setInterval(() => Atomics.store(this.control, CONTROL_PY_SIGNAL, 2), 50);
      hard = setTimeout(() => void this.worker.terminate(), graceMs);
    }, lim.timeoutMs);
    try {
      const reply = await new Promise((resolve) => {
        this.pending = resolve;
        this.worker.postMessage({ t: 'run', code, limits: lim });
      });
      if (reply.t === 'done') return { ...reply, terminated: false };
      const stopped = Atomics.load(this.control, CONTROL_STOP) === 1;
      return {
        outcome: {
          status: 'error',
          code: stopped ? 'E_TIMEOUT' : 'E_SANDBOX_CRASHED',
          error: { type: stopped ? 'Timeout' : 'SandboxError', message: 'worker terminated' },
          fatal: true,
        },
        stdout: '',
        stderr: '',
        ms: performance.now() - t0,
        terminated: true,
        log: this.log,
      };
    } finally {
      clearTimeout(soft);
      clearTimeout(hard);
      clearInterval(resignal);
      Atomics.store(this.control, CONTROL_PY_SIGNAL, 0);
      this.pending = undefined;
    }
  }

  async close() {
    if (this.alive) await this.worker.terminate();
  }
}
