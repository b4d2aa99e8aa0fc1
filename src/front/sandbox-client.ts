/**
 * The only door to the sandbox host. Spawns it under the permission model, validates every message
 * it sends (it is treated as hostile), restarts it when it dies, and guarantees every call an
 * answer: a reply, or a clear error when the host dies, misbehaves or stops answering.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { ErrorCode, SandboxError } from '../protocol/errors.js';
import { SANDBOX_HOST_ENV } from '../protocol/host-env.js';
import type { PublicKeyEntry, SignedCapsule } from '../protocol/capsule.js';
import { FetchResultWire, HostMessage, type FetchRequestWire, type FrontMessage, type InitMessage, type RunOutcomeWire } from '../protocol/messages.js';
import type { Logger } from './logger.js';
import type { PythonSnapshot } from './snapshot/provide.js';
import { sandboxHostLaunch, type HostLaunch } from './node-flags.js';
import { CODE_DIR } from './package-paths.js';
import { describeOsLayers, planHostLaunch, probeNetns, type NetnsAvailability, type OsLayers } from './os-layers.js';

export const HOST_SCRIPT = path.join(CODE_DIR, 'sandbox', 'host.js');

export interface SandboxClientOptions {
  publicKeys: PublicKeyEntry[];
  logger: Logger;
  memMb: number;
  spares?: { js: number; python: number };
  /** Grace between soft stop and worker.terminate() inside the host. */
  graceMs?: number;
  /** Extra time the front waits past a run's own deadline before it kills a wedged host. */
  frontBackstopMs?: number;
  startTimeoutMs?: number;
  /**
   * Python's memory snapshot, being loaded from the signed cache or made (see front/snapshot/).
   * Hosts started before it settles get it in a message as soon as it does; later ones in `init`.
   */
  pythonSnapshot?: Promise<PythonSnapshot | undefined>;
  /**
   * The snapshot cache's data file: the host is granted read access to it (and to nothing else of
   * the user's) so that it reads and checks the snapshot itself.
   */
  pythonSnapshotFile?: string;
  /** The policy's Python wheels, sent to every host once at start (runs name them by digest). */
  wheels?: ReadonlyArray<{ filename: string; data: Uint8Array }>;
}

interface Pending {
  resolve: (outcome: RunOutcomeWire) => void;
  reject: (error: SandboxError) => void;
  timer: NodeJS.Timeout;
  onFetch: FetchHandler | undefined;
  /** The host process the run was sent to. */
  child: ChildProcess;
}

/** Performs (or refuses) one guest network request for a run: the runner's broker. */
export type FetchHandler = (request: FetchRequestWire) => Promise<FetchResultWire>;

const CRASH_WINDOW_MS = 30_000;
const CRASH_LIMIT = 5;

export class SandboxClient extends EventEmitter {
  private child: ChildProcess | undefined;
  private starting: Promise<void> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private crashes: number[] = [];
  /** Increments each time a new host is started; sessions compare it to notice lost state. */
  generation = 0;
  restrictions: string[] = [];
  /** The OS isolation layers the running host has (see os-layers.ts); undefined before it is ready. */
  osLayers: OsLayers | undefined;
  /** Whether the host can start in its own network namespace: probed once, then kept. */
  private netns: NetnsAvailability | undefined;
  /** Python's snapshot: still coming, or settled (undefined: none). */
  private python: { settled: false } | { settled: true; snapshot: PythonSnapshot | undefined } = { settled: false };

  constructor(private readonly options: SandboxClientOptions) {
    super();
    // Probe now, alongside the rest of start-up, so the host's spawn does not wait for it.
    void probeNetns();
    const snapshot = options.pythonSnapshot ?? Promise.resolve(undefined);
    void snapshot
      .catch(() => undefined)
      .then((settled) => {
        const snapshot = this.readable(settled);
        this.python = { settled: true, snapshot };
        // A host that was told the snapshot is pending waits for it (or for word that there is none).
        if (this.child && options.pythonSnapshot) this.sendTo(this.child, { t: 'snapshot', language: 'python', ...snapshot });
      });
  }

  /** A snapshot file the host was not granted would only fail there: treat it as none. */
  private readable(snapshot: PythonSnapshot | undefined): PythonSnapshot | undefined {
    if (!snapshot || !('file' in snapshot) || snapshot.file.path === this.options.pythonSnapshotFile) return snapshot;
    this.options.logger.warn({ file: snapshot.file.path }, 'python snapshot file outside the sandbox host\'s grant; the host takes its own');
    return undefined;
  }

