/**
 * The synchronous half of the guest's network path, for a runtime that cannot await a host promise:
 * Python runs on the worker thread itself, so while `urlopen` waits nothing else in that thread can
 * run — not even the handler of a message from the host main thread.
 *
 * The worker posts the request on its parent port as usual (a `fetch` message with `sync: true`)
 * and blocks in `Atomics.wait` on the control array's bell slot, in short slices. The host main
 * thread (which asks the front) posts the answer on a dedicated MessagePort, then rings the bell;
 * the worker takes it off the port with `receiveMessageOnPort`. A structured-clone message carries
 * the answer, so no length written by either side is ever trusted to size or index a buffer. The
 * bell is also rung when the host posts a stop, and the wait ends then: the guest never outlives
 * its time limit by more than one slice while it waits.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { CONTROL_FETCH_BELL, CONTROL_STOP, StopReason, type GuestFetchRequest, type GuestFetchResult } from './runtimes/types.js';

/** Longest single wait before the stop flag is looked at again (a stop also rings the bell). */
const WAIT_SLICE_MS = 50;

/** The message the host main thread posts on the fetch port. */
export interface SyncFetchAnswer {
  fetchId: number;
  result: GuestFetchResult;
}

/** Host main thread: hand a synchronous request its answer and wake the waiting worker. */
export function answerSyncFetch(port: MessagePort, control: Int32Array, fetchId: number, result: GuestFetchResult): void {
  // Post before ringing: the worker reads the bell, then drains the port, so no answer is missed.
  port.postMessage({ fetchId, result } satisfies SyncFetchAnswer);
  Atomics.add(control, CONTROL_FETCH_BELL, 1);
  Atomics.notify(control, CONTROL_FETCH_BELL);
}

/** Host main thread: wake a worker waiting for an answer because a stop was posted. */
export function ringForStop(control: Int32Array): void {
  Atomics.add(control, CONTROL_FETCH_BELL, 1);
  Atomics.notify(control, CONTROL_FETCH_BELL);
}

const stopped: GuestFetchResult = { ok: false, code: 'E_STOPPED', message: 'the run was stopped while the request was in flight' };

/**
 * Worker thread: a blocking fetch. `post` sends the request to the host main thread under the given
 * id. Answers to earlier requests that were given up (a stop, a guest timeout) are dropped here.
 */
export function createSyncFetch(
  port: MessagePort,
  control: Int32Array,
  post: (fetchId: number, request: GuestFetchRequest) => void,
  nextId: () => number,
): (request: GuestFetchRequest, waitMs?: number) => GuestFetchResult {
  return (request, waitMs) => {
    if (Atomics.load(control, CONTROL_STOP) !== StopReason.NONE) return stopped;
    const fetchId = nextId();
    const giveUpAt = waitMs !== undefined && Number.isFinite(waitMs) && waitMs >= 0 ? performance.now() + waitMs : Infinity;
    post(fetchId, request);
    for (;;) {
      const bell = Atomics.load(control, CONTROL_FETCH_BELL);
      for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
        const answer = m.message as SyncFetchAnswer;
        if (answer?.fetchId === fetchId) return answer.result;
      }
      if (Atomics.load(control, CONTROL_STOP) !== StopReason.NONE) return stopped;
      const left = giveUpAt - performance.now();
      if (left <= 0) return { ok: false, code: 'E_TIMEOUT', message: 'the request timed out' };
      Atomics.wait(control, CONTROL_FETCH_BELL, bell, Math.min(WAIT_SLICE_MS, left));
    }
  };
}
