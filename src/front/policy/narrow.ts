/**
 * Per-call narrowing: a call may only tighten what the policy allows, never widen it.
 */
import type { Limits } from './schema.js';

export interface CallRequest {
  /** Requested timeout; above the policy's it is clamped to the policy's. */
  timeoutMs?: number | undefined;
}

export function narrowLimits(limits: Limits, request: CallRequest): Limits {
  const timeoutMs = request.timeoutMs === undefined ? limits.timeoutMs : Math.max(1, Math.min(limits.timeoutMs, Math.floor(request.timeoutMs)));
  return { ...limits, timeoutMs };
}
