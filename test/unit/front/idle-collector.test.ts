/**
 * The front gives memory back when it goes quiet (src/front/idle-collector.ts): one collection per
 * quiet spell, never during a burst, none after stop, and a real full collection when it fires.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { collectGarbage, startIdleCollector } from '../../../src/front/idle-collector.js';

describe('startIdleCollector', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('collects once, idleMs after the last message of a burst, and not again until the next one', () => {
    let collections = 0;
    const idle = startIdleCollector({ idleMs: 5000, collect: () => collections++ });
    for (let i = 0; i < 10; i++) {
      idle.touch();
      vi.advanceTimersByTime(1000);
    }
    // A burst of messages 1 s apart: never quiet for 5 s.
    expect(collections).toBe(0);
    vi.advanceTimersByTime(4000);
    expect(collections).toBe(1);
    vi.advanceTimersByTime(60_000);
    expect(collections).toBe(1);
    idle.touch();
    vi.advanceTimersByTime(5000);
    expect(collections).toBe(2);
  });

  it('collects nothing after stop, and survives a collection that throws', () => {
    let collections = 0;
    const idle = startIdleCollector({
      idleMs: 100,
      collect: () => {
        collections++;
        throw new Error('no gc here');
      },
    });
    idle.touch();
    expect(() => vi.advanceTimersByTime(100)).not.toThrow();
    idle.touch();
    idle.stop();
    idle.touch();
    vi.advanceTimersByTime(1000);
    expect(collections).toBe(1);
  });
});

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
