/**
 * run_js on QuickJS (quickjs-emscripten, sync release variant). The guest realm is the QuickJS VM;
 * this file is its host side and the only JavaScript-specific code of the pipeline.
 */
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from 'quickjs-emscripten-core';
import { ErrorCode } from '../../protocol/errors.js';
import type { JsonValue } from '../../protocol/json.js';
import { GuestFs, GuestFsError } from '../guest-fs.js';
import { installFs } from './quickjs-fs.js';
import { QuickJsFetch } from './quickjs-fetch.js';
import { readExactString } from './quickjs-strings.js';
import { INTRINSICS_SOURCE } from './quickjs-intrinsics.js';
import { stripTypes, TYPESCRIPT_FILENAME } from './typescript.js';
import { rewriteRedeclarations, rewriteTopLevelAwait } from './js-rewrite.js';
import {
  CONTROL_IN_HOST_CALL,
  CONTROL_STOP,
  StopReason,
  type EngineInputs,
  type InstanceOptions,
  type RunContext,
  type RunOutcome,
  type RuntimeAdapter,
  type RuntimeInstance,
} from './types.js';

const MiB = 1024 * 1024;
/** QuickJS's own stack limit; the worker thread's native stack is larger (stackSizeMb). */
const QUICKJS_STACK_BYTES = 1 * MiB;
/** Most timers a run may keep pending at once. */
const MAX_TIMERS = 10_000;

/**
 * A timer's delay as Node reads it: a number or numeric string (never coerced through guest code);
 * NaN, under 1 or over 2^31-1 ms (Infinity included) becomes 1 ms.
 */
export function timerDelay(raw: number | string | undefined): number {
  const n = typeof raw === 'string' ? Number(raw) : raw;
  return n === undefined || !(n >= 1 && n <= 2 ** 31 - 1) ? 1 : Math.trunc(n);
}
/** Longest single idle wait, so a stop request is noticed promptly even without a notify. */
const MAX_IDLE_WAIT_MS = 50;
const MAX_TEXT = 64 * 1024;
/**
 * Reads a property without running guest code: walks the prototype chain (so
 * `TypeError.prototype.name` is found) but returns data properties only, never calls a getter.
 */
const DATA_PROPERTY_READER_SOURCE =
  '(() => { const g = Object.getOwnPropertyDescriptor, h = Object.hasOwn, p = Object.getPrototypeOf; return (o, k) => { for (let i = 0; i < 32 && o !== null; i++, o = p(o)) { const d = g(o, k); if (d) return h(d, "value") ? d.value : undefined; } return undefined; }; })()';
/** Extra allocation allowed only while an error is described (see errorOutcome). */
const ERROR_HEADROOM_BYTES = 1 * MiB;
/** A heap this close to its limit when a bare null was thrown ran out of memory (see heapNearLimit). */
const NEAR_LIMIT = 0.97;

function memoryLimitOutcome(): RunOutcome {
  return { status: 'error', code: ErrorCode.MEMORY, error: { type: 'MemoryError', message: 'the run exceeded its memory limit' }, fatal: true };
}

let wasmModule: QuickJSWASMModule | undefined;

/**
 * QuickJS's own memory limit does not count ArrayBuffer contents (typed arrays grew to the 2 GB
 * WebAssembly maximum under a 32 MB limit). So a worker's whole WebAssembly memory gets a maximum:
 * the runs' memory limit plus room for the engine itself; past it allocations fail, which QuickJS
 * reports as out of memory (137), and the worker is replaced (worker.ts) since memory never shrinks.
 */
const ENGINE_OVERHEAD_MB = 32;
/** The largest memory the QuickJS WebAssembly module accepts (its declared maximum, 2 GiB). */
const QUICKJS_MAX_PAGES = 32768;
const INITIAL_PAGES = 256;
interface WasmMemoryApi {
  WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer } };
}
let engineMemory: { readonly buffer: ArrayBuffer; maxBytes: number } | undefined;

/** The worker's WebAssembly memory is (nearly) at its maximum: an allocation failure was the memory limit. */
function engineMemoryExhausted(): boolean {
  return engineMemory !== undefined && engineMemory.buffer.byteLength >= engineMemory.maxBytes - 2 * MiB;
}

