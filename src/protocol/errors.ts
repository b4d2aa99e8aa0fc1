/**
 * One error vocabulary for the whole product. Callers branch on `code`, never on message text.
 * The exit code of a run is derived from the code in exactly one place: `exitCodeFor`.
 */

export const ErrorCode = {
  /** The guest's own code threw (or Python raised) and nothing caught it. */
  GUEST_ERROR: 'E_GUEST_ERROR',
  /** The run passed its wall-clock deadline. */
  TIMEOUT: 'E_TIMEOUT',
  /** The runtime hit its memory limit. */
  MEMORY: 'E_MEMORY_LIMIT',
  /** The client cancelled the call. */
  CANCELLED: 'E_CANCELLED',
  /** Tool arguments failed validation. */
  INVALID_INPUT: 'E_INVALID_INPUT',
  /** The policy forbids what was asked (a path, a host, a size). */
  POLICY_DENIED: 'E_POLICY_DENIED',
  /** A size or count limit of the session's files (per file, file count, total bytes) would be exceeded. */
  QUOTA_EXCEEDED: 'E_QUOTA_EXCEEDED',
  /** A capsule was unsigned, altered, expired or signed by an unknown key. */
  CAPSULE_INVALID: 'E_CAPSULE_INVALID',
  /** The sandbox host died or misbehaved; the call could not complete. */
  SANDBOX_CRASHED: 'E_SANDBOX_CRASHED',
  /** The sandbox host sent a message that failed validation. */
  PROTOCOL: 'E_PROTOCOL',
  /** Too many live sessions. */
  SESSION_LIMIT: 'E_SESSION_LIMIT',
  /** Too many calls; retry later. */
  RATE_LIMITED: 'E_RATE_LIMITED',
  /** The runtime for this language is not available on this host. */
  RUNTIME_UNAVAILABLE: 'E_RUNTIME_UNAVAILABLE',
  /** A setting (flag, env var, policy file) is invalid: start-up stops with exit status 2. */
  CONFIG: 'E_CONFIG',
  /** The signing-key store or a list of public keys is missing, unsafe (permissions) or malformed. */
  KEY_STORE: 'E_KEY_STORE',
  /** A bug of ours; never a guest's fault. */
  INTERNAL: 'E_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ExitCode = {
  OK: 0,
  ERROR: 1,
  CANCELLED: 130,
  TIMEOUT: 124,
  MEMORY: 137,
} as const;

/** The run's exit code for an error code (the contract's table). */
export function exitCodeFor(code: ErrorCode | undefined): number {
  switch (code) {
    case undefined:
      return ExitCode.OK;
    case ErrorCode.TIMEOUT:
      return ExitCode.TIMEOUT;
    case ErrorCode.MEMORY:
      return ExitCode.MEMORY;
    case ErrorCode.CANCELLED:
      return ExitCode.CANCELLED;
    default:
      return ExitCode.ERROR;
  }
}

/** An error whose `code` is stable and whose message is safe to show a user. */
export class SandboxError extends Error {
  readonly code: ErrorCode;
  /** Seconds after which a retry may succeed (rate limits, busy sessions). */
  readonly retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SandboxError';
    this.code = code;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

export function isSandboxError(e: unknown): e is SandboxError {
  return e instanceof SandboxError;
}
