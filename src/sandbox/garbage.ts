/**
 * A full collection of this thread's V8 heap, with no `gc` left where a guest could call it.
 *
 * The sandbox host runs with `--expose-gc` (front/node-flags.ts), so V8 gives every realm it makes —
 * the host's, each worker's, the one Pyodide and the guest's Python share — a global `gc`. The host
 * and every worker import this module before anything else: it takes that function and leaves the
 * global a read-only `undefined` before any runtime loads or guest code runs. (V8 defines `gc` as a
 * non-configurable global, so it cannot be deleted; it is writable, so it can be locked.)
 * Without the flag there is nothing to take and `collectGarbage` does nothing.
 */
type Gc = () => void;

function takeGlobalGc(): Gc | undefined {
  const g = globalThis as { gc?: unknown };
  const gc = g.gc;
  if (gc === undefined) return undefined;
  try {
    Object.defineProperty(globalThis, 'gc', { value: undefined, writable: false });
  } catch {
    // A property V8 did not make: leave it, keep nothing of it.
    return undefined;
  }
  return typeof gc === 'function' ? (gc as Gc) : undefined;
}

const gc = takeGlobalGc();

/** One full collection of the calling thread's heap (no options: Node 20 answers `{type:'major'}` with a minor one). */
export function collectGarbage(): void {
  gc?.();
}

/** True when this realm still has a callable global `gc` (the host's self-check and each worker refuse to go on). */
export function globalGcReachable(): boolean {
  return typeof (globalThis as { gc?: unknown }).gc === 'function';
}