interface Timer {
  id: number;
  due: number;
  interval: number | undefined;
  fn: QuickJSHandle;
  args: QuickJSHandle[];
}

/** At most `max` characters, the last one an ellipsis when cut (the wire limits are exact). */
/** A stack overflow's traceback is thousands of the same frame: keep its top and bottom. */
export function fewerFrames(traceback: string, head = 40, tail = 5): string {
  const lines = traceback.split('\n');
  if (lines.length <= head + tail + 1) return traceback;
  return [...lines.slice(0, head), `    ... ${lines.length - head - tail} more frames`, ...lines.slice(-tail)].join('\n');
}

function clip(text: string, max = MAX_TEXT): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

class QuickJsInstance implements RuntimeInstance {
  private readonly runtime: QuickJSRuntime;
  private readonly context: QuickJSContext;
  private readonly control: Int32Array;
  private readonly helpers: {
    toJson: QuickJSHandle;
    format: QuickJSHandle;
    tooBig: QuickJSHandle;
    bytesOf: QuickJSHandle;
    toU8: QuickJSHandle;
    makeStat: QuickJSHandle;
    makeDirents: QuickJSHandle;
    fromJson: QuickJSHandle;
    quote: QuickJSHandle;
  };
  private current: RunContext | undefined;
  /** The run's filesystem: rebuilt from the front's files at the start of every run. */
  private fs: GuestFs | undefined;
  private readonly net: QuickJsFetch;
  private readonly memLimit: number;
  /** `(o, k) => data property value (own or inherited) or undefined`; see DATA_PROPERTY_READER_SOURCE. */
  private readonly getOwnDescriptorValue: QuickJSHandle;
  private interrupted = false;
  private timers = new Map<number, Timer>();
  private nextTimerId = 1;

  constructor(module: QuickJSWASMModule, options: InstanceOptions) {
    this.control = options.control;
    this.runtime = module.newRuntime();
    // The engine's whole memory is at most 2 GiB (QUICKJS_MAX_PAGES), and its limit a 32-bit size.
    this.memLimit = Math.min(options.memMb, QUICKJS_MAX_PAGES / 16 - ENGINE_OVERHEAD_MB) * MiB;
    this.runtime.setMemoryLimit(this.memLimit);
    this.runtime.setMaxStackSize(QUICKJS_STACK_BYTES);
    this.runtime.setInterruptHandler(() => this.shouldInterrupt());
    this.context = this.runtime.newContext();
    this.helpers = this.installIntrinsics();
    // Captured now, before any guest code can replace Object.getOwnPropertyDescriptor & co.
    this.getOwnDescriptorValue = this.context.unwrapResult(this.context.evalCode(DATA_PROPERTY_READER_SOURCE, 'intrinsics.js'));
    this.installConsole();
    this.installTimers();
    installFs(this.context, { ...this.helpers, dataProp: this.getOwnDescriptorValue }, () => this.fs, (work) => this.hostCall(work));
    this.net = new QuickJsFetch(this.context, this.helpers, {
      current: () => this.current?.fetch,
      // Wake the event loop's idle wait (it waits on the control slot).
      settled: () => Atomics.notify(this.control, CONTROL_STOP),
    });
  }

  /**
   * fs work done for the guest. Refused once the run must stop (so a loop of them ends at the next
   * interrupt check); flagged while it runs, so the host's hard stop waits for it, within a bound,
   * instead of terminating the worker with the run's file changes in it.
   */
  private hostCall<T>(work: () => T): T {
    if (this.shouldInterrupt()) throw new GuestFsError('EINTR', 'fs', undefined, 'the run is stopping');
    const flag = this.control.length > CONTROL_IN_HOST_CALL;
    if (flag) Atomics.store(this.control, CONTROL_IN_HOST_CALL, 1);
    try {
      return work();
    } finally {
      if (flag) Atomics.store(this.control, CONTROL_IN_HOST_CALL, 0);
    }
  }

  private shouldInterrupt(): boolean {
    if (this.interrupted) return true;
    const ctx = this.current;
    // Only guest code is interrupted: setting up a runtime (which may be slow on a loaded machine)
    // must not fail because the run's clock is already ticking.
    if (!ctx) return false;
    if (Atomics.load(this.control, CONTROL_STOP) !== StopReason.NONE || (ctx && Date.now() > ctx.deadline)) {
      this.interrupted = true;
    }
    return this.interrupted;
  }

