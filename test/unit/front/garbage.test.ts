/**
 * The front's full collection (src/front/garbage.ts), run by its idle collector: a real major
 * collection, and the front's own global never gains a `gc`.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { collectGarbage } from '../../../src/front/garbage.js';

describe('collectGarbage', () => {
  it('runs a full (major) collection without giving the caller a global gc', async () => {
    const kinds: number[] = [];
    const observer = new PerformanceObserver((list) => {
      // A gc entry's detail holds its kind (Node ≥ 16); @types/node 20 does not declare it.
      for (const e of list.getEntries()) kinds.push((e as unknown as { detail: { kind: number } }).detail.kind);
    });
    observer.observe({ entryTypes: ['gc'] });
    collectGarbage();
    await new Promise((r) => setTimeout(r, 50));
    observer.disconnect();
    expect(kinds).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
