/**
 * A bound on runs executing at once, with a bounded wait queue. Over the queue a call is refused
 * at once with a code that says when to retry — never a hang.
 */
import { ErrorCode, SandboxError } from '../../protocol/errors.js';

export class ConcurrencyGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly maxConcurrent: number,
    private readonly maxQueue: number,
  ) {}

  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    // Cancelled while it waited elsewhere (behind its session's running call): it must never start.
    if (signal?.aborted) throw cancelled('the run was cancelled before it started');
    if (this.running >= this.maxConcurrent) {
      if (this.waiting.length >= this.maxQueue) {
        throw new SandboxError(ErrorCode.RATE_LIMITED, `too many runs at once: ${this.maxConcurrent} running and ${this.maxQueue} waiting; retry shortly`, { retryAfterMs: 1000 });
      }
      await new Promise<void>((resolve, reject) => {
        const entry = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(cancelled('the run was cancelled while it waited for a slot'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(entry);
      });
    } else {
      this.running++;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

const cancelled = (message: string) => new SandboxError(ErrorCode.CANCELLED, message);
