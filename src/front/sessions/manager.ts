/**
 * Named sessions: one per caller-chosen name, shared by both languages for files and kept per
 * language for global state. Calls of one session run one at a time, in arrival order; different
 * sessions run concurrently. Idle sessions are dropped after the policy's TTL.
 */
import { ErrorCode, SandboxError } from '../../protocol/errors.js';

export type Language = 'js' | 'python';

export interface Session {
  readonly name: string;
  lastUsed: number;
  /** Calls queued or running. */
  active: number;
  /** Languages whose runtime holds state, with the host generation it lives in. */
  runtimes: Map<Language, number>;
  tail: Promise<unknown>;
  /** Aborted when the session is dropped: its running call is stopped, its queued calls never run. */
  readonly dropped: AbortSignal;
}

interface LiveSession extends Session {
  readonly drop: AbortController;
}

export interface SessionManagerOptions {
  maxSessions: number;
  idleTtlMs: number;
  /** Calls that may wait behind a session's running call (the policy's rate.maxQueue); more are refused. */
  maxQueued?: number;
  /** Called when a session is dropped (TTL, reset), so its runtimes and files can be freed. */
  onDrop: (session: Session) => void;
  now?: () => number;
}

export class SessionManager {
  private readonly sessions = new Map<string, LiveSession>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly options: SessionManagerOptions) {
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(60_000, options.idleTtlMs / 4)));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  get(name: string): Session | undefined {
    return this.sessions.get(name);
  }

  names(): string[] {
    return [...this.sessions.keys()];
  }

  private open(name: string): LiveSession {
    let s = this.sessions.get(name);
    if (s) return s;
    if (this.sessions.size >= this.options.maxSessions) {
      this.sweep();
      if (this.sessions.size >= this.options.maxSessions) {
        throw new SandboxError(
          ErrorCode.SESSION_LIMIT,
          `too many sessions: the policy allows ${this.options.maxSessions}; call reset_session on one you no longer need, or wait for an idle one to expire`,
          { retryAfterMs: this.msUntilNextExpiry() },
        );
      }
    }
    const drop = new AbortController();
    s = { name, lastUsed: this.now(), active: 0, runtimes: new Map(), tail: Promise.resolve(), drop, dropped: drop.signal };
    this.sessions.set(name, s);
    return s;
  }

  /** Run `fn` in the session's queue: after every earlier call of the same session. */
  async withSession<T>(name: string, fn: (session: Session) => Promise<T>): Promise<T> {
    const s = this.open(name);
    const { maxQueued } = this.options;
    if (maxQueued !== undefined && s.active > maxQueued) {
      // Each waiting call holds its code and files in the front: a session's line cannot grow without end.
      throw new SandboxError(ErrorCode.RATE_LIMITED, `session "${name}" already has ${s.active - 1} calls waiting behind its running one (rate.maxQueue is ${maxQueued}); retry when it has caught up`, { retryAfterMs: 1000 });
    }
    s.active++;
    s.lastUsed = this.now();
    const run = s.tail.then(() => {
      // Queued behind a call when the session was reset: the session this call was meant for is gone.
      if (s.dropped.aborted) throw new SandboxError(ErrorCode.CANCELLED, `session "${name}" was reset before this call ran; nothing ran`);
      return fn(s);
    });
    s.tail = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      s.active--;
      s.lastUsed = this.now();
    }
  }

  /** Drop a session now. Returns false if there was none. */
  reset(name: string): boolean {
    const s = this.sessions.get(name);
    if (!s) return false;
    this.sessions.delete(name);
    s.drop.abort();
    this.options.onDrop(s);
    return true;
  }

  sweep(): void {
    const now = this.now();
    for (const s of [...this.sessions.values()]) {
      if (s.active === 0 && now - s.lastUsed >= this.options.idleTtlMs) this.reset(s.name);
    }
  }

  private msUntilNextExpiry(): number {
    const now = this.now();
    let best = this.options.idleTtlMs;
    for (const s of this.sessions.values()) if (s.active === 0) best = Math.min(best, Math.max(0, s.lastUsed + this.options.idleTtlMs - now));
    return best;
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
