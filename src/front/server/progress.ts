/**
 * Progress for long runs: when the client sent a progress token, a notification every second
 * with the elapsed time, until the run ends. Nothing is sent without a token.
 */
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';

export const PROGRESS_INTERVAL_MS = 1000;

export async function withProgress<T>(extra: RequestHandlerExtra<ServerRequest, ServerNotification>, timeoutMs: number | undefined, work: () => Promise<T>): Promise<T> {
  const token = extra._meta?.progressToken;
  if (token === undefined) return work();
  const started = Date.now();
  const timer = setInterval(() => {
    const elapsed = Date.now() - started;
    void extra
      .sendNotification({
        method: 'notifications/progress',
        params: {
          progressToken: token,
          progress: elapsed,
          // The time limit counts from the guest's first statement, this from the call's arrival (a
          // queued call waits first): past the limit, the total is no longer known, never exceeded.
          ...(timeoutMs !== undefined && elapsed < timeoutMs ? { total: timeoutMs } : {}),
          message: `running for ${(elapsed / 1000).toFixed(0)} s`,
        },
      })
      .catch(() => undefined);
  }, PROGRESS_INTERVAL_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
