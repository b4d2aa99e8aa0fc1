/**
 * A full collection of the front's heap, for its idle collector (shared/idle-collector.ts).
 *
 * V8 hands `gc` only to contexts made after `--expose-gc` is set, so a fresh context lends it: the
 * front's own global never gains a `gc`. (The sandbox host gets its `gc` another way:
 * sandbox/garbage.ts.)
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = () => void;

let gcMemo: Gc | null | undefined;

/** One full collection; does nothing where no `gc` could be had. */
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