  private installIntrinsics() {
    const r = this.context.evalCode(INTRINSICS_SOURCE, 'intrinsics.js');
    const obj = this.context.unwrapResult(r);
    const helpers = {
      toJson: this.context.getProp(obj, 'toJson'),
      format: this.context.getProp(obj, 'format'),
      tooBig: this.context.getProp(obj, 'TOO_BIG'),
      bytesOf: this.context.getProp(obj, 'bytesOf'),
      toU8: this.context.getProp(obj, 'toU8'),
      makeStat: this.context.getProp(obj, 'makeStat'),
      makeDirents: this.context.getProp(obj, 'makeDirents'),
      fromJson: this.context.getProp(obj, 'fromJson'),
      quote: this.context.getProp(obj, 'quote'),
    };
    obj.dispose();
    return helpers;
  }

  private write(stream: 'stdout' | 'stderr', text: string): void {
    this.current?.output.write(stream, text);
  }

  /** Render console arguments with the pre-captured formatter, in the guest realm, bounded. */
  private formatArgs(args: QuickJSHandle[]): string {
    const parts: string[] = [];
    for (const arg of args) {
      if (this.context.typeof(arg) === 'string') {
        try {
          parts.push(readExactString(this.context, this.helpers, arg));
        } catch {
          parts.push('[unprintable]');
        }
        continue;
      }
      const r = this.context.callFunction(this.helpers.format, this.context.undefined, arg);
      if (r.error) {
        r.error.dispose();
        parts.push('[unprintable]');
        continue;
      }
      let text = '[unprintable]';
      if (this.context.typeof(r.value) === 'string') {
        try {
          text = readExactString(this.context, this.helpers, r.value);
        } catch {
          // keep the placeholder
        }
      }
      parts.push(text);
      r.value.dispose();
    }
    return parts.join(' ');
  }

  private installConsole(): void {
    const vm = this.context;
    const consoleObj = vm.newObject();
    const bind = (name: string, stream: 'stdout' | 'stderr') => {
      const fn = vm.newFunction(name, (...args) => {
        const text = this.formatArgs(args);
        this.write(stream, text.endsWith('\n') ? text : `${text}\n`);
      });
      vm.setProp(consoleObj, name, fn);
      fn.dispose();
    };
    // dir and table print what log prints: agents reach for them, and a missing method throws.
    for (const name of ['log', 'info', 'debug', 'trace', 'dir', 'table']) bind(name, 'stdout');
    for (const name of ['error', 'warn']) bind(name, 'stderr');
    vm.setProp(vm.global, 'console', consoleObj);
    consoleObj.dispose();
  }

  private installTimers(): void {
    const vm = this.context;
    const add = (interval: boolean) => (fn: QuickJSHandle, delay?: QuickJSHandle, ...args: QuickJSHandle[]) => {
      if (fn === undefined || vm.typeof(fn) !== 'function') return { error: vm.newError({ name: 'TypeError', message: 'callback must be a function' }) };
      if (this.timers.size >= MAX_TIMERS) return { error: vm.newError({ name: 'RangeError', message: `more than ${MAX_TIMERS} timers` }) };
      const ms = timerDelay(delay === undefined ? undefined : vm.typeof(delay) === 'number' ? vm.getNumber(delay) : vm.typeof(delay) === 'string' ? readExactString(vm, this.helpers, delay) : undefined);
      const id = this.nextTimerId++;
      this.timers.set(id, { id, due: Date.now() + ms, interval: interval ? Math.max(ms, 1) : undefined, fn: fn.dup(), args: args.map((a) => a.dup()) });
      return vm.newNumber(id);
    };
    const clear = (idHandle?: QuickJSHandle) => {
      if (!idHandle || vm.typeof(idHandle) !== 'number') return;
      const timer = this.timers.get(vm.getNumber(idHandle));
      if (timer) this.dropTimer(timer);
    };
    for (const [name, impl] of [
      ['setTimeout', add(false)],
      ['setInterval', add(true)],
      ['clearTimeout', clear],
      ['clearInterval', clear],
    ] as const) {
      const fn = vm.newFunction(name, impl as never);
      vm.setProp(vm.global, name, fn);
      fn.dispose();
    }
  }

