/**
 * A full, compacting collection of the front's heap, for its idle collector (shared/idle-collector.ts).
 *
 * V8 hands `gc` only to contexts made after `--expose-gc` is set, so a fresh context lends it: the
 * front's own global never gains a `gc`. (The sandbox host gets its `gc` another way:
 * sandbox/garbage.ts.)
 *
 * A plain full collection frees dead objects but keeps every page that still holds a live one: after
 * a soak's 520 calls the front's old space kept ~14 MiB of pages for ~9 MiB of live objects, and its
 * RSS ended 9–12% above the baseline. Compacting moves the survivors together and gives the emptied
 * pages back (+0.9 MiB of V8 pages, RSS +2.0% in the same soak). It costs a little more than a plain
 * collection (~60–70 against ~35–60 ms here), once per quiet spell.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = () => void;

let gcMemo: Gc | null | undefined;

/** One full, compacting collection; does nothing where no `gc` could be had. */
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
  if (!gcMemo) return;
  // No options: Node 20's V8 answers { type: 'major' } (and any other option) with a minor collection.
  // V8 compacts a full collection only where it expects a gain; the flag asks it to, for this one.
  v8.setFlagsFromString('--compact-on-every-full-gc');
  try {
    gcMemo();
  } finally {
    v8.setFlagsFromString('--no-compact-on-every-full-gc');
  }
}
