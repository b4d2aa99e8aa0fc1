/**
 * The sandbox host's handle on one runtime worker thread. It owns the hard backstop of every limit:
 * a soft stop through the shared control array first (QuickJS interrupt, Python KeyboardInterrupt),
 * then `worker.terminate()` after a short grace. Output survives termination because it lives in a
 * SharedArrayBuffer owned by this side.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { ErrorCode } from '../protocol/errors.js';
import { OutputBuffer, type CapturedOutput } from './output-buffer.js';
import { timeLeftMs } from './run-clock.js';
import { answerSyncFetch, ringForStop } from './sync-fetch.js';
import {
  CONTROL_GUEST_STARTED,
  CONTROL_IN_HOST_CALL,
  CONTROL_PY_SIGNAL,
  CONTROL_SLOTS,
  CONTROL_STOP,
  StopReason,
  type GuestFilesystem,
  type GuestFetchResult,
  type GuestLimits,
  type Language,
  type RunOutcome,
} from './runtimes/types.js';
import type { GuestRun, WorkerData, WorkerFetchResult, WorkerReply, WorkerRunRequest } from './worker-messages.js';

/** Passes a guest's network request on to the front; resolves with the front's answer. */
export type HostFetch = (request: unknown) => Promise<GuestFetchResult>;

const WORKER_URL = new URL('./worker.js', import.meta.url);
/** How often a stop signal is repeated until the guest has stopped. */
const RESIGNAL_MS = 50;
/**
 * How much longer than the grace a hard stop waits while the worker does host-side fs work for the
 * guest (CONTROL_IN_HOST_CALL): a 16 MiB file read as hex takes ~1.5 s here (several under load), and terminating during
 * it would discard every file the run wrote. New fs calls are refused once a stop is posted.
 */
const HOST_CALL_WAIT_MS = 5000;
/** Native stack of the worker thread; QuickJS and CPython recurse deeply. */
const WORKER_STACK_MB = 8;

export interface WorkerRunResult {
  outcome: RunOutcome;
  output: CapturedOutput;
  durationMs: number;
  /** The guest state is gone (terminated, crashed or discarded after a fatal error). */
  stateLost: boolean;
}

export interface RuntimeWorkerOptions {
  language: Language;
  memMb: number;
  graceMs: number;
  snapshot?: Uint8Array | undefined;
  wasmModule?: object | undefined;
}

let nextWorkerId = 1;

/**
 * A memory snapshot of a freshly loaded engine, taken in a throwaway worker that never serves a
 * guest (Pyodide: loading from it takes well under a second instead of several). Undefined when the
 * runtime has no snapshots or taking one failed.
 */
export function takeSnapshot(language: Language, memMb: number, wasmModule?: object): Promise<Uint8Array | undefined> {
  const data: WorkerData = { language, control: new SharedArrayBuffer(CONTROL_SLOTS * 4), memMb, mode: 'snapshot', wasmModule };
  const worker = new Worker(WORKER_URL, {
    workerData: data,
    stdout: true,
    stderr: true,
    stdin: false,
    env: {},
    resourceLimits: { stackSizeMb: WORKER_STACK_MB, maxOldGenerationSizeMb: 512, maxYoungGenerationSizeMb: 32 },
  });
  worker.stdout.resume();
  worker.stderr.resume();
  return new Promise((resolve) => {
    worker.on('message', (m: WorkerReply) => {
      if (m?.t === 'snapshot' && m.snapshot instanceof Uint8Array) resolve(m.snapshot);
      else resolve(undefined);
      void worker.terminate();
    });
    worker.on('error', () => resolve(undefined));
    worker.on('exit', () => resolve(undefined));
  });
}

