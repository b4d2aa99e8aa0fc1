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
export const CONTROL_SLOTS = 2;

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

export interface RunContext {
  limits: GuestLimits;
  /** Absolute epoch-ms deadline of this run. */
  deadline: number;
  output: OutputSink;
  /** The stop reason the host has posted, or NONE. Cheap: an Atomics.load. */
  stopReason(): StopReason;
}

export interface GuestErrorInfo {
  type: string;
  message: string;
  traceback?: string;
}

export type RunOutcome =
  | { status: 'ok'; result?: JsonValue }
  | {
      status: 'error';
      code: ErrorCode;
      error: GuestErrorInfo;
      /** The runtime's state can no longer be trusted (OOM, interrupted mid-native-call...): discard it. */
      fatal: boolean;
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

export interface RuntimeAdapter {
  readonly language: Language;
  /**
   * True when a fresh instance is cheap and leaves nothing behind, so a worker may serve many
   * sessionless runs one after another (QuickJS). False means a worker serves one state only
   * and sessionless runs use single-use pre-warmed workers (Pyodide).
   */
  readonly reusableWorker: boolean;
  /** Load the engine once per worker (compile WebAssembly, etc.), from a memory snapshot if given. */
  load(options?: { snapshot?: Uint8Array }): Promise<void>;
  /** A memory snapshot of a freshly loaded engine, for faster later loads (Pyodide). */
  makeSnapshot?(): Promise<Uint8Array>;
  createInstance(options: InstanceOptions): Promise<RuntimeInstance>;
}
