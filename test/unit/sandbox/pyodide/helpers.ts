/** Test helpers for the Pyodide adapter running in the test's own thread. */
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import {
  CONTROL_PY_SIGNAL,
  CONTROL_SLOTS,
  CONTROL_STOP,
  StopReason,
  type GuestLimits,
  type RunContext,
  type RunOutcome,
  type RuntimeInstance,
} from '../../../../src/sandbox/runtimes/types.js';

export const LIMITS: GuestLimits = { timeoutMs: 10_000, memMb: 256, stdoutBytes: 1 << 20, stderrBytes: 1 << 20 };

export interface RunResult {
  outcome: RunOutcome;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * The host's half of the control array for a guest running in this very thread: a stop must come
 * from another thread (this one is busy running Python), so a tiny worker writes it after a delay.
 * Like the host (runtime-worker.ts), it repeats the signal every 50 ms until told to stop: Pyodide's
 * poll (read, then reset) can swallow a signal stored between the two, and with no hard stop in this
 * thread a swallowed one left a `while True: pass` spinning for good.
 */
export class Stopper {
  readonly control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
  private readonly worker: Worker;

  constructor() {
    this.worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const c = new Int32Array(workerData.sab);
       let timer, repeat;
       parentPort.on('message', (m) => {
         if (m.quiet) {
           clearTimeout(timer);
           clearInterval(repeat);
           parentPort.postMessage('quiet');
           return;
         }
         timer = setTimeout(() => {
           if (Atomics.compareExchange(c, ${CONTROL_STOP}, 0, m.reason) !== 0) return;
           Atomics.store(c, ${CONTROL_PY_SIGNAL}, 2);
           Atomics.notify(c, ${CONTROL_STOP});
           repeat = setInterval(() => Atomics.store(c, ${CONTROL_PY_SIGNAL}, 2), 50);
         }, m.ms);
       });`,
      { eval: true, workerData: { sab: this.control.buffer } },
    );
    this.worker.unref();
  }

  reset(): void {
    Atomics.store(this.control, CONTROL_STOP, StopReason.NONE);
    Atomics.store(this.control, CONTROL_PY_SIGNAL, 0);
  }

  stopAfter(ms: number, reason: StopReason = StopReason.TIMEOUT): void {
    this.worker.postMessage({ ms, reason });
  }

  /** Cancel a pending stop and its repeats, wait until the worker has, then reset: nothing stale reaches the next run. */
  async settle(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.worker.once('message', () => resolve());
      this.worker.postMessage({ quiet: true });
    });
    this.reset();
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

export async function runIn(
  instance: RuntimeInstance,
  stopper: Stopper,
  code: string,
  options: {
    limits?: Partial<GuestLimits>;
    stopAfterMs?: number;
    reason?: StopReason;
    sink?: (stream: 'stdout' | 'stderr', text: string) => void;
    /** The run's network path (present only when the policy enables the network). */
    fetchSync?: RunContext['fetchSync'];
  } = {},
): Promise<RunResult> {
  const limits = { ...LIMITS, ...options.limits };
  stopper.reset();
  if (options.stopAfterMs !== undefined) stopper.stopAfter(options.stopAfterMs, options.reason);
  const out = { stdout: '', stderr: '' };
  const t0 = performance.now();
  const outcome = await instance.run(code, {
    limits,
    deadline: Date.now() + limits.timeoutMs,
    output: {
      write(stream, text) {
        options.sink?.(stream, text);
        out[stream] += text;
      },
    },
    stopReason: () => Atomics.load(stopper.control, CONTROL_STOP) as StopReason,
    ...(options.fetchSync ? { fetchSync: options.fetchSync } : {}),
  });
  const ms = performance.now() - t0;
  // A stop that did not fire during this run, or its repeats, must not hit the next one.
  if (options.stopAfterMs !== undefined) await stopper.settle();
  else stopper.reset();
  return { outcome, ...out, ms };
}

/** A loopback TCP listener owned by the test: counts every connection a guest manages to open. */
export class Listener {
  connections = 0;
  private readonly server = net.createServer((socket) => {
    this.connections++;
    socket.destroy();
  });

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The parts of an outcome the tests look at, as one object (readable failure messages). */
export function summary(r: RunResult): { status: string; code?: string; type?: string; message?: string; result?: unknown; fatal?: boolean } {
  const o = r.outcome;
  if (o.status === 'ok') return o.result === undefined ? { status: 'ok' } : { status: 'ok', result: o.result };
  return { status: 'error', code: o.code, type: o.error.type, message: o.error.message, fatal: o.fatal };
}