  private dropTimer(timer: Timer): void {
    this.timers.delete(timer.id);
    timer.fn.dispose();
    for (const a of timer.args) a.dispose();
  }

  private clearTimers(): void {
    for (const t of [...this.timers.values()]) this.dropTimer(t);
  }

  /** Fire every due timer once. Returns an error handle if a callback threw uncaught. */
  private fireDueTimers(): QuickJSHandle | undefined {
    const now = Date.now();
    const due = [...this.timers.values()].filter((t) => t.due <= now).sort((a, b) => a.due - b.due || a.id - b.id);
    for (const t of due) {
      if (!this.timers.has(t.id)) continue;
      if (t.interval === undefined) this.timers.delete(t.id);
      else t.due = now + t.interval;
      const r = this.context.callFunction(t.fn, this.context.undefined, ...t.args);
      if (t.interval === undefined) {
        t.fn.dispose();
        for (const a of t.args) a.dispose();
      }
      if (r.error) return r.error;
      r.value.dispose();
    }
    return undefined;
  }

  private nextTimerDue(): number | undefined {
    let min: number | undefined;
    for (const t of this.timers.values()) if (min === undefined || t.due < min) min = t.due;
    return min;
  }

  private async idle(untilMs: number): Promise<void> {
    const ms = Math.max(0, Math.min(untilMs - Date.now(), MAX_IDLE_WAIT_MS));
    // Wakes early when the host posts a stop (it calls Atomics.notify on CONTROL_STOP).
    const w = Atomics.waitAsync(this.control, CONTROL_STOP, StopReason.NONE, ms);
    if (w.async) await w.value;
  }

  /**
   * The event loop: promise jobs, then timers, until `promise` has settled and nothing is left to
   * do — or until the run is stopped. Returns an uncaught error handle, if any.
   */
  private async drive(promise: QuickJSHandle | undefined): Promise<QuickJSHandle | 'stuck' | undefined> {
    for (;;) {
      if (this.shouldInterrupt()) return undefined;
      const jobs = this.runtime.executePendingJobs(-1);
      if (jobs.error) return jobs.error;
      const timerError = this.fireDueTimers();
      if (timerError) return timerError;
      if (this.runtime.hasPendingJob()) continue;
      const next = this.nextTimerDue();
      if (next === undefined && this.net.inFlight === 0) {
        return promise && this.promisePending(promise) ? 'stuck' : undefined;
      }
      // Requests in flight keep the loop alive; their answers wake it early.
      await this.idle(Math.min(next ?? Infinity, this.current!.deadline + 1));
    }
  }

  private stopOutcome(): RunOutcome {
    // Promise jobs still queued (a microtask flood) would run again in the session's next cell and
    // QuickJS cannot drop them: such a runtime is discarded; otherwise the session keeps its state.
    const fatal = this.runtime.hasPendingJob();
    const reason = Atomics.load(this.control, CONTROL_STOP);
    if (reason === StopReason.CANCELLED) {
      return { status: 'error', code: ErrorCode.CANCELLED, error: { type: 'Cancelled', message: 'the run was cancelled' }, fatal };
    }
    const ms = this.current?.limits.timeoutMs ?? 0;
    return { status: 'error', code: ErrorCode.TIMEOUT, error: { type: 'Timeout', message: `the run exceeded its ${ms} ms time limit` }, fatal };
  }

  /** Describe a thrown guest value without trusting it: own data properties only, strings only. */
  private errorOutcome(handle: QuickJSHandle): RunOutcome {
    // An error that surfaces after the deadline (e.g. a request cut by it) is the time limit's doing.
    if (this.interrupted || (this.current && Date.now() >= this.current.deadline)) return this.stopOutcome();
    // Describing the error needs a little memory, which a runtime that just ran out has not got.
    this.runtime.setMemoryLimit(this.memLimit + ERROR_HEADROOM_BYTES);
    try {
      const outcome = this.describeError(handle);
      // When even QuickJS's "out of memory" error could not be allocated, the exception is a bare
      // null: nothing to describe. Then the heap itself tells whether the limit was hit.
      if (outcome.status === 'error' && outcome.code === ErrorCode.GUEST_ERROR && outcome.error.message === '' && (this.heapNearLimit() || engineMemoryExhausted())) {
        return memoryLimitOutcome();
      }
      return outcome;
    } finally {
      this.runtime.setMemoryLimit(this.memLimit);
    }
  }