export class RuntimeWorker {
  readonly id = nextWorkerId++;
  readonly language: Language;
  readonly memMb: number;
  readonly ready: Promise<void>;
  /** Whether this worker currently holds guest state that a next run could see. */
  hasState = false;
  private readonly worker: Worker;
  private readonly control: Int32Array;
  /** Where synchronous network requests are answered (see sync-fetch.ts). */
  private readonly fetchPort: MessagePort;
  private readonly graceMs: number;
  private output: OutputBuffer | undefined;
  private alive = true;
  private hasLoaded = false;
  private running: ((reply: WorkerReply | { t: 'exit'; code: number; oom: boolean }) => void) | undefined;
  private hardStop: NodeJS.Timeout | undefined;
  /** When the current run's first stop was posted (for the hard stop's bound). */
  private stopPostedAt: number | undefined;
  private terminated = false;
  private resignal: NodeJS.Timeout | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(options: RuntimeWorkerOptions) {
    this.language = options.language;
    this.memMb = options.memMb;
    this.graceMs = options.graceMs;
    const control = new SharedArrayBuffer(CONTROL_SLOTS * 4);
    this.control = new Int32Array(control);
    const channel = new MessageChannel();
    this.fetchPort = channel.port1;
    this.fetchPort.unref();
    const data: WorkerData = { language: options.language, control, memMb: options.memMb, snapshot: options.snapshot, wasmModule: options.wasmModule, fetchPort: channel.port2 };
    this.worker = new Worker(WORKER_URL, {
      workerData: data,
      transferList: [channel.port2],
      // The worker's own stdio never reaches the host's: guest output only travels via OutputBuffer.
      stdout: true,
      stderr: true,
      stdin: false,
      env: {},
      // A small young generation keeps each Python interpreter's JS heap near its floor.
      resourceLimits: { stackSizeMb: WORKER_STACK_MB, maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: options.language === 'python' ? 8 : 32 },
    });
    this.worker.stdout.resume();
    this.worker.stderr.resume();
    let oom = false;
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: WorkerReply) => {
        if (m?.t === 'ready') {
          this.hasLoaded = true;
          resolve();
        } else if (m?.t === 'load-failed') reject(new Error(`runtime failed to load: ${m.message}`));
        else if (m?.t === 'fetch') this.forwardFetch(m.fetchId, m.request, m.sync === true);
        else this.running?.(m);
      };
      this.worker.on('message', onMessage);
      this.worker.on('error', (e: Error & { code?: string }) => {
        if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') oom = true;
        reject(e);
      });
      this.worker.on('exit', (code) => {
        this.alive = false;
        this.fetchPort.close();
        this.hasState = false;
        clearTimeout(this.hardStop);
        reject(new Error(`runtime worker exited (${code})`));
        this.running?.({ t: 'exit', code, oom });
      });
    });
    this.ready.catch(() => undefined);
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** The engine has loaded (`ready` resolved). */
  get loaded(): boolean {
    return this.hasLoaded;
  }

  /** Runs are strictly one at a time per worker; a second call waits for the first. */
  /** The current run's way to the front's network broker (set for the duration of a run). */
  private onFetch: HostFetch | undefined;

  /**
   * A worker's network request: the worker realm is not trusted (Python shares it with the
   * guest), so the request is only passed on — the front validates and decides.
   */
  private forwardFetch(fetchId: number, request: unknown, sync: boolean): void {
    const handler = this.onFetch;
    const answer = (result: GuestFetchResult) => {
      if (!this.alive) return;
      if (sync) answerSyncFetch(this.fetchPort, this.control, fetchId, result);
      else this.worker.postMessage({ t: 'fetch-result', fetchId, result } satisfies WorkerFetchResult);
    };
    if (!handler || typeof fetchId !== 'number') {
      answer({ ok: false, code: 'E_POLICY_DENIED', message: 'network access is disabled by the policy' });
      return;
    }
    handler(request).then(answer, () => answer({ ok: false, code: 'E_NETWORK', message: 'the request failed' }));
  }

  run(guestRun: GuestRun, fresh: boolean, keep: boolean, signal?: AbortSignal, onFetch?: HostFetch): Promise<WorkerRunResult> {
    const next = this.tail.then(async () => {
      this.onFetch = onFetch;
      try {
        return await this.runNow(guestRun, fresh, keep, signal);
      } finally {
        this.onFetch = undefined;
      }
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  private async runNow(guestRun: GuestRun, fresh: boolean, keep: boolean, signal?: AbortSignal): Promise<WorkerRunResult> {
    const { limits } = guestRun;
    // Cancelled before it started: by the client, or by a reset that discarded this worker while it
    // was still loading (its load then fails with the exit, which is not the run's fault).
    const cancelled = () => signal?.aborted === true || Atomics.load(this.control, CONTROL_STOP) === StopReason.CANCELLED;
    const notRun = (): WorkerRunResult => ({
      outcome: { status: 'error', code: ErrorCode.CANCELLED, error: { type: 'Cancelled', message: 'the run was cancelled' }, fatal: false },
      output: { stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false },
      durationMs: 0,
      stateLost: fresh,
    });
    try {
      await this.ready;
    } catch (e) {
      if (cancelled()) return notRun();
      throw e;
    }
    if (!this.alive) {
      if (cancelled()) return notRun();
      throw new Error('runtime worker is not alive');
    }
    if (signal?.aborted) return notRun();
    const onAbort = () => this.stop(StopReason.CANCELLED);
    if (!this.output?.fits(limits.stdoutBytes, limits.stderrBytes)) {
      this.output = OutputBuffer.allocate(limits.stdoutBytes, limits.stderrBytes);
    }
    const output = this.output;
    output.reset();
    Atomics.store(this.control, CONTROL_STOP, StopReason.NONE);
    Atomics.store(this.control, CONTROL_PY_SIGNAL, 0);
    Atomics.store(this.control, CONTROL_GUEST_STARTED, 0);
    Atomics.store(this.control, CONTROL_IN_HOST_CALL, 0);
    const started = performance.now();
    const dispatchedAt = Date.now();
    const request: WorkerRunRequest = {
      t: 'run',
      run: guestRun,
      dispatchedAt,
      fresh,
      keep,
      output: { sab: output.sab, stdoutCap: output.stdoutCap, stderrCap: output.stderrCap },
    };
    // The time limit counts from the worker's start mark, not from here (run-clock.ts).
    let softStop: NodeJS.Timeout;
    const checkTime = () => {
      const left = timeLeftMs({ elapsedMs: Date.now() - dispatchedAt, mark: Atomics.load(this.control, CONTROL_GUEST_STARTED), timeoutMs: limits.timeoutMs });
      if (left > 0) softStop = setTimeout(checkTime, left);
      else this.stop(StopReason.TIMEOUT);
    };
    softStop = setTimeout(checkTime, limits.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const reply = await new Promise<WorkerReply | { t: 'exit'; code: number; oom: boolean }>((resolve) => {
        this.running = resolve;
        this.worker.postMessage(request);
      });
      const durationMs = performance.now() - started;
      if (reply.t === 'done') {
        this.hasState = keep && !reply.discarded;
        if (reply.retire) void this.terminate();
        return { outcome: reply.outcome, output: output.read(), durationMs, stateLost: reply.discarded || fresh };
      }
      const death = reply.t === 'exit' ? reply : { code: -1, oom: false };
      return { outcome: this.deathOutcome(death, limits), output: output.read(), durationMs, stateLost: true };
    } finally {
      signal?.removeEventListener('abort', onAbort);
      clearTimeout(softStop);
      clearInterval(this.resignal);
      this.resignal = undefined;
      Atomics.store(this.control, CONTROL_PY_SIGNAL, 0);
      clearTimeout(this.hardStop);
      this.hardStop = undefined;
      this.stopPostedAt = undefined;
      this.running = undefined;
    }
  }

  /** What a run that ended with the worker's death gets, by why the worker died. */
  private deathOutcome(reply: { code: number; oom: boolean }, limits: GuestLimits): RunOutcome {
    const reason = Atomics.load(this.control, CONTROL_STOP);
    if (reason === StopReason.TIMEOUT) {
      return { status: 'error', code: ErrorCode.TIMEOUT, error: { type: 'Timeout', message: `the run exceeded its ${limits.timeoutMs} ms time limit` }, fatal: true };
    }
    if (reason === StopReason.CANCELLED) {
      return { status: 'error', code: ErrorCode.CANCELLED, error: { type: 'Cancelled', message: 'the run was cancelled' }, fatal: true };
    }
    if (reply.oom) {
      return { status: 'error', code: ErrorCode.MEMORY, error: { type: 'MemoryError', message: 'the run exceeded its memory limit' }, fatal: true };
    }
    return { status: 'error', code: ErrorCode.SANDBOX_CRASHED, error: { type: 'SandboxError', message: 'the runtime crashed; its state was discarded' }, fatal: true };
  }

  /** Ask the guest to stop; if it has not stopped after the grace period, terminate the thread. */
  stop(reason: StopReason): void {
    if (!this.alive || !this.running) return;
    if (Atomics.compareExchange(this.control, CONTROL_STOP, StopReason.NONE, reason) === StopReason.NONE) {
      Atomics.store(this.control, CONTROL_PY_SIGNAL, 2);
      Atomics.notify(this.control, CONTROL_STOP);
      ringForStop(this.control);
      // Pyodide's poll (read, then reset) can swallow a signal stored between the two: repeat it
      // until the run ends; terminate() after the grace stays the backstop.
      this.resignal ??= setInterval(() => Atomics.store(this.control, CONTROL_PY_SIGNAL, 2), RESIGNAL_MS);
    }
    this.stopPostedAt ??= Date.now();
    this.hardStop ??= setTimeout(() => this.hardStopUnlessInHostCall(), this.graceMs);
  }

  /**
   * The backstop: terminate, unless fs work holding the run's files is still going (bounded). Once
   * such work ends, the guest gets one more grace to stop and report, as it had when the stop came.
   */
  private hardStopUnlessInHostCall(waitedForHostCall = false): void {
    const waited = Date.now() - (this.stopPostedAt ?? 0);
    // Only run_js's fs sets the flag; a Python worker's slot is never believed (a guest loose in its
    // realm could set it), and for JavaScript the wait stays bounded whatever the slot says.
    if (this.running && this.language === 'js' && waited < this.graceMs + HOST_CALL_WAIT_MS) {
      if (Atomics.load(this.control, CONTROL_IN_HOST_CALL) === 1) {
        this.hardStop = setTimeout(() => this.hardStopUnlessInHostCall(true), RESIGNAL_MS);
        return;
      }
      if (waitedForHostCall) {
        this.hardStop = setTimeout(() => void this.terminate(), this.graceMs);
        return;
      }
    }
    void this.terminate();
  }

  /** End the worker now (its session was dropped): a run in progress ends as cancelled (130). */
  discard(): Promise<void> {
    Atomics.compareExchange(this.control, CONTROL_STOP, StopReason.NONE, StopReason.CANCELLED);
    return this.terminate();
  }

  /** Terminated by us (a discard, a hard stop, the pool closing), not by a failure of its own. */
  get endedOnPurpose(): boolean {
    return this.terminated;
  }

  async terminate(): Promise<void> {
    if (!this.alive) return;
    this.terminated = true;
    this.alive = false;
    this.hasState = false;
    this.fetchPort.close();
    await this.worker.terminate();
  }
}
