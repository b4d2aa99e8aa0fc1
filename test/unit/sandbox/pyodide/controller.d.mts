export interface PyLimits {
  timeoutMs: number;
  memMb: number;
  stdoutBytes: number;
  stderrBytes: number;
}

export interface PyOutcome {
  status: 'ok' | 'error';
  result?: unknown;
  code?: string;
  error?: { type: string; message: string; traceback?: string };
  fatal?: boolean;
}

export interface PyRunReply {
  outcome: PyOutcome;
  stdout: string;
  stderr: string;
  ms: number;
  terminated: boolean;
  /** The worker's own stdio, when it died. */
  log?: string;
}

export declare const DEFAULT_LIMITS: PyLimits;

export declare class PyWorker {
  constructor(options: {
    workerUrl: URL | string;
    adapterUrl: string;
    snapshot?: Uint8Array;
    wasmModule?: object;
    memMb?: number;
    disable?: string[];
  });
  readonly ready: Promise<{ t: 'ready'; loadMs: number; stats: { bootMs: number; hardenMs: number; heapBytes: number } }>;
  readonly alive: boolean;
  /** The tail of the worker's own stdout/stderr (diagnostics only). */
  readonly log: string;
  run(code: string, limits?: Partial<PyLimits>, graceMs?: number): Promise<PyRunReply>;
  close(): Promise<void>;
}