  /** Whether the runtime's allocations are within a few percent of its limit (QuickJS's own accounting). */
  private heapNearLimit(): boolean {
    let report: string;
    try {
      report = this.runtime.dumpMemoryUsage();
    } catch {
      return true; // it could not even report: as good as out of memory
    }
    const allocated = /memory allocated\s+\d+\s+(\d+)/.exec(report);
    return allocated !== null && Number(allocated[1]) >= this.memLimit * NEAR_LIMIT;
  }

  /** A string data property (own or inherited) of a guest object, read exactly; no getter runs. */
  private dataString(handle: QuickJSHandle, key: string): string | undefined {
    const vm = this.context;
    const keyHandle = vm.newString(key);
    const d = vm.callFunction(this.getOwnDescriptorValue, vm.undefined, handle, keyHandle);
    keyHandle.dispose();
    if (d.error) {
      d.error.dispose();
      return undefined;
    }
    try {
      return vm.typeof(d.value) === 'string' ? readExactString(vm, this.helpers, d.value) : undefined;
    } catch {
      return undefined;
    } finally {
      d.value.dispose();
    }
  }

  private describeError(handle: QuickJSHandle): RunOutcome {
    const vm = this.context;
    const exact = (h: QuickJSHandle): string | undefined => {
      try {
        return readExactString(vm, this.helpers, h);
      } catch {
        return undefined;
      }
    };
    let type = 'Error';
    let message = '';
    let traceback: string | undefined;
    if (vm.typeof(handle) === 'object') {
      const read = (key: string) => this.dataString(handle, key);
      type = read('name') ?? 'Error';
      message = read('message') ?? '';
      traceback = read('stack');
    } else {
      const r = vm.callFunction(this.helpers.format, vm.undefined, handle);
      if (!r.error) {
        message = vm.typeof(r.value) === 'string' ? (exact(r.value) ?? '') : '';
        r.value.dispose();
      } else r.error.dispose();
      type = 'Uncaught';
    }
    // A getter or Proxy trap on the thrown value is guest code: it may have run out the clock.
    if (this.interrupted) return this.stopOutcome();
    if (type === 'InternalError' && message === 'out of memory') return memoryLimitOutcome();
    const error = { type: clip(type, 200), message: clip(message), ...(traceback ? { traceback: clip(fewerFrames(traceback.replace(/\n$/, ''))) } : {}) };
    return { status: 'error', code: ErrorCode.GUEST_ERROR, error, fatal: false };
  }

  private resultOf(handle: QuickJSHandle): { result?: JsonValue; note?: string } {
    const vm = this.context;
    const kind = vm.typeof(handle);
    if (kind === 'undefined' || kind === 'function' || kind === 'symbol') return {};
    const max = Math.max(1024, this.current!.limits.stdoutBytes);
    const maxHandle = vm.newNumber(max);
    const r = vm.callFunction(this.helpers.toJson, vm.undefined, handle, maxHandle);
    maxHandle.dispose();
    if (r.error) {
      r.error.dispose();
      return { note: '[result omitted: it could not be converted to JSON]' };
    }
    try {
      if (vm.sameValue(r.value, this.helpers.tooBig)) return { note: `[result omitted: larger than ${max} characters of JSON or nested too deeply]` };
      if (vm.typeof(r.value) !== 'string') return {};
      return { result: JSON.parse(vm.getString(r.value)) as JsonValue };
    } catch {
      return { note: '[result omitted: it could not be converted to JSON]' };
    } finally {
      r.value.dispose();
    }
  }

