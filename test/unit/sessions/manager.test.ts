import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/protocol/errors.js';
import { SessionManager } from '../../../src/front/sessions/manager.js';

const manager = (maxQueued?: number) => new SessionManager({ maxSessions: 4, idleTtlMs: 60_000, onDrop: () => undefined, ...(maxQueued === undefined ? {} : { maxQueued }) });

describe('SessionManager', () => {
  it('runs a session\'s calls one at a time, and refuses a call past maxQueued waiting ones (E_RATE_LIMITED)', async () => {
    const m = manager(2);
    let release!: () => void;
    const running = m.withSession('q', () => new Promise<string>((r) => (release = () => r('first'))));
    const waiting = [m.withSession('q', async () => 'second'), m.withSession('q', async () => 'third')];
    await expect(m.withSession('q', async () => 'fourth')).rejects.toMatchObject({ code: ErrorCode.RATE_LIMITED });
    // Another session has its own line.
    await expect(m.withSession('other', async () => 'other')).resolves.toBe('other');
    release();
    await expect(Promise.all([running, ...waiting])).resolves.toEqual(['first', 'second', 'third']);
    await expect(m.withSession('q', async () => 'after')).resolves.toBe('after');
    m.close();
  });

  it('a reset refuses the calls still waiting, as cancelled', async () => {
    const m = manager();
    let release!: () => void;
    const running = m.withSession('r', () => new Promise<void>((r) => (release = r)));
    const queued = m.withSession('r', async () => 'ran');
    await new Promise((r) => setImmediate(r));
    m.reset('r');
    release();
    await running;
    await expect(queued).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
    m.close();
  });
});
