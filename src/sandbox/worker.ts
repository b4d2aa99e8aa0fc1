/**
 * Entry of a runtime worker thread: the shared execution pipeline. It loads one RuntimeAdapter,
 * keeps at most one guest state, and runs what the host main thread sends, one run at a time.
 * Nothing here is language-specific; the adapter is chosen once from `workerData.language`.
 */
import { parentPort, workerData } from 'node:worker_threads';
// First of our modules: takes the global `gc` away before a runtime loads or a guest runs.
import { collectGarbage, globalGcReachable } from './garbage.js';
import { ErrorCode, isSandboxError } from '../protocol/errors.js';
import { OutputBuffer } from './output-buffer.js';
import { guestStartMark } from './run-clock.js';
import { createSyncFetch } from './sync-fetch.js';
import { CONTROL_GUEST_STARTED, CONTROL_STOP, type GuestFetchRequest, type GuestFetchResult, type RuntimeAdapter, type RuntimeInstance, type RunOutcome, type StopReason } from './runtimes/types.js';
import type { WorkerData, WorkerFetchResult, WorkerReply, WorkerRunRequest } from './worker-messages.js';
import { IDLE_COLLECT_MS, startIdleCollector } from '../shared/idle-collector.js';

const data = workerData as WorkerData;
const port = parentPort!;
const control = new Int32Array(data.control);

function reply(msg: WorkerReply): void {
  port.postMessage(msg);
}

async function loadAdapter(): Promise<RuntimeAdapter> {
  if (data.language === 'js') return (await import('./runtimes/quickjs.js')).quickjsAdapter;
  return (await import('./runtimes/pyodide.js')).pyodideAdapter;
}

/** Network requests in flight, answered by the host main thread (which asks the front). */
const fetchWaiters = new Map<number, (result: GuestFetchResult) => void>();
let nextFetchId = 1;

function hostFetch(request: GuestFetchRequest): Promise<GuestFetchResult> {
  const fetchId = nextFetchId++;
  return new Promise((resolve) => {
    fetchWaiters.set(fetchId, resolve);
    reply({ t: 'fetch', fetchId, request });
  });
}

/** The same path for a runtime that must block (Python): answered on the fetch port. */
const hostFetchSync =
  data.fetchPort &&
  createSyncFetch(
    data.fetchPort,
    control,
    (fetchId, request) => reply({ t: 'fetch', fetchId, request, sync: true }),
    () => nextFetchId++,
  );

let adapter: RuntimeAdapter;
/**
 * Set when a runtime failed to release its state (a WebAssembly abort): the engine in this
 * thread can no longer be trusted, so the thread ends after answering and the host replaces it.
 */
let broken = false;

function disposeSafely(old: RuntimeInstance | undefined): void {
  if (!old) return;
  try {
    old.dispose();
  } catch {
    broken = true;
  }
}
let instance: RuntimeInstance | undefined;
let output: OutputBuffer | undefined;
/**
 * A clean instance made while the worker was idle, for the next sessionless run (reusable
 * adapters only), so a fresh run does not pay for creating its runtime.
 */
let prepared: { instance: RuntimeInstance; memMb: number } | undefined;

function prepareNext(memMb: number): void {
  if (!adapter.reusableWorker || prepared) return;
  setImmediate(() => {
    if (prepared) return;
    adapter
      .createInstance({ memMb, control })
      .then((next) => {
        if (prepared) next.dispose();
        else prepared = { instance: next, memMb };
      })
      .catch(() => undefined);
  });
}

async function freshInstance(memMb: number): Promise<RuntimeInstance> {
  const ready = prepared;
  prepared = undefined;
  if (ready && ready.memMb === memMb) return ready.instance;
  disposeSafely(ready?.instance);
  return adapter.createInstance({ memMb, control });
}

/**
 * Gives back what loading and runs left in this thread's JavaScript heap once it has been idle.
 * Without it, V8 kept that garbage until the heap filled: over a soak the Python session workers'
 * heaps grew from ~19 to ~28 MiB each. Guest memory (WebAssembly) is not touched.
 */
const idle = startIdleCollector({ idleMs: IDLE_COLLECT_MS, collect: collectGarbage });