  private evaluate(source: string, filename: string): { value?: QuickJSHandle; error?: QuickJSHandle } {
    // Top-level let/const/class become var-style globals, so a session can run `const x = …`
    // again like a notebook cell. Only parsed when such a keyword appears at all.
    const code = /\b(?:let|const|class)\b/.test(source) ? (rewriteRedeclarations(source) ?? source) : source;
    // A cell with top-level await runs wrapped in an async function. Decided before anything runs:
    // in a plain script, `await (x)` is a call of a function named await, not a syntax error.
    const awaited = /\bawait\b/.test(code) ? rewriteTopLevelAwait(code) : undefined;
    if (awaited !== undefined) {
      const wrapped = this.context.evalCode(awaited, filename, { type: 'global' });
      if (!wrapped.error) return { value: wrapped.value };
      if (this.interrupted || !this.isSyntaxError(wrapped.error)) return { error: wrapped.error };
      // The wrapper did not compile where the parser thought it would: the cell speaks for itself.
      wrapped.error.dispose();
    }
    const plain = this.context.evalCode(code, filename, { type: 'global' });
    if (!plain.error) return { value: plain.value };
    if (awaited === undefined && /\bawait\b/.test(code) && !this.interrupted && this.isSyntaxError(plain.error)) {
      // A cell with await that does not parse: as a script it fails at its first await, whatever the
      // real mistake. Compiled (not run) as a module, where await is allowed, the error names its line.
      const asModule = this.context.evalCode(code, filename, { type: 'module', compileOnly: true });
      if (asModule.error && this.isSyntaxError(asModule.error)) {
        plain.error.dispose();
        return { error: asModule.error };
      }
      if (asModule.error) asModule.error.dispose();
      else asModule.value.dispose();
    }
    return { error: plain.error };
  }

  /** Read as errors are described: a data property only, so no guest getter runs. */
  private isSyntaxError(error: QuickJSHandle): boolean {
    return this.context.typeof(error) === 'object' && this.dataString(error, 'name') === 'SyntaxError';
  }

  /** `globalThis.input` = the value, built in the guest realm from JSON by a pre-captured JSON.parse. */
  private defineInput(value: JsonValue): void {
    const vm = this.context;
    const text = vm.newString(JSON.stringify(value));
    const r = vm.callFunction(this.helpers.fromJson, vm.undefined, text);
    text.dispose();
    const handle = vm.unwrapResult(r);
    vm.setProp(vm.global, 'input', handle);
    handle.dispose();
  }

  async run(source: string, ctx: RunContext): Promise<RunOutcome> {
    let code = source;
    if (ctx.typescript) {
      // Before anything of the run exists: code whose types cannot be stripped never starts.
      const stripped = stripTypes(source);
      if (!stripped.ok) return { status: 'error', code: stripped.code, error: stripped.error, fatal: false };
      code = stripped.code;
    }
    // Files never carry over from an earlier run: the front's store is the truth, and it may have
    // refused some of that run's changes.
    const fs = new GuestFs(ctx.files);
    this.fs = fs;
    try {
      if (ctx.input !== undefined) this.defineInput(ctx.input);
      this.net.beginRun(ctx.fetch !== undefined);
      let outcome: RunOutcome;
      try {
        outcome = await this.runCode(code, ctx);
      } catch (e) {
        // The engine's whole memory ran out where the host copies bytes in (a big file read again
        // and again): the WebAssembly instance traps. That is the memory limit, and the run keeps
        // its files (they live here, not in the engine); the runtime is discarded.
        if ((e as Error)?.name !== 'RuntimeError' || !engineMemoryExhausted()) throw e;
        outcome = memoryLimitOutcome();
      }
      const files = fs.changes();
      return files.length === 0 ? outcome : { ...outcome, files };
    } finally {
      this.fs = undefined;
      this.net.endRun();
    }
  }

