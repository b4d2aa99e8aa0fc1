/** Messages between the sandbox host's main thread and one runtime worker thread. */
import type { MessagePort } from 'node:worker_threads';
import type { JsonValue } from '../protocol/json.js';
import type { GuestFetchRequest, GuestFetchResult, GuestFilesystem, GuestLimits, Language, PythonPackage, RunOutcome } from './runtimes/types.js';

/** What one run asks of a runtime, taken from the verified capsule. */
export interface GuestRun {
  code: string;
  /** The code is TypeScript: its types are stripped in the worker before it runs (js only). */
  typescript?: boolean | undefined;
  limits: GuestLimits;
  /** The run's files and what the guest may do with them (verified against the capsule by the host). */
  files?: GuestFilesystem | undefined;
  /** A value handed to the code as the global `input` (registry capsules); never spliced into source. */
  input?: JsonValue | undefined;
  /** The policy enables the network: the guest gets a fetch that goes through the front. */
  network?: boolean | undefined;
  /** Python wheels the run may import (verified against the capsule by the host). */
  packages?: PythonPackage[] | undefined;
}

export interface WorkerData {
  language: Language;
  /** Shared stop flags (see CONTROL_* in runtimes/types.ts). */
  control: SharedArrayBuffer;
  memMb: number;
  snapshot?: Uint8Array | undefined;
  /** The engine's WebAssembly compiled once by the host (structured-cloned, not recompiled). */
  wasmModule?: object | undefined;
  /** 'snapshot': only take a memory snapshot of a freshly loaded engine and report it. */
  mode?: 'serve' | 'snapshot';
  /** Where the host main thread answers synchronous network requests (see sync-fetch.ts). */
  fetchPort?: MessagePort | undefined;
}

export interface WorkerRunRequest {
  t: 'run';
  run: GuestRun;
  /** Epoch ms at which the host posted this run; the worker's start mark is relative to it. */
  dispatchedAt: number;
  /** Start from a fresh guest state (sessionless runs, or a session's first run). */
  fresh: boolean;
  /** Keep the guest state after the run (a named session); otherwise it is released at once. */
  keep: boolean;
  output: { sab: SharedArrayBuffer; stdoutCap: number; stderrCap: number };
}

/** The host main thread's answer to a worker's network request. */
export interface WorkerFetchResult {
  t: 'fetch-result';
  fetchId: number;
  result: GuestFetchResult;
}

export type WorkerReply =
  | { t: 'ready' }
  | { t: 'snapshot'; snapshot: Uint8Array }
  | { t: 'load-failed'; message: string }
  | { t: 'done'; outcome: RunOutcome; discarded: boolean; /** the engine is unusable: replace this worker */ retire: boolean }
  | { t: 'fetch'; fetchId: number; request: GuestFetchRequest; /** answer on the fetch port (sync-fetch.ts) */ sync?: boolean };
