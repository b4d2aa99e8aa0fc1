/**
 * run_python on Pyodide: the only Python-specific code of the pipeline.
 *
 * One worker holds one interpreter (`reusableWorker: false`). `load()` boots Pyodide (from a memory
 * snapshot when given) and hardens it before any guest code exists; `createInstance()` only sets the
 * per-run limits (memory cap, interrupt buffer), so it is cheap on the first run of a pre-warmed worker.
 *
 * Hardening layers (each proven by its own test, see test/unit/sandbox/pyodide-*.test.ts):
 *  - `python`       convenience blocks with clear errors (import js / pyodide_js / pyodide.ffi / ctypes,
 *                   os.system, subprocess, sockets, gc scanning). Bypassable by design.
 *  - `wasm-imports` the interpreter's imports that reach the host (system(), socket syscalls, dlopen,
 *                   WebSockets) answer with refusals: holds even against a guest that corrupts memory.
 *  - `realm`        Pyodide's JS entry points are cut and the worker realm loses Node's capabilities,
 *                   code generation through `.constructor`, and mutable intrinsics: holds even when a
 *                   guest obtains a JsProxy.
 *  Always on: `js` is an empty object, stdin is EOF (never fd 0), output only through the sink,
 *  WebAssembly memory capped at memMb, no event-loop callback runs outside a run.
 * Outside all of them: the sandbox host's permission model and no code generation from strings.
 *
 * Files: each run sees exactly the session's files in Pyodide's in-memory filesystem, and what it
 * changed under the writable prefixes is read back out by pyodide/files.ts.
 */
import { ErrorCode, SandboxError } from '../../protocol/errors.js';
import type { JsonValue } from '../../protocol/json.js';
import { bootPyodide, compilePyodideWasm, pyodideDir, type Booted } from './pyodide/boot.js';
import { NETWORK_SOURCE, createNetworkBridge } from './pyodide/network.js';
import { FRESH_INTERPRETER_SOURCE, PY_HARDEN_SOURCE, RUNNER_SOURCE, SANDBOX_FILENAME, SNAPSHOT_PRELOAD_SOURCE } from './pyodide/python.js';
import { capFileMemory, emscriptenTree, runWithFiles, workingDirFor, type GuestTree } from './pyodide/files.js';
import { PACKAGES_SOURCE, installWheelFinder, type WheelShelf } from './pyodide/packages.js';
import { bakeSources, takePrecompiled } from './pyodide/precompiled.js';
import { closeHostStdin, cutPyodideEntryPoints, hardenRealm } from './pyodide/realm.js';
import {
  CONTROL_PY_SIGNAL,
  CONTROL_STOP,
  StopReason,
  type GuestErrorInfo,
  type InstanceOptions,
  type RunContext,
  type RunOutcome,
  type RuntimeAdapter,
  type RuntimeInstance,
} from './types.js';

const MiB = 1024 * 1024;
/** Headroom above the loaded interpreter's heap that `memMb` must leave, or no run could work. */
const MIN_HEADROOM_BYTES = 16 * MiB;
/** Largest JSON payload accepted from the interpreter (the Python side bounds it well below). */
const MAX_PAYLOAD_CHARS = 8 * MiB;
/** How long a cancelled async run may take to settle before the interpreter is given up. */
const CANCEL_GRACE_MS = 100;
/** Longest wait between two looks at the stop flag while an async run is pending. */
const STOP_POLL_MS = 50;

export type HardeningLayer = 'python' | 'wasm-imports' | 'realm';

export interface PyodideAdapterOptions {
  /**
   * TESTS ONLY: switch hardening layers off, to prove that each one holds on its own. Never set by
   * production code (nothing a policy or a guest controls reaches this).
   */
  unsafeDisableLayers?: readonly HardeningLayer[];
  /** The `pyodide` package directory (with a trailing slash); default: resolved from this module. */
  packageDir?: string;
}

export interface PyodideLoadOptions {
  /**
   * A memory snapshot from `makeSnapshot()` of the same Pyodide build; the caller checked its
   * integrity. Best backed by a SharedArrayBuffer: one copy per process, not one per worker.
   */
  snapshot?: Uint8Array;
  /** `pyodide.asm.wasm` compiled once (see `compileWasm`), shared by the host between workers. */
  wasmModule?: object;
}

