/**
 * The one seam between the shared execution pipeline (sandbox/worker.ts) and a language runtime.
 * Everything language-specific lives behind `RuntimeAdapter`; the pipeline never branches on language.
 *
 * Runs inside a worker thread of the sandbox host. Nothing here may trust a value the guest produced:
 * results are converted to plain JSON by host-side code that does not run guest code.
 */
import type { ErrorCode } from '../../protocol/errors.js';
import type { JsonValue } from '../../protocol/json.js';

export type Language = 'js' | 'python';

/** Why the host asked the guest to stop. Written into `control[CONTROL_STOP]` by the host main thread. */
export const StopReason = { NONE: 0, TIMEOUT: 1, CANCELLED: 2 } as const;
export type StopReason = (typeof StopReason)[keyof typeof StopReason];

/** Slots of the shared Int32Array the host uses to ask a running guest to stop. */
export const CONTROL_STOP = 0;
/** Pyodide's interrupt buffer slot: the host stores 2 (SIGINT) here alongside CONTROL_STOP. */
export const CONTROL_PY_SIGNAL = 1;
/**
 * Rung by the host main thread (add 1, notify) after it posted the answer to a synchronous network
 * request on the worker's fetch port; also notified on a stop, so a waiting guest wakes at once.
 */
export const CONTROL_FETCH_BELL = 2;
/** Set by the worker when guest code starts: the run's clock starts then (see run-clock.ts). */
export const CONTROL_GUEST_STARTED = 3;
/**
 * 1 while the worker does bounded host-side work for the guest that holds the run's state (run_js's
 * fs): a hard stop waits for it, within a bound, rather than discard the files the run wrote.
 */
export const CONTROL_IN_HOST_CALL = 4;
export const CONTROL_SLOTS = 5;

export interface GuestLimits {
  timeoutMs: number;
  memMb: number;
  stdoutBytes: number;
  stderrBytes: number;
}

/** Where guest output goes. The sink enforces the caps on the host side; writes past a cap are dropped. */
export interface OutputSink {
  write(stream: 'stdout' | 'stderr', text: string): void;
}

/** One file handed into a run. `path` is canonical (see `src/protocol/guest-paths.ts`). */
export interface GuestFile {
  path: string;
  data: Uint8Array;
  /** When the front last wrote it (epoch ms), for `stat`; absent where unknown. */
  mtimeMs?: number;
}

/**
 * The session's files for one run, and what the guest may do with them.
 *
 * The front owns the files (the store of truth). Before each run it sends every file of the
 * session; the host has checked each one's digest against the signed capsule. The adapter gives
 * the guest a filesystem that starts with exactly `initial` (a session's runtime must NOT keep
 * files from an earlier run: the front may have refused some of that run's changes), lets the
 * guest read under `readonly` and `writable` and write under `writable` only, and reports what
 * changed in `RunOutcome.files`.
 *
 * Prefixes are canonical and compared on `/` boundaries (`isUnder`): `/out` never covers `/outside`.
 * Every prefix is a directory that always exists, as do its ancestors up to `/` (they may be listed
 * and stat'ed, showing only the way to the prefixes; nothing else outside the prefixes is visible).
 * Where a path lies under both a writable and a readonly prefix, writable wins.
 *
 * The limits are the policy's, enforced inside the runtime as defence in depth (the front checks
 * everything again): no file larger than `maxFileBytes`, no more than `maxFiles` files and
 * `quotaBytes` bytes in all (initial files included) at any moment.
 */
export interface GuestFilesystem {
  initial: GuestFile[];
  writable: string[];
  readonly: string[];
  limits: { quotaBytes: number; maxFiles: number; maxFileBytes: number };
}

/**
 * One change the run made, reported in `RunOutcome.files`: the final state of a path that differs
 * from `initial`. A file created or whose content changed: `{path, kind: 'file', data}`. A file of
 * `initial` that is gone: `{path, kind: 'file', deleted: true}` (a deleted directory may be reported
 * as its path with `deleted: true`, too). Anything that is not a regular file — a symlink, a device,
 * a FIFO — is reported with its kind and no data (the front refuses it; never follow a symlink to
 * read its target). Report only paths under `writable` prefixes; the front refuses the rest anyway.
 * Order matters for the quota, which the front re-checks change by change: deletions first, then
 * files that shrank, then files that grew or are new (`orderChanges` in sandbox/guest-fs.ts does it).
 */
export interface FileChange {
  path: string;
  kind: 'file' | 'symlink' | 'other';
  data?: Uint8Array;
  deleted?: boolean;
}

