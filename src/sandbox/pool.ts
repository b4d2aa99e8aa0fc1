/**
 * Which worker runs what. A named session owns one worker for its whole life (its guest state
 * lives there); a sessionless run gets a fresh guest state: a new QuickJS runtime in a reusable
 * worker, or a single-use pre-warmed Pyodide worker. Warm spares make new sessions start fast.
 */
import { RuntimeWorker, takeSnapshot, type HostFetch, type WorkerRunResult } from './runtime-worker.js';
import type { Language } from './runtimes/types.js';
import type { GuestRun } from './worker-messages.js';

/** Languages whose adapters can give a worker a clean new state cheaply (see RuntimeAdapter). */
const REUSABLE: Record<Language, boolean> = { js: true, python: false };
/** Languages whose workers load from a memory snapshot taken once per sandbox host. */
const SNAPSHOTS: Record<Language, boolean> = { js: false, python: true };
const MAX_IDLE_REUSABLE = 4;

export interface PoolOptions {
  spares: Record<Language, number>;
  memMb: number;
  graceMs: number;
  onWorkerError?: (language: Language, error: Error) => void;
}

export interface PoolRunResult extends WorkerRunResult {
  /** The run started from an empty guest state. */
  freshState: boolean;
}

export class WorkerPool {
  private readonly sessions = new Map<string, RuntimeWorker>();
  private readonly idle: Record<Language, RuntimeWorker[]> = { js: [], python: [] };
  private readonly spares: Record<Language, RuntimeWorker[]> = { js: [], python: [] };
  private snapshots: Partial<Record<Language, Uint8Array>> = {};
  private snapshotting: Partial<Record<Language, Promise<void>>> = {};

  constructor(private readonly options: PoolOptions) {}

  setSnapshot(language: Language, snapshot: Uint8Array): void {
    this.snapshots[language] = snapshot;
  }

  /** Start the warm spares (for snapshot languages: after the snapshot, see `prepare`). */
  warm(language: Language): void {
    if (SNAPSHOTS[language]) return;
    this.refill(language);
  }

  /**
   * Before the first run of a snapshot language: take the snapshot once (its workers then load
   * in well under a second), then start the spares. Later calls return at once.
   */
  private prepare(language: Language): Promise<void> {
    if (!SNAPSHOTS[language]) return Promise.resolve();
    return (this.snapshotting[language] ??= takeSnapshot(language, this.options.memMb).then((snapshot) => {
      if (snapshot) {
        // Shared memory: every worker reads the same bytes instead of receiving a copy.
        const shared = new Uint8Array(new SharedArrayBuffer(snapshot.byteLength));
        shared.set(snapshot);
        this.snapshots[language] = shared;
      }
      this.refill(language);
    }));
  }

  private spawn(language: Language, memMb = this.options.memMb): RuntimeWorker {
    // Python's soft stop of an async run can take ~0.6 s under load: give it a longer grace.
    const graceMs = language === 'python' ? Math.max(this.options.graceMs, 1000) : this.options.graceMs;
    const w = new RuntimeWorker({ language, memMb, graceMs, snapshot: this.snapshots[language] });
    w.ready.catch((e: Error) => this.options.onWorkerError?.(language, e));
    return w;
  }

  private refill(language: Language): void {
    const list = this.spares[language];
    for (let i = list.length - 1; i >= 0; i--) if (!list[i]!.isAlive) list.splice(i, 1);
    while (list.length < this.options.spares[language]) list.push(this.spawn(language));
  }

  private take(language: Language, memMb: number): RuntimeWorker {
    if (memMb === this.options.memMb) {
      const list = this.spares[language];
      while (list.length) {
        const w = list.shift()!;
        if (w.isAlive) {
          queueMicrotask(() => this.refill(language));
          return w;
        }
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
    void worker.terminate();
    return true;
  }

  /** The worker currently serving a session, for cancellation. */
  sessionWorker(language: Language, session: string): RuntimeWorker | undefined {
    return this.sessions.get(WorkerPool.key(language, session));
  }

  async close(): Promise<void> {
    const all = [...this.sessions.values(), ...this.idle.js, ...this.idle.python, ...this.spares.js, ...this.spares.python];
    this.sessions.clear();
    await Promise.allSettled(all.map((w) => w.terminate()));
  }
}
