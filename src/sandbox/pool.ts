/**
 * Which worker runs what. A named session owns one worker for its whole life (its guest state
 * lives there); a sessionless run gets a fresh guest state: a new QuickJS runtime in a reusable
 * worker, or a single-use pre-warmed Pyodide worker. Warm spares make new sessions start fast.
 */
import { RuntimeWorker, takeSnapshot, type HostFetch, type WorkerRunResult } from './runtime-worker.js';
import type { EngineInputs, Language } from './runtimes/types.js';
import type { GuestRun } from './worker-messages.js';

/** Languages whose adapters can give a worker a clean new state cheaply (see RuntimeAdapter). */
const REUSABLE: Record<Language, boolean> = { js: true, python: false };
/** Languages whose workers load from a memory snapshot taken once per sandbox host. */
const SNAPSHOTS: Record<Language, boolean> = { js: false, python: true };
const MAX_IDLE_REUSABLE = 4;

/** One copy of the bytes in shared memory: every worker reads it instead of receiving a copy. */
function shareBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.buffer instanceof SharedArrayBuffer) return bytes;
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  shared.set(bytes);
  return shared;
}

export interface PoolOptions {
  spares: Record<Language, number>;
  memMb: number;
  graceMs: number;
  onWorkerError?: (language: Language, error: Error) => void;
}

/**
 * How a snapshot language's engine gets its load inputs. The front may have a verified snapshot
 * from its cache (or be making one in a separate process that never runs guest code); the host
 * compiles the WebAssembly once. Until `snapshot` settles, runs of the language wait for it.
 */
export interface EngineSetup {
  /** Compile the engine's WebAssembly on the host's main thread (called once, when first needed). */
  compile?: () => Promise<object | undefined>;
  /**
   * The front's snapshot: its bytes, or undefined when it has none (the pool then takes its own
   * on the language's first run, in a worker that serves no guest, and never hands it out).
   */
  snapshot: Promise<Uint8Array | undefined>;
}

export interface PoolRunResult extends WorkerRunResult {
  /** The run started from an empty guest state. */
  freshState: boolean;
}

export class WorkerPool {
  private readonly sessions = new Map<string, RuntimeWorker>();
  private readonly idle: Record<Language, RuntimeWorker[]> = { js: [], python: [] };
  private readonly spares: Record<Language, RuntimeWorker[]> = { js: [], python: [] };
  private readonly inputs: Partial<Record<Language, EngineInputs>> = {};
  private readonly preparing: Partial<Record<Language, Promise<void>>> = {};
  private readonly compiling: Partial<Record<Language, Promise<object | undefined>>> = {};
  private readonly setups: Partial<Record<Language, EngineSetup>> = {};
  private readonly refilling: Partial<Record<Language, boolean>> = {};
  private closed = false;

  constructor(private readonly options: PoolOptions) {}

  /** Where a snapshot language's engine inputs come from (call before its first run). */
  setup(language: Language, setup: EngineSetup): void {
    this.setups[language] = setup;
  }

  /**
   * Start the warm spares. A snapshot language starts them as soon as the front's snapshot has
   * arrived; without one, at its first run (taking a snapshot costs seconds of CPU).
   */
  warm(language: Language): void {
    if (!SNAPSHOTS[language]) return this.refill(language);
    // Compile now, while the front is still reading and verifying the snapshot.
    void this.compiled(language);
    void this.setups[language]?.snapshot.then((snapshot) => {
      if (snapshot) void this.prepare(language);
    });
  }

  /** Settle a snapshot language's load inputs once, then start its spares. Later calls return at once. */
  private prepare(language: Language): Promise<void> {
    if (!SNAPSHOTS[language]) return Promise.resolve();
    return (this.preparing[language] ??= (async () => {
      const setup = this.setups[language];
      const wasmModule = await this.compiled(language);
      let snapshot = await setup?.snapshot.catch(() => undefined);
      snapshot ??= await takeSnapshot(language, this.options.memMb, wasmModule);
      this.inputs[language] = { wasmModule, snapshot: snapshot && shareBytes(snapshot) };
      this.refill(language);
    })());
  }

  /** The engine's WebAssembly, compiled once (undefined: each worker compiles its own). */
  private compiled(language: Language): Promise<object | undefined> {
    return (this.compiling[language] ??= this.setups[language]?.compile?.().catch(() => undefined) ?? Promise.resolve(undefined));
  }

  /** Settles when the first spare of a language has loaded (or failed to), or at once without one. */
  firstSpareSettled(language: Language): Promise<void> {
    const first = this.spares[language][0];
    return first ? first.ready.then(() => undefined, () => undefined) : Promise.resolve();
  }

