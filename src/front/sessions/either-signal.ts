/** One abort signal for two sources (a client's cancellation, a session's reset). */

/**
 * A signal that aborts when either does, with its listeners removed afterwards: AbortSignal.any
 * keeps every combined signal alive on a long-lived source (a session's lifetime of calls; Node
 * issue 55351).
 */
export function eitherSignal(a: AbortSignal | undefined, b: AbortSignal): { signal: AbortSignal; release: () => void } {
  const both = new AbortController();
  const abort = () => both.abort();
  if (a?.aborted || b.aborted) abort();
  a?.addEventListener('abort', abort, { once: true });
  b.addEventListener('abort', abort, { once: true });
  return {
    signal: both.signal,
    release: () => {
      a?.removeEventListener('abort', abort);
      b.removeEventListener('abort', abort);
    },
  };
}
