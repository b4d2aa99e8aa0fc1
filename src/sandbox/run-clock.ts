/**
 * When a run's time limit ends. The guest's clock starts when its code starts, not when the host
 * dispatched the run: a worker may first have to make a fresh runtime, which on a loaded machine
 * can take longer than a short time limit — and a run stopped before its first statement would
 * lose everything it was about to do (the CI saw a run lose the file it wrote that way).
 *
 * The worker marks the start in a shared slot (`CONTROL_GUEST_STARTED`). That slot is writable
 * from a worker realm the guest may share (Python), so the mark is only believed within bounds:
 * never later than now, never later than `setupAllowanceMs` after dispatch. A forged or missing
 * mark therefore buys at most `setupAllowanceMs` of extra time, and the hard backstop still holds.
 */

/** The longest a runtime's set-up may delay a run's clock (the bound a forged mark can buy). */
export const SETUP_ALLOWANCE_MS = 10_000;

/** The value a worker stores to mark that guest code starts `startedAfterMs` after dispatch. */
export function guestStartMark(startedAfterMs: number): number {
  // 0 means "not started"; the mark is offset by one so a start at 0 ms is still a mark.
  return Math.min(Math.max(0, Math.round(startedAfterMs)), SETUP_ALLOWANCE_MS) + 1;
}

/**
 * Milliseconds left of the run's time limit, `elapsedMs` after dispatch, given the worker's mark
 * (0 when the guest has not started). ≤ 0 means the time is up. While the guest has not started,
 * the answer is a full `timeoutMs` (look again then) until the set-up allowance runs out.
 */
export function timeLeftMs(options: { elapsedMs: number; mark: number; timeoutMs: number; setupAllowanceMs?: number }): number {
  const { elapsedMs, mark, timeoutMs } = options;
  const allowance = options.setupAllowanceMs ?? SETUP_ALLOWANCE_MS;
  const claimed = mark > 0 ? mark - 1 : elapsedMs;
  const startedAfter = Math.max(0, Math.min(claimed, elapsedMs, allowance));
  return startedAfter + timeoutMs - elapsedMs;
}