export interface PyodideRuntimeAdapter extends RuntimeAdapter {
  load(options?: PyodideLoadOptions): Promise<void>;
  /**
   * A memory snapshot of a freshly booted interpreter with common modules imported, taken before any
   * hardening. Boots a separate interpreter: call it in a worker that does not serve guests (it
   * refuses after `load()` has hardened the realm).
   */
  makeSnapshot(): Promise<Uint8Array>;
  /** Compile `pyodide.asm.wasm` (e.g. on the host main thread) to pass as `load({ wasmModule })`. */
  compileWasm(): Promise<object>;
  /** Measurements of the last `load()`, for benchmarks. */
  readonly loadStats: { bootMs: number; hardenMs: number; heapBytes: number } | undefined;
}

// ---------------------------------------------------------------------------------------------
// Pyodide objects as this file sees them
// ---------------------------------------------------------------------------------------------

interface PyProxyLike {
  destroy(): void;
}
type PyCallableLike = PyProxyLike & ((...args: unknown[]) => unknown);
interface PyDictLike extends PyProxyLike {
  get(key: string): unknown;
}
interface PyTaskLike extends PyProxyLike, PromiseLike<unknown> {
  cancel(): unknown;
  done(): boolean;
}
interface Writer {
  write(buffer: Uint8Array): number;
  isatty: boolean;
}
interface PublicApi {
  runPython(code: string, options?: { globals?: unknown; filename?: string }): unknown;
  setStdin(options: { stdin: () => null; isatty: boolean }): void;
  setStdout(options: Writer): void;
  setStderr(options: Writer): void;
  setInterruptBuffer(buffer: Int32Array): void;
}

function isPyProxy(v: unknown): v is PyProxyLike {
  return typeof v === 'function' || (typeof v === 'object' && v !== null && typeof (v as { destroy?: unknown }).destroy === 'function');
}