async function run(req: WorkerRunRequest): Promise<void> {
  idle.touch();
  if (!output || output.sab !== req.output.sab) output = new OutputBuffer(req.output.sab, req.output.stdoutCap, req.output.stderrCap);
  const out = output;
  out.reset();
  let outcome: RunOutcome;
  try {
    if (req.fresh) {
      disposeSafely(instance);
      instance = undefined;
      if (broken) throw new Error('the runtime could not be reset');
      instance = await freshInstance(req.run.limits.memMb);
    }
    instance ??= await adapter.createInstance({ memMb: req.run.limits.memMb, control });
    const { limits } = req.run;
    // The guest's clock starts now, after any set-up; the host's timer reads this mark.
    const startedAt = Date.now();
    Atomics.store(control, CONTROL_GUEST_STARTED, guestStartMark(startedAt - req.dispatchedAt));
    outcome = await instance.run(req.run.code, {
      limits,
      deadline: startedAt + limits.timeoutMs,
      output: { write: (stream, text) => out.write(stream, text, stream === 'stdout' ? limits.stdoutBytes : limits.stderrBytes) },
      stopReason: () => Atomics.load(control, CONTROL_STOP) as StopReason,
      ...(req.run.typescript ? { typescript: true } : {}),
      ...(req.run.files ? { files: req.run.files } : {}),
      ...(req.run.input !== undefined ? { input: req.run.input } : {}),
      ...(req.run.network ? { fetch: hostFetch, ...(hostFetchSync ? { fetchSync: hostFetchSync } : {}) } : {}),
      ...(req.run.packages?.length ? { packages: req.run.packages } : {}),
    });
  } catch (e) {
    outcome =
      e instanceof RangeError
        ? // The engine's native stack overflowed (e.g. parsing 100,000 nested brackets): the
          // guest's doing, reported as its error; the state is discarded all the same.
          { status: 'error', code: ErrorCode.GUEST_ERROR, error: { type: 'RangeError', message: 'the code is nested too deeply to parse or run' }, fatal: true }
        : isSandboxError(e)
          ? // The adapter refused with a reason of its own (e.g. a memory limit too small for Python).
            { status: 'error', code: e.code, error: { type: 'SandboxError', message: e.message }, fatal: true }
          : // An adapter bug, not a guest error: report it without internals and discard the state.
          {
            status: 'error',
            code: ErrorCode.INTERNAL,
            error: { type: 'InternalError', message: `the runtime failed: ${e instanceof Error ? e.name : 'unknown error'}` },
            fatal: true,
          };
  }
  const discard = outcome.status === 'error' && outcome.fatal;
  // A state no later run will see is released now, before answering, so that a runtime which
  // cannot be released retires this worker instead of failing the next, innocent run.
  if (discard || (!req.keep && adapter.reusableWorker)) {
    disposeSafely(instance);
    instance = undefined;
  }
  // A worker that holds one state for life (Pyodide) cannot make another: once that state is
  // discarded, the worker must be replaced, or every later run of its session would fail. A worker
  // whose run hit the memory limit is replaced too: WebAssembly memory never shrinks, and a reused
  // worker would keep the high-water mark for its life (the soak saw 9 GB from QuickJS workers).
  const hitMemoryLimit = outcome.status === 'error' && outcome.code === ErrorCode.MEMORY;
  const retire = broken || (discard && (!adapter.reusableWorker || hitMemoryLimit));
  reply({ t: 'done', outcome, discarded: discard || broken, retire });
  if (retire) process.exit(70);
  idle.touch();
  if (req.fresh && !req.keep) prepareNext(req.run.limits.memMb);
}

try {
  if (globalGcReachable()) throw new Error('a global gc is reachable in this worker');
  adapter = await loadAdapter();
  if (data.mode === 'snapshot') {
    // A worker that only takes a memory snapshot of a fresh engine (never serves a guest).
    if (!adapter.makeSnapshot) throw new Error('this runtime has no snapshots');
    const snapshot = await adapter.makeSnapshot();
    reply({ t: 'snapshot', snapshot });
  } else {
    await adapter.load({ snapshot: data.snapshot, wasmModule: data.wasmModule, memMb: data.memMb });
    reply({ t: 'ready' });
    idle.touch();
  }
} catch (e) {
  reply({ t: 'load-failed', message: e instanceof Error ? `${e.name}: ${e.message}` : 'unknown' });
}

port.on('message', (msg: WorkerRunRequest | WorkerFetchResult) => {
  if (msg?.t === 'run') void run(msg);
  else if (msg?.t === 'fetch-result') {
    const waiter = fetchWaiters.get(msg.fetchId);
    fetchWaiters.delete(msg.fetchId);
    waiter?.(msg.result);
  }
});
