/**
 * A thread gives memory back when it goes quiet (src/shared/idle-collector.ts; the front's main
 * thread, the sandbox host's and each runtime worker): one collection per quiet spell, never during
 * a burst, none after stop.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startIdleCollector } from '../../../src/shared/idle-collector.js';

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
