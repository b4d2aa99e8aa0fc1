import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { eitherSignal } from '../../../src/front/sessions/either-signal.js';

describe('eitherSignal', () => {
  it('aborts when either source does, and when one already has', () => {
    const a = new AbortController();
    const b = new AbortController();
    const first = eitherSignal(a.signal, b.signal);
    expect(first.signal.aborted).toBe(false);
    b.abort();
    expect(first.signal.aborted).toBe(true);
    expect(eitherSignal(undefined, b.signal).signal.aborted).toBe(true);
    const c = new AbortController();
    const second = eitherSignal(c.signal, new AbortController().signal);
    c.abort();
    expect(second.signal.aborted).toBe(true);
  });

  it('leaves no listener on a long-lived source once released (a session outlives thousands of calls)', () => {
    const session = new AbortController();
    for (let i = 0; i < 1000; i++) eitherSignal(new AbortController().signal, session.signal).release();
    expect(getEventListeners(session.signal, 'abort')).toHaveLength(0);
  });
});
