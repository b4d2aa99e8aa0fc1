import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/protocol/errors.js';
import { RateLimiter } from '../../../src/front/sessions/rate-limiter.js';
import { ConcurrencyGate } from '../../../src/front/sessions/gate.js';

describe('RateLimiter', () => {
  it('allows a burst up to the limit, then refuses with a retry time, then refills', () => {
    let t = 0;
    const rl = new RateLimiter(60, () => t);
    for (let i = 0; i < 60; i++) rl.take();
    let err: any;
    try {
      rl.take();
    } catch (e) {
      err = e;
    }
    expect(err.code).toBe(ErrorCode.RATE_LIMITED);
    expect(err.retryAfterMs).toBe(1000);
    t += 1000;
    expect(() => rl.take()).not.toThrow();
    expect(() => rl.take()).toThrow();
  });
});

describe('ConcurrencyGate', () => {
  it('runs at most N at once, queues up to M, refuses beyond, never hangs', async () => {
    const gate = new ConcurrencyGate(2, 1);
    let running = 0;
    let peak = 0;
    const release: Array<() => void> = [];
    const job = () =>
      gate.run(
        () =>
          new Promise<void>((resolve) => {
            running++;
            peak = Math.max(peak, running);
            release.push(() => {
              running--;
              resolve();
            });
          }),
      );
    const a = job();
    const b = job();
    const c = job(); // queued
    await expect(job()).rejects.toMatchObject({ code: ErrorCode.RATE_LIMITED });
    await new Promise((r) => setTimeout(r, 10));
    expect(running).toBe(2);
    release.shift()!();
    await new Promise((r) => setTimeout(r, 10));
    expect(running).toBe(2); // the queued one started
    release.splice(0).forEach((f) => f());
    await new Promise((r) => setTimeout(r, 10));
    release.splice(0).forEach((f) => f());
    await Promise.all([a, b, c]);
    expect(peak).toBe(2);
  });

  it('a call cancelled before it reached the gate never runs and takes no slot', async () => {
    const gate = new ConcurrencyGate(1, 5);
    const ac = new AbortController();
    ac.abort();
    let ran = false;
    await expect(gate.run(async () => (ran = true), ac.signal)).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
    expect(ran).toBe(false);
    expect(await gate.run(async () => 'next')).toBe('next');
  });

  it('a queued call that is cancelled leaves the queue', async () => {
    const gate = new ConcurrencyGate(1, 5);
    let release!: () => void;
    const first = gate.run(() => new Promise<void>((r) => (release = r)));
    const ac = new AbortController();
    const queued = gate.run(async () => 'ran', ac.signal);
    ac.abort();
    await expect(queued).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
    release();
    await first;
    expect(await gate.run(async () => 'next')).toBe('next');
  });
});