/** A Python wheel a run may import from (`python.packagesDir`), its bytes checked against the capsule. */
export interface PythonPackage {
  filename: string;
  data: Uint8Array;
}

export interface RunContext {
  limits: GuestLimits;
  /** Absolute epoch-ms deadline of this run. */
  deadline: number;
  output: OutputSink;
  /**
   * The code is TypeScript (js only): the adapter strips its types, keeping every position, before
   * the engine parses it.
   */
  typescript?: boolean;
  /** The stop reason the host has posted, or NONE. Cheap: an Atomics.load. */
  stopReason(): StopReason;
  /**
   * The guest's filesystem for this run. Absent (warm-up runs): the guest sees no files and may
   * write nowhere.
   */
  files?: GuestFilesystem;
  /**
   * A value the code receives as the global `input` (registry capsules): define it in the guest
   * realm from JSON before the code runs — never by splicing it into the source.
   */
  input?: JsonValue;
  /**
   * The guest's only way out to the network: a request the front's broker decides on and
   * performs. Present only when the policy enables the network; absent means no network API
   * at all in the guest.
   */
  fetch?: (request: GuestFetchRequest) => Promise<GuestFetchResult>;
  /**
   * The same way out for a runtime that cannot await a host promise (Python runs synchronously
   * on this thread): blocks until the front answers. Present exactly when `fetch` is. It returns
   * early with code `E_STOPPED` once the host posts a stop, and with `E_TIMEOUT` after `waitMs`
   * (the guest's own timeout, if it gave one); a late answer is dropped.
   */
  fetchSync?: (request: GuestFetchRequest, waitMs?: number) => GuestFetchResult;
  /** Python only: the wheels `import` may unpack (absent: the standard library only). */
  packages?: PythonPackage[];
}

/** A request as the guest asked for it; the front validates every part of it again. */
export interface GuestFetchRequest {
  url: string;
  method: string;
  headers: Array<[string, string]>;
  body?: Uint8Array;
}

export type GuestFetchResult =
  | {
      ok: true;
      response: { status: number; statusText: string; headers: Array<[string, string]>; body: Uint8Array; url: string; redirected: boolean };
    }
  | { ok: false; code: string; message: string };

export interface GuestErrorInfo {
  type: string;
  message: string;
  traceback?: string;
}

/**
 * How a run ended. `files`: the changes of the run's filesystem (see `FileChange`), reported whenever
 * the adapter can still read them — on success, on a guest error, and where possible after a
 * timeout, a cancellation or the memory limit (the front keeps what passes its checks). Absent or
 * empty: nothing changed.
 */
export type RunOutcome =
  /** `note`: why there is no result (too large, not convertible); the front appends it to stderr, past the cap. */
  | { status: 'ok'; result?: JsonValue; note?: string; files?: FileChange[] }
  | {
      status: 'error';
      code: ErrorCode;
      error: GuestErrorInfo;
      /** The runtime's state can no longer be trusted (OOM, interrupted mid-native-call...): discard it. */
      fatal: boolean;
      files?: FileChange[];
    };

/** One guest state: a QuickJS runtime+context, or one Python interpreter. */
export interface RuntimeInstance {
  run(code: string, ctx: RunContext): Promise<RunOutcome>;
  dispose(): void;
}

export interface InstanceOptions {
  memMb: number;
  /** Shared control array (see CONTROL_*), owned by the host main thread. */
  control: Int32Array;
}

/** What a worker may load its engine from, besides the package itself. */
export interface EngineInputs {
  /** A memory snapshot of the same engine build (integrity checked by the front). */
  snapshot?: Uint8Array | undefined;
  /** The engine's WebAssembly, compiled once by the host (a `WebAssembly.Module`). */
  wasmModule?: object | undefined;
  /** The memory limit (MiB) of every run this worker will serve: bounds the engine's whole WebAssembly memory. */
  memMb?: number | undefined;
}

export interface RuntimeAdapter {
  readonly language: Language;
  /**
   * True when a fresh instance is cheap and leaves nothing behind, so a worker may serve many
   * sessionless runs one after another (QuickJS). False means a worker serves one state only
   * and sessionless runs use single-use pre-warmed workers (Pyodide).
   */
  readonly reusableWorker: boolean;
  /**
   * Load the engine once per worker, from a memory snapshot and with a precompiled WebAssembly
   * module when given (the host prepares both once and shares them between its workers).
   */
  load(options?: EngineInputs): Promise<void>;
  /** A memory snapshot of a freshly loaded engine, for faster later loads (Pyodide). */
  makeSnapshot?(): Promise<Uint8Array>;
  createInstance(options: InstanceOptions): Promise<RuntimeInstance>;
}