  private spawn(language: Language, memMb = this.options.memMb): RuntimeWorker {
    // Python's soft stop of an async run can take ~0.6 s under load: give it a longer grace.
    const graceMs = language === 'python' ? Math.max(this.options.graceMs, 1000) : this.options.graceMs;
    const w = new RuntimeWorker({ language, memMb, graceMs, ...this.inputs[language] });
    // A worker we ended ourselves (a session dropped while it loaded) did not fail.
    w.ready.catch((e: Error) => {
      if (!w.endedOnPurpose) this.options.onWorkerError?.(language, e);
    });
    return w;
  }

  /**
   * Top the spares up. From empty (start-up), the first spare loads alone and the rest follow when
   * it is ready, so the one a client is likely waiting for gets the machine to itself; otherwise
   * every missing spare starts at once, so back-to-back takes find one ready. A first spare that
   * fails to load ends the chain until the next take.
   */
  private refill(language: Language): void {
    if (this.closed) return;
    const list = this.spares[language];
    for (let i = list.length - 1; i >= 0; i--) if (!list[i]!.isAlive) list.splice(i, 1);
    const target = this.options.spares[language];
    if (this.refilling[language] || list.length >= target) return;
    if (list.length === 0 && target > 1) {
      const first = this.spawn(language);
      list.push(first);
      this.refilling[language] = true;
      first.ready.then(
        () => {
          this.refilling[language] = false;
          if (!this.closed) this.refill(language);
        },
        () => (this.refilling[language] = false),
      );
      return;
    }
    while (list.length < target) list.push(this.spawn(language));
  }

  private take(language: Language, memMb: number): RuntimeWorker {
    if (memMb === this.options.memMb) {
      const list = this.spares[language];
      while (list.length) {
        const w = list.shift()!;
        if (!w.isAlive) continue;
        // A spare still loading is replaced once it has loaded, not now: a replacement loading
        // alongside it would slow the one a run is waiting for (on two cores, three loads at once
        // made back-to-back sessionless Python runs wait longer).
        if (w.loaded) queueMicrotask(() => this.refill(language));
        else w.ready.then(() => this.refill(language), () => this.refill(language));
        return w;
      }
    }
    return this.spawn(language, memMb);
  }

  static key(language: Language, session: string): string {
    return `${language}:${session}`;
  }

  async run(language: Language, session: string | null, guestRun: GuestRun, signal?: AbortSignal, onFetch?: HostFetch): Promise<PoolRunResult> {
    await this.prepare(language);
    if (session !== null) return this.runInSession(language, session, guestRun, signal, onFetch);
    const { limits } = guestRun;
    let worker: RuntimeWorker | undefined;
    if (REUSABLE[language]) {
      const idle = this.idle[language];
      while (idle.length && !worker) {
        const w = idle.pop()!;
        if (w.isAlive && w.memMb === limits.memMb) worker = w;
        else void w.terminate();
      }
    }
    worker ??= this.take(language, limits.memMb);
    try {
      const result = await worker.run(guestRun, true, false, signal, onFetch);
      return { ...result, freshState: true };
    } finally {
      if (REUSABLE[language] && worker.isAlive && this.idle[language].length < MAX_IDLE_REUSABLE) this.idle[language].push(worker);
      else void worker.terminate();
    }
  }

  private async runInSession(language: Language, session: string, guestRun: GuestRun, signal?: AbortSignal, onFetch?: HostFetch): Promise<PoolRunResult> {
    const { limits } = guestRun;
    const key = WorkerPool.key(language, session);
    let worker = this.sessions.get(key);
    if (worker && (!worker.isAlive || worker.memMb !== limits.memMb)) {
      void worker.terminate();
      worker = undefined;
    }
    if (!worker) {
      worker = this.take(language, limits.memMb);
      this.sessions.set(key, worker);
    }
    // A worker that lost its state (or never had one) starts from scratch.
    const fresh = !worker.hasState;
    const result = await worker.run(guestRun, fresh, true, signal, onFetch);
    if (!worker.isAlive && this.sessions.get(key) === worker) this.sessions.delete(key);
    return { ...result, freshState: fresh };
  }

  drop(language: Language, session: string): boolean {
    const key = WorkerPool.key(language, session);
    const worker = this.sessions.get(key);
    if (!worker) return false;
    this.sessions.delete(key);
    void worker.discard();
    return true;
  }

  /** The worker currently serving a session, for cancellation. */
  sessionWorker(language: Language, session: string): RuntimeWorker | undefined {
    return this.sessions.get(WorkerPool.key(language, session));
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.sessions.values(), ...this.idle.js, ...this.idle.python, ...this.spares.js, ...this.spares.python];
    this.sessions.clear();
    await Promise.allSettled(all.map((w) => w.terminate()));
  }
}
