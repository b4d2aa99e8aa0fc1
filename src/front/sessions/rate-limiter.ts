/**
 * Calls per minute as a token bucket: up to `perMinute` calls in a burst, refilled continuously.
 * Over the limit a call is refused at once with E_RATE_LIMITED and the wait until a token is free.
 */
import { ErrorCode, SandboxError } from '../../protocol/errors.js';

export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = perMinute;
    this.last = this.now();
  }

  /** Take one token or throw a SandboxError that says when to retry. */
  take(): void {
    const t = this.now();
    this.tokens = Math.min(this.perMinute, this.tokens + ((t - this.last) * this.perMinute) / 60_000);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return;
    }
    const retryAfterMs = Math.ceil(((1 - this.tokens) * 60_000) / this.perMinute);
    throw new SandboxError(ErrorCode.RATE_LIMITED, `rate limit: the policy allows ${this.perMinute} calls per minute`, { retryAfterMs });
  }
}