  /** The `python` part of `init`: the snapshot once settled, else a promise of it. */
  private pythonInit(): InitMessage['python'] {
    if (!this.options.pythonSnapshot) return undefined;
    if (!this.python.settled) return { pending: true };
    const s = this.python.snapshot;
    if (!s) return { pending: false };
    return 'file' in s ? { file: s.file, pending: false } : { snapshot: s.data, pending: false };
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<void> {
    this.starting ??= this.spawnHost().catch((e: unknown) => {
      this.starting = undefined;
      throw e;
    });
    return this.starting;
  }

  /** Start the host in its own network namespace where possible; never fail start-up for want of one. */
  private async spawnHost(): Promise<void> {
    const netns = (this.netns ??= await probeNetns());
    try {
      await this.spawnWith(planHostLaunch(this.hostLaunch(), netns), netns);
    } catch (e) {
      if (!netns.available || this.closed) throw e;
      this.netns = { available: false, reason: `the sandbox host did not start inside one (${(e as Error).message})` };
      this.options.logger.warn({ reason: this.netns.reason }, 'starting the sandbox host without a network namespace');
      await this.spawnWith(this.hostLaunch(), this.netns);
    }
  }

  private hostLaunch(): HostLaunch {
    const file = this.options.pythonSnapshotFile;
    return sandboxHostLaunch(HOST_SCRIPT, { readFiles: file ? [file] : [] });
  }

  private spawnWith(launch: HostLaunch, netns: NetnsAvailability): Promise<void> {
    const { logger } = this.options;
    const child = spawn(launch.execPath, launch.args, {
      env: { ...SANDBOX_HOST_ENV },
      cwd: '/',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.child = child;
    const generation = ++this.generation;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim()) logger.warn({ src: 'sandbox-host' }, line.slice(0, 2000));
    });

    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        if (ready) return;
        child.kill('SIGKILL');
        reject(new SandboxError(ErrorCode.SANDBOX_CRASHED, 'the sandbox host did not become ready in time'));
      }, this.options.startTimeoutMs ?? 20_000);

      child.on('message', (raw: unknown) => {
        const parsed = HostMessage.safeParse(raw);
        if (!parsed.success) {
          logger.error('the sandbox host sent a malformed message; restarting it');
          this.retire(child);
          this.failAll(ErrorCode.PROTOCOL, 'the sandbox host misbehaved and was restarted', child);
          child.kill('SIGKILL');
          return;
        }
        const msg = parsed.data;
        switch (msg.t) {
          case 'ready':
            ready = true;
            clearTimeout(timer);
            this.restrictions = msg.restrictions;
            this.osLayers = describeOsLayers(msg.restrictions, msg.node, netns);
            logger.info({ pid: msg.pid, node: msg.node, restrictions: msg.restrictions }, 'sandbox host ready');
            logger.info({ osLayers: this.osLayers }, 'sandbox host OS isolation layers');
            resolve();
            return;
          case 'log':
            logger[msg.level]({ src: 'sandbox-host' }, msg.msg);
            return;
          case 'result':
            this.settle(msg.id, (p) => p.resolve(msg.outcome));
            return;
          case 'refused':
            this.settle(msg.id, (p) => p.reject(new SandboxError(toCode(msg.code), msg.message)));
            return;
          case 'fetch':
            void this.answerFetch(child, msg.id, msg.fetchId, msg.request);
            return;
        }
      });

      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        // Only the host in charge is replaced; one already retired has a successor.
        const current = this.retire(child);
        if (!ready) {
          reject(new SandboxError(ErrorCode.SANDBOX_CRASHED, `the sandbox host exited before it was ready (${signal ?? code})`));
          return;
        }
        this.failAll(ErrorCode.SANDBOX_CRASHED, 'the sandbox host stopped during the run; the run was lost', child);
        if (this.closed || !current) return;
        logger.warn({ code, signal, generation }, 'sandbox host exited; restarting');
        this.emit('restart', this.generation);
        this.restartSoon();
      });

      child.on('error', (e) => logger.error({ err: e.message }, 'sandbox host process error'));
      const python = this.pythonInit();
      this.sendTo(child, {
        t: 'init',
        keyring: this.options.publicKeys,
        spares: this.options.spares ?? { js: 1, python: 0 },
        memMb: this.options.memMb,
        graceMs: this.options.graceMs ?? 200,
        ...(python ? { python } : {}),
        ...(this.options.wheels?.length ? { wheels: this.options.wheels.map((w) => ({ filename: w.filename, data: w.data })) } : {}),
      });
    });
  }

  private restartSoon(): void {
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < CRASH_WINDOW_MS);
    this.crashes.push(now);
    const delay = this.crashes.length >= CRASH_LIMIT ? 2000 : 0;
    setTimeout(() => {
      if (!this.closed) this.start().catch((e: Error) => this.options.logger.error({ err: e.message }, 'sandbox host restart failed'));
    }, delay).unref();
  }

  private sendTo(child: ChildProcess, msg: FrontMessage): void {
    if (child.connected) child.send(msg);
  }

  private settle(id: number, fn: (p: Pending) => void): void {
    const p = this.pending.get(id);
    if (!p) {
      this.options.logger.warn({ id }, 'the sandbox host answered a run that is not pending');
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    fn(p);
  }

  /**
   * Stop sending work to `child` (it is dying); the next call starts a new host. Returns whether
   * it was the host in charge.
   */
  private retire(child: ChildProcess): boolean {
    if (this.child !== child) return false;
    this.child = undefined;
    this.starting = undefined;
    return true;
  }

  /** Fail the runs in flight on `child` (all runs when no child is named). */
  private failAll(code: ErrorCode, message: string, child?: ChildProcess): void {
    for (const [id, p] of this.pending) {
      if (child !== undefined && p.child !== child) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new SandboxError(code, message));
    }
  }

  /**
   * Run a signed capsule. `deadlineMs` is the run's own time limit; if the host has not answered
   * well past it, the host is considered wedged and is killed (and restarted).
   */
  async run(
    capsule: SignedCapsule,
    files: Array<{ path: string; data: Uint8Array; mtimeMs?: number }>,
    deadlineMs: number,
    signal?: AbortSignal,
    onFetch?: FetchHandler,
  ): Promise<RunOutcomeWire> {
    if (this.closed) throw new SandboxError(ErrorCode.SANDBOX_CRASHED, 'the server is shutting down');
    await this.start();
    // The last point before the guest's code is sent: a call cancelled by now never runs.
    if (signal?.aborted) throw new SandboxError(ErrorCode.CANCELLED, 'the run was cancelled before it started');
    const child = this.child;
    if (!child?.connected) throw new SandboxError(ErrorCode.SANDBOX_CRASHED, 'the sandbox host is not available');
    const id = this.nextId++;
    const backstop = deadlineMs + (this.options.graceMs ?? 200) + (this.options.frontBackstopMs ?? 45_000);
    return new Promise<RunOutcomeWire>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.options.logger.error({ id }, 'the sandbox host stopped answering; killing it');
        this.settle(id, (p) => p.reject(new SandboxError(ErrorCode.TIMEOUT, `the run exceeded its ${deadlineMs} ms time limit and the sandbox host had to be restarted`)));
        child.kill('SIGKILL');
      }, backstop);
      this.pending.set(id, { resolve, reject, timer, onFetch, child });
      const onAbort = () => this.sendTo(child, { t: 'cancel', id });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sendTo(child, { t: 'run', id, capsule, files });
    });
  }

  /** A run's network request: only a pending run with a broker gets one performed. */
  private async answerFetch(child: ChildProcess, id: number, fetchId: number, request: FetchRequestWire): Promise<void> {
    const handler = this.pending.get(id)?.onFetch;
    let result: FetchResultWire;
    if (!handler) result = { ok: false, code: ErrorCode.POLICY_DENIED, message: 'network access is disabled by the policy' };
    else {
      try {
        result = await handler(request);
      } catch {
        result = { ok: false, code: 'E_NETWORK', message: 'the request failed' };
      }
      // The host refuses a message off its schema; the guest must get an answer, not a wait.
      if (!FetchResultWire.safeParse(result).success) result = { ok: false, code: 'E_NETWORK', message: 'the response could not be passed into the sandbox' };
    }
    this.sendTo(child, { t: 'fetch-result', id, fetchId, result });
  }

  drop(language: 'js' | 'python', session: string): void {
    if (this.child) this.sendTo(this.child, { t: 'drop', language, session });
  }

  /** Stop the host and wait for it to exit. */
  async close(): Promise<void> {
    this.closed = true;
    this.failAll(ErrorCode.SANDBOX_CRASHED, 'the server is shutting down');
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.disconnect?.();
      setTimeout(() => child.kill('SIGKILL'), 1500).unref();
    });
  }
}

function toCode(code: string): ErrorCode {
  return (Object.values(ErrorCode) as string[]).includes(code) ? (code as ErrorCode) : ErrorCode.INTERNAL;
}
