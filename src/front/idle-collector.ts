/**
 * Gives the front's memory back once it goes quiet.
 *
 * V8 collects when its heap reaches a limit, not when the process goes idle (Node never tells it
 * the process is idle), and it keeps the pages it has committed. So after a burst of calls the
 * front holds what the burst left: an output flood's result crosses the front as a few MiB-sized
 * strings, and ten of them left its RSS anywhere between 80 and 119 MiB until the next burst
 * (`bench/front-floods.mjs`). An agent's pauses are where that memory can go back: after
 * `idleMs` with no message in or out, one full collection, at most once per quiet spell. It
 * blocks the event loop for ~20–40 ms (19.8 ms in the front after ten floods); a run still in
 * flight then (a long one, without progress notifications) has its answer held that long.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export interface IdleCollector {
  /** A message came in or went out: the front is busy; collect once it has been quiet for a while. */
  touch(): void;
  stop(): void;
}

export interface IdleCollectorOptions {
  idleMs: number;
  /** What a quiet spell triggers (a full collection; tests count calls instead). */
  collect?: () => void;
}

type Gc = () => void;

let gcMemo: Gc | null | undefined;

/**
 * A full collection. V8 hands `gc` only to contexts made after `--expose-gc` is set, so a fresh
 * context lends it: the front's own global never gains a `gc`. Does nothing where that fails.
 */
export function collectGarbage(): void {
  if (gcMemo === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      const gc: unknown = vm.runInNewContext('typeof gc === "function" ? gc : undefined');
      gcMemo = typeof gc === 'function' ? (gc as Gc) : null;
    } catch {
      gcMemo = null;
    }
  }
  // No options: Node 20's V8 answers { type: 'major' } with a minor collection.
  gcMemo?.();
}

export function startIdleCollector(options: IdleCollectorOptions): IdleCollector {
  const collect = options.collect ?? collectGarbage;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const fire = () => {
    timer = undefined;
    try {
      collect();
    } catch {
      // Giving memory back is best effort; it must never take the server down.
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
