import { describe, expect, it } from 'vitest';
import { guestStartMark, SETUP_ALLOWANCE_MS, timeLeftMs } from '../../../src/sandbox/run-clock.js';

describe('the run clock', () => {
  it('counts a run that started at once from its dispatch', () => {
    expect(timeLeftMs({ elapsedMs: 100, mark: guestStartMark(0), timeoutMs: 300 })).toBe(200);
    expect(timeLeftMs({ elapsedMs: 300, mark: guestStartMark(0), timeoutMs: 300 })).toBe(0);
  });

  it('gives a run whose runtime was slow to set up its full time limit', () => {
    // Set-up took 1.2 s of a 1.5 s limit: the guest still gets 1.5 s from its first statement.
    const mark = guestStartMark(1200);
    expect(timeLeftMs({ elapsedMs: 1500, mark, timeoutMs: 1500 })).toBe(1200);
    expect(timeLeftMs({ elapsedMs: 2700, mark, timeoutMs: 1500 })).toBe(0);
  });

  it('waits for a guest that has not started, but only within the set-up allowance', () => {
    expect(timeLeftMs({ elapsedMs: 300, mark: 0, timeoutMs: 300 })).toBe(300);
    expect(timeLeftMs({ elapsedMs: SETUP_ALLOWANCE_MS + 300, mark: 0, timeoutMs: 300 })).toBe(0);
  });

  it('never believes a mark later than now or past the allowance (a forged mark buys nothing more)', () => {
    expect(timeLeftMs({ elapsedMs: 500, mark: 1_000_000, timeoutMs: 300 })).toBe(300);
    expect(timeLeftMs({ elapsedMs: SETUP_ALLOWANCE_MS + 300, mark: 2 ** 31 - 1, timeoutMs: 300 })).toBe(0);
    expect(timeLeftMs({ elapsedMs: 500, mark: -5, timeoutMs: 300 })).toBe(300);
    expect(guestStartMark(10 * SETUP_ALLOWANCE_MS)).toBe(SETUP_ALLOWANCE_MS + 1);
    expect(guestStartMark(-3)).toBe(1);
  });
});
