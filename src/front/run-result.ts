/**
 * The shape of a run's result (the tool's structuredContent), and the one place where error codes
 * become exit codes and user-facing errors.
 */
import * as z from 'zod';
import { ErrorCode, exitCodeFor, isSandboxError } from '../protocol/errors.js';
import type { JsonValue } from '../protocol/json.js';

export const RunResultShape = {
  exitCode: z.number().int().describe('0 success, 1 uncaught error, 124 timeout, 137 memory limit, 130 cancelled'),
  stdout: z.string().describe('Captured standard output, cut at the cap'),
  stderr: z.string().describe('Captured standard error, cut at the cap'),
  stdoutTruncated: z.boolean().describe('True where the cap cut stdout'),
  stderrTruncated: z.boolean().describe('True where the cap cut stderr'),
  result: z.json().optional().describe('Value of the last expression, JSON-converted; absent where there is none'),
  error: z
    .object({
      type: z.string(),
      message: z.string(),
      traceback: z.string().optional(),
      code: z.string().describe('Stable error code, e.g. E_TIMEOUT'),
    })
    .optional()
    .describe('Present when exitCode is not 0'),
  durationMs: z.number().describe('Wall time of the run itself'),
  session: z.string().optional().describe('Echo of the session name'),
  capsule: z
    .object({ id: z.string(), keyId: z.string() })
    .describe('SHA-256 id of the signed capsule that ran, and the signing key id'),
  files: z
    .array(z.object({ path: z.string(), size: z.number(), mimeType: z.string() }))
    .describe('Files the run created or changed under /output'),
  network: z
    .array(
      z.object({
        url: z.string(),
        method: z.string(),
        status: z.number().optional(),
        blocked: z.string().optional(),
        error: z.string().optional().describe('Why an allowed request failed (connection refused or reset, TLS, ...)'),
      }),
    )
    .describe('Every request the code attempted'),
};

const RunResultSchema = z.object(RunResultShape);
export type RunResult = z.infer<typeof RunResultSchema>;

export interface ErrorInfo {
  type: string;
  message: string;
  traceback?: string | undefined;
  code: ErrorCode;
}

/** Cut text to at most `maxBytes` of UTF-8 without splitting a character. */
export function capUtf8(text: string, maxBytes: number): { text: string; truncated: boolean } {
  if (text.length * 3 <= maxBytes) return { text, truncated: false };
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return { text, truncated: false };
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return { text: bytes.subarray(0, end).toString('utf8'), truncated: true };
}

/** A result for a call that never produced guest output (refused, crashed, rate-limited...). */
export function failureResult(e: unknown, base: { session?: string | undefined; capsule?: { id: string; keyId: string } }): RunResult {
  const code = isSandboxError(e) ? e.code : ErrorCode.INTERNAL;
  const message = isSandboxError(e) ? e.message : 'internal error';
  const result: RunResult = {
    exitCode: exitCodeFor(code),
    stdout: '',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    error: { type: 'SandboxError', message, code },
    durationMs: 0,
    capsule: base.capsule ?? { id: '', keyId: '' },
    files: [],
    network: [],
  };
  if (base.session !== undefined) result.session = base.session;
  if (isSandboxError(e) && e.retryAfterMs !== undefined) result.error!.message += ` (retry after ${Math.ceil(e.retryAfterMs / 1000)} s)`;
  return result;
}

export type { JsonValue };
