/**
 * Gives a thread's memory back once it goes quiet. Both processes use it: the front's main thread
 * (front/garbage.ts) and the sandbox host's threads (sandbox/garbage.ts).
 *
 * V8 collects when its heap reaches a limit, not when the thread goes idle (Node never tells it
 * the thread is idle), and it keeps the pages it has committed. So after a burst of calls a thread
 * holds what the burst left: an output flood's result crosses the front as a few MiB-sized strings,
 * and ten of them left its RSS anywhere between 80 and 119 MiB until the next burst
 * (`bench/front-floods.mjs`); a Python session's worker grew its JavaScript heap from ~19 to ~28 MiB
 * of garbage over a soak's calls. An agent's pauses are where that memory can go back: after
 * `idleMs` with no activity, one full collection, at most once per quiet spell. It blocks the
 * thread while it runs (~60–70 ms in the front, whose collection also compacts; a plain one took
 * ~20–60 ms); work that arrives then waits.
 */

/** How long a thread must have been quiet before it collects: longer than an agent's pause between calls. */
export const IDLE_COLLECT_MS = 5_000;

export interface IdleCollector {
  /** The thread is busy (a message in or out, a run): collect once it has been quiet for a while. */
  touch(): void;
  stop(): void;
}

export interface IdleCollectorOptions {
  idleMs: number;
  /** What a quiet spell triggers: a full collection (tests count calls instead). */
  collect: () => void;
}

export function startIdleCollector(options: IdleCollectorOptions): IdleCollector {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const fire = () => {
    timer = undefined;
    try {
      options.collect();
    } catch {
      // Giving memory back is best effort; it must never take the process down.
    }
  };
  return {
    touch() {
      if (stopped) return;
      // refresh() re-arms the same timer: nothing allocated per message.
      if (timer) timer.refresh();
      else timer = setTimeout(fire, options.idleMs).unref();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