  private async runCode(code: string, ctx: RunContext): Promise<RunOutcome> {
    this.current = ctx;
    this.interrupted = false;
    try {
      const evaluated = this.evaluate(code, ctx.typescript ? TYPESCRIPT_FILENAME : 'main.js');
      if (evaluated.error) {
        const outcome = this.errorOutcome(evaluated.error);
        evaluated.error.dispose();
        return outcome;
      }
      let value = evaluated.value!;
      const isPromise = this.isPromise(value);
      const driven = await this.drive(isPromise ? value : undefined);
      if (this.interrupted) {
        value.dispose();
        if (typeof driven === 'object') driven.dispose();
        return this.stopOutcome();
      }
      if (driven === 'stuck') {
        value.dispose();
        return {
          status: 'error',
          code: ErrorCode.GUEST_ERROR,
          error: { type: 'Error', message: 'top-level await never settled: nothing is left that could settle it' },
          fatal: false,
        };
      }
      if (driven) {
        value.dispose();
        const outcome = this.errorOutcome(driven);
        driven.dispose();
        return outcome;
      }
      if (isPromise) {
        const state = this.context.getPromiseState(value);
        value.dispose();
        if (state.type === 'rejected') {
          const outcome = this.errorOutcome(state.error);
          state.error.dispose();
          return outcome;
        }
        if (state.type !== 'fulfilled') return this.stopOutcome();
        value = state.value;
      }
      const { result, note } = this.resultOf(value);
      value.dispose();
      if (this.interrupted) return this.stopOutcome();
      if (note) return { status: 'ok', note };
      return result === undefined ? { status: 'ok' } : { status: 'ok', result };
    } finally {
      // Timers do not outlive the run that made them (a session's next cell starts clean).
      this.clearTimers();
      this.current = undefined;
    }
  }

  /** Whether a promise is still pending (the state's value handle, if any, is released). */
  private promisePending(handle: QuickJSHandle): boolean {
    const s = this.context.getPromiseState(handle);
    if (s.type === 'fulfilled' && !s.notAPromise) s.value.dispose();
    if (s.type === 'rejected') s.error.dispose();
    return s.type === 'pending';
  }

  private isPromise(handle: QuickJSHandle): boolean {
    const s = this.context.getPromiseState(handle);
    // A non-promise is reported as fulfilled with the original handle itself (not a new one).
    if (s.type === 'fulfilled' && s.notAPromise) return false;
    if (s.type === 'fulfilled') s.value.dispose();
    if (s.type === 'rejected') s.error.dispose();
    return true;
  }

  dispose(): void {
    this.clearTimers();
    this.net.dispose();
    this.getOwnDescriptorValue.dispose();
    this.helpers.toJson.dispose();
    this.helpers.format.dispose();
    this.helpers.tooBig.dispose();
    this.helpers.bytesOf.dispose();
    this.helpers.toU8.dispose();
    this.helpers.makeStat.dispose();
    this.helpers.makeDirents.dispose();
    this.helpers.fromJson.dispose();
    this.helpers.quote.dispose();
    this.context.dispose();
    this.runtime.dispose();
  }
}

export const quickjsAdapter: RuntimeAdapter = {
  language: 'js',
  reusableWorker: true,
  async load(options: EngineInputs = {}) {
    if (wasmModule) return;
    // The package's default export is the variant (typed as its CommonJS module here).
    const base = (await import('@jitl/quickjs-wasmfile-release-sync')).default as unknown as QuickJSSyncVariant;
    if (options.memMb === undefined) wasmModule = await newQuickJSWASMModuleFromVariant(base);
    else {
      // The QuickJS build declares at most 2 GiB (32768 pages); a larger memory would not link.
      const maximum = Math.min(QUICKJS_MAX_PAGES, Math.max(INITIAL_PAGES, Math.ceil((options.memMb + ENGINE_OVERHEAD_MB) * 16)));
      const memory = new (globalThis as unknown as WasmMemoryApi).WebAssembly.Memory({ initial: INITIAL_PAGES, maximum });
      engineMemory = Object.assign(memory, { maxBytes: maximum * 65536 });
      wasmModule = await newQuickJSWASMModuleFromVariant(newVariant(base, { wasmMemory: memory as never }));
    }
    // Warm the engine once so the first guest run does not pay for lazy WebAssembly compilation.
    const control = new Int32Array(new SharedArrayBuffer(8));
    const warm = new QuickJsInstance(wasmModule, { memMb: 16, control });
    await warm.run('const a = [1, 2, 3].map((x) => x * 2); JSON.stringify({ a }); a', {
      limits: { timeoutMs: 5000, memMb: 16, stdoutBytes: 1024, stderrBytes: 1024 },
      deadline: Date.now() + 5000,
      output: { write: () => undefined },
      stopReason: () => StopReason.NONE,
    });
    warm.dispose();
  },
  async createInstance(options) {
    if (!wasmModule) throw new Error('QuickJS is not loaded');
    return new QuickJsInstance(wasmModule, options);
  },
};