function destroyQuietly(v: unknown): void {
  if (!isPyProxy(v)) return;
  try {
    v.destroy();
  } catch {
    // already destroyed, or the interpreter is gone
  }
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/** Routes the interpreter's byte streams to the current run's sink; drops anything between runs. */
class OutputRouter {
  private sink: RunContext['output'] | undefined;
  private caps = { stdout: 0, stderr: 0 };
  private sent = { stdout: 0, stderr: 0 };
  private decoders = { stdout: new TextDecoder('utf-8'), stderr: new TextDecoder('utf-8') };

  begin(ctx: RunContext): void {
    this.sink = ctx.output;
    this.caps = { stdout: ctx.limits.stdoutBytes, stderr: ctx.limits.stderrBytes };
    this.sent = { stdout: 0, stderr: 0 };
    this.decoders = { stdout: new TextDecoder('utf-8'), stderr: new TextDecoder('utf-8') };
  }

  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.decoders[stream].decode();
      if (rest) this.forward(stream, rest);
    }
    this.sink = undefined;
  }

  /** Pyodide's raw write handler. Never throws: a throwing handler makes Pyodide flood stderr. */
  writer(stream: 'stdout' | 'stderr'): Writer {
    return {
      isatty: false,
      write: (buffer: Uint8Array): number => {
        try {
          const n = buffer.length;
          // The sink drops what exceeds the cap; stop decoding well past it (it has seen the overflow).
          if (this.sink && this.sent[stream] <= this.caps[stream] + 4) {
            this.sent[stream] += n;
            const text = this.decoders[stream].decode(buffer, { stream: true });
            if (text) this.forward(stream, text);
          }
          return n;
        } catch {
          return buffer.length;
        }
      },
    };
  }

  /** Emscripten's own print/printErr (e.g. /dev/tty, loader warnings). */
  print(stream: 'stdout' | 'stderr', text: string): void {
    try {
      if (this.sink) this.forward(stream, stream === 'stderr' ? scrubHostPaths(text) : text);
    } catch {
      // never throw into Pyodide
    }
  }

  private forward(stream: 'stdout' | 'stderr', text: string): void {
    try {
      this.sink?.write(stream, text);
    } catch {
      // the sink's problem; never Pyodide's
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The event loop's scheduler
// ---------------------------------------------------------------------------------------------

/**
 * Pyodide's event loop runs every callback through one JavaScript function (setImmediate/setTimeout).
 * The gate replaces it: a callback runs only while the run that scheduled it is still going, so guest
 * code never executes between runs (outside any time limit), and an exception a callback throws (a
 * KeyboardInterrupt landing between two steps) never becomes an uncaught exception of the worker.
 */
class SchedulerGate {
  private generation = 0;
  private active = 0;

  constructor(private readonly schedule: (callback: () => void, delayMs: number) => void) {}

  begin(): void {
    this.active = ++this.generation;
  }

  end(): void {
    this.active = 0;
  }

  readonly gated = (callback: unknown, delayMs: unknown): void => {
    const owner = this.active;
    if (owner === 0 || typeof callback !== 'function') return;
    const delay = typeof delayMs === 'number' && delayMs > 0 ? Math.min(delayMs, 2 ** 31 - 1) : 0;
    this.schedule(() => {
      if (owner !== this.active) return;
      try {
        // Pyodide may call the step through its "promising" path and return a promise.
        const r = (callback as () => unknown)();
        if (r && typeof (r as PromiseLike<unknown>).then === 'function') (r as PromiseLike<unknown>).then(undefined, () => undefined);
      } catch {
        // A KeyboardInterrupt between two steps: the pending run notices the stop flag itself.
      }
    }, delay);
  };
}

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

let hostPathPatterns: RegExp[] = [];

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function setHostPaths(dir: string): void {
  const parts = [dir, dir.replace(/\/node_modules\/.*$/, '/')].filter((p) => p.length > 1);
  hostPathPatterns = [
    ...parts.map((p) => new RegExp(`(file://)?${escapeRegExp(p)}[^\\s'"):]*`, 'g')),
    /file:\/\/[^\s'"):]+/g,
    /\/[^\s'"():]*node_modules\/[^\s'"():]*/g,
  ];
}

/** Guest-visible text never carries host paths (Pyodide's JS errors can embed them). */
export function scrubHostPaths(text: string): string {
  let out = text;
  for (const re of hostPathPatterns) out = out.replace(re, '<host>');
  return out;
}

function stopOutcome(reason: StopReason, fatal: boolean, limits: RunContext['limits']): RunOutcome {
  if (reason === StopReason.CANCELLED) {
    return { status: 'error', code: ErrorCode.CANCELLED, error: { type: 'Cancelled', message: 'the run was cancelled' }, fatal };
  }
  return {
    status: 'error',
    code: ErrorCode.TIMEOUT,
    error: { type: 'Timeout', message: `the run exceeded its ${limits.timeoutMs} ms time limit` },
    fatal,
  };
}

function memoryOutcome(memMb: number, traceback?: string): RunOutcome {
  const error: GuestErrorInfo = { type: 'MemoryError', message: `the run exceeded its memory limit of ${memMb} MB` };
  if (traceback) error.traceback = traceback;
  return { status: 'error', code: ErrorCode.MEMORY, error, fatal: true };
}

interface Payload {
  ok: boolean;
  result?: JsonValue;
  type?: string;
  message?: string;
  traceback?: string;
  memory?: boolean;
  interrupt?: boolean;
}

/** Validate the interpreter's JSON payload. The guest could have tampered with the runner: trust nothing. */
function parsePayload(text: unknown): Payload | undefined {
  if (typeof text !== 'string' || text.length > MAX_PAYLOAD_CHARS) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const p = v as Record<string, unknown>;
  if (typeof p['ok'] !== 'boolean') return undefined;
  if (p['ok']) return 'result' in p ? { ok: true, result: p['result'] as JsonValue } : { ok: true };
  if (typeof p['type'] !== 'string' || typeof p['message'] !== 'string') return undefined;
  return {
    ok: false,
    type: p['type'],
    message: p['message'],
    traceback: typeof p['traceback'] === 'string' ? p['traceback'] : '',
    memory: p['memory'] === true,
    interrupt: p['interrupt'] === true,
  };
}

/**
 * V8's stack overflow inside the interpreter (e.g. CPython's compiler recursing over a 200,000-term
 * expression). Pyodide may hand it on wrapped, its text only in the wrapper's message.
 */
function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError || (e instanceof Error && String(e.message).includes('Maximum call stack size exceeded'));
}

/**
 * Pyodide wraps a JavaScript error without a string `stack` (this realm records none) in one whose
 * message quotes it; the quote names what actually failed.
 */
const WRAPPED_ERROR = /was thrown as an error!\nString interpolation of the thrown value gives """(.*)"""/s;

/** A JavaScript error that escaped Pyodide, as a short safe text. */
function describeJsError(e: unknown): { name: string; message: string } {
  if (!(e instanceof Error)) return { name: 'Error', message: 'unknown error' };
  let name = e.name || 'Error';
  let message = String(e.message);
  const quoted = WRAPPED_ERROR.exec(message)?.[1];
  if (quoted !== undefined) {
    const parts = /^(\w*Error): (.*)$/s.exec(quoted);
    [name, message] = parts ? [parts[1]!, parts[2]!] : ['Error', quoted];
  }
  return { name, message: scrubHostPaths(message.split('\n')[0] ?? '').slice(0, 500) };
}

// ---------------------------------------------------------------------------------------------
// The instance
// ---------------------------------------------------------------------------------------------

/** The run in progress (one interpreter per worker): the network bridge serves only its requests. */
let runningCtx: RunContext | undefined;

interface Runner {
  start: PyCallableLike;
  endRun: PyCallableLike;
  abortTask: PyCallableLike;
}

class PyodideInstance implements RuntimeInstance {
  private disposed = false;
  private workingDirChosen = false;
  private broken: RunOutcome | undefined;

  constructor(
    private readonly booted: Booted,
    private readonly runner: Runner,
    private readonly output: OutputRouter,
    private readonly gate: SchedulerGate,
    private readonly control: Int32Array,
    private readonly memMb: number,
    private readonly tree: GuestTree,
    private readonly wheels: WheelShelf,
  ) {}

  async run(code: string, ctx: RunContext): Promise<RunOutcome> {
    if (this.disposed) throw new SandboxError(ErrorCode.INTERNAL, 'the Python instance was disposed');
    if (this.broken) return this.broken;
    const early = ctx.stopReason();
    if (early !== StopReason.NONE) return stopOutcome(early, false, ctx.limits);
    this.wheels.beginRun(ctx.packages);
    return runWithFiles(this.tree, ctx.files, (text) => ctx.output.write('stderr', text), () => {
      this.chooseWorkingDir(ctx);
      return this.runCode(code, ctx);
    });
  }

  /** Once per interpreter, before its first code: then the directory is the guest's to change. */
  private chooseWorkingDir(ctx: RunContext): void {
    if (this.workingDirChosen) return;
    this.workingDirChosen = true;
    const dir = ctx.files && workingDirFor(ctx.files);
    if (dir === undefined) return;
    try {
      this.tree.chdir(dir);
    } catch {
      // Stays where Pyodide put it.
    }
  }

  private async runCode(code: string, ctx: RunContext): Promise<RunOutcome> {
    const refusalsBefore = this.booted.cap.refusals;
    this.output.begin(ctx);
    runningCtx = ctx;
    this.gate.begin();
    let payload: Payload | undefined;
    let raw: unknown;
    let thrown: unknown;
    let unsettled = false;
    try {
      raw = this.runner.start(code);
      if (typeof raw !== 'string' && isPyProxy(raw)) {
        const settled = await this.awaitTask(raw as unknown as PyTaskLike);
        unsettled = !settled.done;
        raw = settled.value;
      }
      payload = parsePayload(raw);
    } catch (e) {
      thrown = e;
    } finally {
      runningCtx = undefined;
      this.gate.end();
      try {
        this.runner.endRun();
      } catch {
        // the interpreter may be gone; handled below
      }
      this.output.end();
    }

    const outcome = this.outcome(ctx, payload, raw, thrown, unsettled, this.booted.cap.refusals > refusalsBefore);
    if (outcome.status === 'error' && outcome.fatal) this.broken = outcome;
    return outcome;
  }

  /**
   * Await an async run's Task, watching the stop flag. On a stop: cancel the Task; if it has not
   * settled shortly after, throw KeyboardInterrupt into its coroutine directly (see abort_task).
   */
  private async awaitTask(task: PyTaskLike): Promise<{ done: boolean; value?: unknown }> {
    let settled: { value?: unknown; error?: unknown; failed: boolean } | undefined;
    const finished = Promise.resolve(task).then(
      (value) => (settled = { value, failed: false }),
      (error: unknown) => (settled = { error, failed: true }),
    );
    const result = (): { done: boolean; value?: unknown } => {
      const s = settled as { value?: unknown; error?: unknown; failed: boolean } | undefined;
      if (!s) return { done: false };
      if (s.failed) throw s.error;
      return { done: true, value: s.value };
    };
    try {
      while (!settled) {
        if (Atomics.load(this.control, CONTROL_STOP) !== StopReason.NONE) break;
        const wait = Atomics.waitAsync(this.control, CONTROL_STOP, StopReason.NONE, STOP_POLL_MS);
        await Promise.race([finished, wait.async ? wait.value : Promise.resolve()]);
      }
      if (settled) return result();
      try {
        task.cancel();
      } catch {
        // best effort
      }
      await Promise.race([finished, new Promise((r) => setTimeout(r, CANCEL_GRACE_MS))]);
      if (settled) return result();
      const payload = this.runner.abortTask(task);
      if (typeof payload === 'string') return { done: true, value: payload };
      destroyQuietly(payload);
      return { done: false };
    } finally {
      destroyQuietly(task);
    }
  }

  private outcome(
    ctx: RunContext,
    payload: Payload | undefined,
    raw: unknown,
    thrown: unknown,
    unsettled: boolean,
    hitCap: boolean,
  ): RunOutcome {
    const stop = ctx.stopReason();
    const pythonError = thrown as { type?: unknown; message?: unknown } | undefined;
    const isPythonError = thrown instanceof Error && typeof pythonError?.type === 'string';

    // A JavaScript error escaping Pyodide (a wasm trap, a fatal error): the interpreter is done for.
    if (thrown !== undefined && !isPythonError) {
      if (hitCap || /out of memory|\bOOM\b|Cannot enlarge memory|memory limit/i.test(String((thrown as Error)?.message))) {
        return memoryOutcome(this.memMb);
      }
      if (stop !== StopReason.NONE) return stopOutcome(stop, true, ctx.limits);
      if (isStackOverflow(thrown)) {
        return {
          status: 'error',
          code: ErrorCode.GUEST_ERROR,
          error: { type: 'FatalError', message: "the Python runtime's stack overflowed (code nested too deeply to compile, or recursion too deep); its state was discarded" },
          fatal: true,
        };
      }
      const { name, message } = describeJsError(thrown);
      return {
        status: 'error',
        code: ErrorCode.GUEST_ERROR,
        error: { type: 'FatalError', message: `the Python runtime failed (${name}: ${message}); its state was discarded` },
        fatal: true,
      };
    }

    if (stop !== StopReason.NONE) {
      // The interrupt surfaced (or the guest caught it and went on): the host asked for a stop.
      const memory = payload?.memory === true || (isPythonError && pythonError?.type === 'MemoryError');
      if (memory) return memoryOutcome(this.memMb);
      return stopOutcome(stop, unsettled, ctx.limits);
    }

    if (isPythonError) {
      // An exception escaped the runner itself (e.g. raised while formatting): report its type only.
      const type = String(pythonError?.type).slice(0, 200);
      if (type === 'MemoryError') return memoryOutcome(this.memMb);
      return {
        status: 'error',
        code: ErrorCode.GUEST_ERROR,
        error: { type, message: `${type} escaped the sandbox runner` },
        fatal: type === 'SystemExit' ? false : true,
      };
    }

    if (!payload) {
      destroyQuietly(raw);
      return {
        status: 'error',
        code: ErrorCode.GUEST_ERROR,
        error: { type: 'SandboxResultError', message: 'the interpreter returned no valid result (was the sandbox runner tampered with?)' },
        fatal: true,
      };
    }

    if (payload.ok) return payload.result === undefined ? { status: 'ok' } : { status: 'ok', result: payload.result };

    const traceback = payload.traceback ? scrubHostPaths(payload.traceback) : undefined;
    // 137 only when the cap refused memory: a MemoryError the code raised itself (or CPython's for a
    // size it will not even try) is the guest's own error, and the interpreter is intact.
    if (payload.memory && hitCap) return memoryOutcome(this.memMb, traceback);
    const error: GuestErrorInfo = { type: payload.type ?? 'Exception', message: scrubHostPaths(payload.message ?? '') };
    if (traceback) error.traceback = traceback;
    return { status: 'error', code: ErrorCode.GUEST_ERROR, error, fatal: false };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // One interpreter per worker: the worker is discarded with it. Stop any further growth.
    this.booted.cap.bytes = Math.min(this.booted.cap.bytes, this.booted.cap.heapBytes());
  }
}

// ---------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------

/**
 * The interrupt buffer handed to Pyodide: a plain view of the control array's CONTROL_PY_SIGNAL slot.
 * Pyodide polls it with `v = buf[0]; buf[0] = 0` very often, so it must stay a real typed array (an
 * accessor here cost ~1.5× on compute). That poll can lose a SIGINT stored between its two accesses;
 * the host therefore re-posts the signal every 50 ms until the run has stopped (runtime-worker.ts).
 */
function signalSlot(control: Int32Array): Int32Array {
  return new Int32Array(control.buffer, control.byteOffset + CONTROL_PY_SIGNAL * 4, 1);
}

/** Every source `load()` runs, compiled into the snapshot by `makeSnapshot()` (see precompiled.ts). */
const LOAD_SOURCES = [RUNNER_SOURCE, PACKAGES_SOURCE, PY_HARDEN_SOURCE, NETWORK_SOURCE];

export function createPyodideAdapter(options: PyodideAdapterOptions = {}): PyodideRuntimeAdapter {
  const disabled = new Set<HardeningLayer>(options.unsafeDisableLayers ?? []);
  const layer = (l: HardeningLayer) => !disabled.has(l);
  const dir = options.packageDir ?? pyodideDir();
  setHostPaths(dir);

  const output = new OutputRouter();
  let loading: Promise<void> | undefined;
  let booted: Booted | undefined;
  let runner: Runner | undefined;
  let gate: SchedulerGate | undefined;
  let tree: GuestTree | undefined;
  let wheels: WheelShelf | undefined;
  let setInterruptBuffer: ((buffer: Int32Array) => void) | undefined;
  let instanceCreated = false;
  let realmHardened = false;
  let loadStats: PyodideRuntimeAdapter['loadStats'];

  async function doLoad(loadOptions: PyodideLoadOptions): Promise<void> {
    const t0 = performance.now();
    const b = await bootPyodide({
      dir,
      snapshot: loadOptions.snapshot,
      wasmModule: loadOptions.wasmModule,
      denyHostImports: layer('wasm-imports'),
      print: (stream, text) => output.print(stream, text),
    });
    const t1 = performance.now();
    const py = b.pyodide as unknown as PublicApi;

    // Capture what the adapter needs before the realm layer refuses it on the public object.
    const runPython = py.runPython.bind(py);
    setInterruptBuffer = py.setInterruptBuffer.bind(py);
    py.setStdin({ stdin: () => null, isatty: false });
    closeHostStdin(b.module);
    py.setStdout(output.writer('stdout'));
    py.setStderr(output.writer('stderr'));
    tree = emscriptenTree(b.module.FS);
    capFileMemory(b.module, () => b.cap.bytes);

    const freshDict = () => runPython('dict()') as PyDictLike;
    const sources = takePrecompiled(runPython, SANDBOX_FILENAME);
    const ns = freshDict();
    const fns = sources.run(RUNNER_SOURCE, ns) as PyDictLike;
    runner = {
      start: fns.get('start') as PyCallableLike,
      endRun: fns.get('end_run') as PyCallableLike,
      abortTask: fns.get('abort_task') as PyCallableLike,
    };
    const schedule = b.module.API['scheduleCallback'];
    if (typeof schedule !== 'function') throw new Error('unexpected Pyodide build: no scheduleCallback');
    gate = new SchedulerGate(schedule as (callback: () => void, delayMs: number) => void);
    const installScheduler = fns.get('install_scheduler') as PyCallableLike;
    installScheduler(gate.gated);
    installScheduler.destroy();
    fns.destroy();
    ns.destroy();
    wheels = installWheelFinder(sources.run, freshDict, tree);

    if (layer('python')) {
      const hardenNs = freshDict();
      sources.run(PY_HARDEN_SOURCE, hardenNs);
      hardenNs.destroy();
    }
    // pyfetch and urlopen: always installed; without a network in the run's policy they refuse.
    const netNs = freshDict();
    const installNetwork = sources.run(NETWORK_SOURCE, netNs) as PyCallableLike;
    installNetwork(createNetworkBridge(() => runningCtx), layer('python'));
    installNetwork.destroy();
    netNs.destroy();
    sources.close();
    const freshNs = freshDict();
    runPython(FRESH_INTERPRETER_SOURCE, { globals: freshNs, filename: SANDBOX_FILENAME });
    freshNs.destroy();

    if (layer('realm')) {
      cutPyodideEntryPoints(b.pyodide as unknown as Record<string, unknown>, b.module);
      hardenRealm();
      realmHardened = true;
    }
    booted = b;
    loadStats = { bootMs: t1 - t0, hardenMs: performance.now() - t1, heapBytes: b.cap.heapBytes() };
  }

  const adapter: PyodideRuntimeAdapter = {
    language: 'python',
    reusableWorker: false,

    get loadStats() {
      return loadStats;
    },

    load(loadOptions: PyodideLoadOptions = {}): Promise<void> {
      loading ??= doLoad(loadOptions);
      return loading;
    },

    async makeSnapshot(): Promise<Uint8Array> {
      if (realmHardened) throw new SandboxError(ErrorCode.INTERNAL, 'makeSnapshot() must run before load() hardens the worker');
      const b = await bootPyodide({ dir, makeSnapshot: true, denyHostImports: true, print: () => undefined });
      const py = b.pyodide as unknown as PublicApi & { makeMemorySnapshot(): Uint8Array; toPy(v: unknown): PyProxyLike };
      py.runPython(SNAPSHOT_PRELOAD_SOURCE, { filename: SANDBOX_FILENAME });
      bakeSources(py, LOAD_SOURCES, SANDBOX_FILENAME);
      return py.makeMemorySnapshot();
    },

    compileWasm(): Promise<object> {
      return compilePyodideWasm(dir);
    },

    async createInstance(instanceOptions: InstanceOptions): Promise<RuntimeInstance> {
      if (loading) await loading;
      if (!booted || !runner || !gate || !tree || !wheels || !setInterruptBuffer) throw new SandboxError(ErrorCode.INTERNAL, 'the Python runtime is not loaded');
      if (instanceCreated) {
        throw new SandboxError(ErrorCode.INTERNAL, 'a Python worker holds exactly one interpreter; start a new worker for a fresh state');
      }
      const capBytes = instanceOptions.memMb * MiB;
      const needed = booted.cap.heapBytes() + MIN_HEADROOM_BYTES;
      if (capBytes < needed) {
        throw new SandboxError(
          ErrorCode.RUNTIME_UNAVAILABLE,
          `Python needs a memory limit of at least ${Math.ceil(needed / MiB)} MB; the policy allows ${instanceOptions.memMb} MB`,
        );
      }
      instanceCreated = true;
      booted.cap.bytes = capBytes;
      const control = instanceOptions.control;
      setInterruptBuffer(signalSlot(control));
      return new PyodideInstance(booted, runner, output, gate, control, instanceOptions.memMb, tree, wheels);
    },
  };
  return adapter;
}

/** The adapter the worker pipeline loads for `language: 'python'`. */
export const pyodideAdapter: PyodideRuntimeAdapter = createPyodideAdapter();
