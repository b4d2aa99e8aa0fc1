/**
 * The front's execution pipeline, shared by run_js and run_python: validate, narrow the policy,
 * queue per session, build and sign the capsule, hand it to the sandbox host, and turn what comes
 * back (hostile input) into the contract's result.
 */
import { capsuleId } from '../protocol/capsule.js';
import { ErrorCode, SandboxError, exitCodeFor, isSandboxError } from '../protocol/errors.js';
import { isUnder } from '../protocol/guest-paths.js';
import type { RunOutcomeWire } from '../protocol/messages.js';
import type { JsonValue } from '../protocol/json.js';
import type { CapsuleWheel } from '../protocol/python-packages.js';
import type { AuditLog } from './audit/audit-log.js';
import { buildCapsuleBody, type CapsuleSigner } from './capsule/signer.js';
import type { CapsuleStore } from './capsule/store.js';
import type { NetworkBroker } from './net/broker.js';
import type { Logger } from './logger.js';
import { appendNote, OUTPUT_DIR, rejectionNote, type OutputFile } from './output-files.js';
import { narrowLimits } from './policy/narrow.js';
import type { Policy } from './policy/schema.js';
import { capUtf8, failureResult, type RunResult } from './run-result.js';
import type { SandboxClient } from './sandbox-client.js';
import { eitherSignal } from './sessions/either-signal.js';
import { ConcurrencyGate } from './sessions/gate.js';
import { RateLimiter } from './sessions/rate-limiter.js';
import { SessionManager, type Language, type Session } from './sessions/manager.js';
import type { MountReader } from './vfs/mounts.js';
import { decodeInputFile, mimeTypeFor, SessionVfs, type GuestChangeResult, type VfsFileInfo } from './vfs/store.js';

/** One entry of the tools' `files` input. */
export interface InputFile {
  path: string;
  content: string;
  encoding?: 'utf8' | 'base64' | undefined;
}

export interface RunRequest {
  language: Language;
  code: string;
  /** The js code is TypeScript: the sandbox strips its types (strip-only) before running it. */
  typescript?: boolean | undefined;
  session?: string | undefined;
  timeoutMs?: number | undefined;
  /** A value handed to the code as the global `input` (registry capsules). */
  input?: JsonValue | undefined;
  /** The tool that asked, for the audit log. */
  tool?: string | undefined;
  /** Written into the session's files (writable paths only, all or nothing) before the code runs. */
  files?: ReadonlyArray<InputFile> | undefined;
  signal?: AbortSignal | undefined;
}

/** A run's result and the bytes of the files it wrote under /output (listed in `result.files`). */
export interface RunReply {
  result: RunResult;
  outputs: OutputFile[];
}

export interface RunnerOptions {
  policy: Policy;
  signer: CapsuleSigner;
  sandbox: SandboxClient;
  logger: Logger;
  /** One line per run, when configured. */
  audit?: AuditLog | undefined;
  /** Where executed capsules are kept, when configured. */
  store?: CapsuleStore | undefined;
  /** The policy's host mounts, copied into each new session (validated at policy load). */
  mounts?: MountReader | undefined;
  /** The policy's Python wheels (python.packagesDir): their digests are signed into every capsule. */
  wheels?: ReadonlyArray<CapsuleWheel> | undefined;
}

/** The run's `network` field: every attempt, with the policy's reason where it was blocked. */
function networkLog(broker: NetworkBroker | undefined): RunResult['network'] {
  return (broker?.log ?? []).map((e) => ({
    url: e.url,
    method: e.method,
    ...(e.status !== undefined ? { status: e.status } : {}),
    ...(e.blocked !== undefined ? { blocked: e.blocked } : {}),
    ...(e.error !== undefined ? { error: e.error } : {}),
  }));
}

export class Runner {
  readonly sessions: SessionManager;
  private readonly gate: ConcurrencyGate;
  private readonly rate: RateLimiter;
  /** The policy as it travels inside every capsule (signed, so the host runs what we decided). */
  private readonly capsulePolicy: Policy;
  /** Each live session's files (the store of truth), shared by both languages. */
  private readonly vfsBySession = new WeakMap<Session, SessionVfs>();

  constructor(private readonly options: RunnerOptions) {
    const { policy, sandbox } = options;
    this.capsulePolicy = { ...policy };
    delete (this.capsulePolicy as { $schema?: string }).$schema;
    // The host needs the wheels' digests, never the host directory they came from.
    (this.capsulePolicy as { python: unknown }).python = {
      wheels: (options.wheels ?? []).map((w) => ({ filename: w.filename, sha256: w.sha256, size: w.size })),
    };
    this.gate = new ConcurrencyGate(policy.rate.maxConcurrentRuns, policy.rate.maxQueue);
    this.rate = new RateLimiter(policy.rate.callsPerMinute);
    this.sessions = new SessionManager({
      maxSessions: policy.sessions.maxSessions,
      idleTtlMs: policy.sessions.idleTtlMs,
      maxQueued: policy.rate.maxQueue,
      onDrop: (s) => {
        // Both languages, whether or not a run has finished in them yet: a first run still going
        // holds a runtime the host keeps under the session's name.
        for (const language of ['js', 'python'] as const) sandbox.drop(language, s.name);
        this.vfsBySession.get(s)?.clear();
        this.vfsBySession.delete(s);
      },
    });
  }

  /** The time limit a call with this requested timeout gets (the policy's, narrowed). */
  timeoutFor(requested: number | undefined): number {
    return narrowLimits(this.options.policy.limits, { timeoutMs: requested }).timeoutMs;
  }

  async run(req: RunRequest): Promise<RunResult> {
    return (await this.runWithOutputs(req)).result;
  }

  /** `run`, plus the bytes of the files the run wrote under /output (for MCP content). */
  async runWithOutputs(req: RunRequest): Promise<RunReply> {
    const reply = await this.dispatch(req);
    const { audit } = this.options;
    if (audit) {
      const r = reply.result;
      audit.record({
        tool: req.tool ?? (req.language === 'js' ? 'run_js' : 'run_python'),
        language: req.language,
        typescript: req.typescript === true,
        session: req.session,
        code: req.code,
        capsuleId: r.capsule.id,
        keyId: r.capsule.keyId,
        exitCode: r.exitCode,
        errorCode: r.error?.code,
        durationMs: r.durationMs,
        stdoutBytes: Buffer.byteLength(r.stdout),
        stderrBytes: Buffer.byteLength(r.stderr),
        outputFiles: r.files.length,
        network: { attempts: r.network.length, blocked: r.network.filter((n) => n.blocked !== undefined).length },
      });
    }
    return reply;
  }

  private async dispatch(req: RunRequest): Promise<RunReply> {
    const { policy, logger } = this.options;
    const fail = (e: unknown): RunReply => {
      // The client sees only "internal error" for a bug of ours: the log must say what it was.
      if (!isSandboxError(e)) logger.error({ err: e instanceof Error ? e.stack : String(e) }, 'run failed unexpectedly');
      return { result: failureResult(e, { session: req.session }), outputs: [] };
    };
    try {
      this.rate.take();
    } catch (e) {
      return fail(e);
    }
    if (req.typescript === true && req.language !== 'js') {
      return fail(new SandboxError(ErrorCode.INVALID_INPUT, 'typescript applies to JavaScript runs only'));
    }
    const codeBytes = Buffer.byteLength(req.code, 'utf8');
    if (codeBytes > policy.limits.codeBytes) {
      return fail(new SandboxError(ErrorCode.INVALID_INPUT, `code is ${codeBytes} bytes; the policy allows at most ${policy.limits.codeBytes}`));
    }
    let inputFiles: Array<{ path: string; data: Buffer }>;
    try {
      inputFiles = (req.files ?? []).map((f) => decodeInputFile(f));
    } catch (e) {
      return fail(e);
    }
    const exec = (signal: AbortSignal | undefined) => this.gate.run(() => this.execute(req, session, inputFiles, signal), signal);
    let session: Session | undefined;
    try {
      if (req.session === undefined) return await exec(req.signal);
      return await this.sessions.withSession(req.session, async (s) => {
        session = s;
        // A reset stops the session's call as a client's cancellation would (130).
        const either = eitherSignal(req.signal, s.dropped);
        try {
          const reply = await exec(either.signal);
          if (s.dropped.aborted && !req.signal?.aborted && reply.result.error?.code === ErrorCode.CANCELLED) {
            reply.result.error.message = `session "${s.name}" was reset while this call ran`;
          }
          return reply;
        } finally {
          either.release();
        }
      });
    } catch (e) {
      return fail(e);
    }
  }

  /** The session's files; a new session starts with the host mounts' files. */
  private async vfsFor(session: Session | undefined): Promise<SessionVfs> {
    const existing = session && this.vfsBySession.get(session);
    if (existing) return existing;
    const vfs = new SessionVfs(this.options.policy.filesystem);
    const { mounts } = this.options;
    if (mounts && !mounts.empty) vfs.writeFiles(await mounts.read(), { by: 'mount' });
    if (session) this.vfsBySession.set(session, vfs);
    return vfs;
  }

  /** A live session's files, for MCP resources (never creates a session). */
  sessionFiles(): Array<{ session: string; files: VfsFileInfo[] }> {
    return this.sessions.names().flatMap((name) => {
      const s = this.sessions.get(name);
      const vfs = s && this.vfsBySession.get(s);
      return vfs ? [{ session: name, files: vfs.list() }] : [];
    });
  }

  /** One file of a live session, or undefined. */
  readSessionFile(session: string, path: string): Buffer | undefined {
    const s = this.sessions.get(session);
    const vfs = s && this.vfsBySession.get(s);
    return vfs?.readFile(path);
  }

  private async execute(req: RunRequest, session: Session | undefined, inputFiles: Array<{ path: string; data: Buffer }>, signal: AbortSignal | undefined): Promise<RunReply> {
    const { policy, signer, sandbox, logger } = this.options;
    // A sessionless run gets a throwaway filesystem; a session's persists until it is dropped.
    let vfs: SessionVfs;
    try {
      vfs = await this.vfsFor(session);
    } catch (e) {
      return { result: failureResult(e, { session: req.session }), outputs: [] };
    }
    if (inputFiles.length > 0) {
      try {
        vfs.writeFiles(inputFiles, { by: 'client' });
      } catch (e) {
        const err = isSandboxError(e) ? new SandboxError(e.code, `files: ${e.message}; no file was written`) : e;
        return { result: failureResult(err, { session: req.session }), outputs: [] };
      }
    }
    const snapshot = vfs.snapshot();
    const digests = new Map(vfs.list().map((f) => [f.path, f.sha256]));
    const limits = narrowLimits(policy.limits, { timeoutMs: req.timeoutMs });
    const body = buildCapsuleBody({
      language: req.language,
      code: req.code,
      typescript: req.typescript === true,
      session: req.session ?? null,
      policy: { ...this.capsulePolicy, limits },
      files: snapshot.map((f) => ({ path: f.path, sha256: digests.get(f.path)!, size: f.data.length })),
      keyId: signer.keyId,
      ttlMs: Math.max(60_000, limits.timeoutMs + 60_000),
      ...(req.input !== undefined ? { input: req.input } : {}),
    });
    const signed = signer.sign(body);
    const capsule = { id: capsuleId(signed.body), keyId: signed.keyId };
    const expectedState = session?.runtimes.get(req.language);
    // One broker per run: its request budget and its log belong to this run only.
    // undici is loaded only by servers whose policy has a network (it is a large part of start-up).
    const broker = policy.network.enabled ? new (await import('./net/broker.js')).NetworkBroker(policy.network) : undefined;
    // A request may not outlive its run; the slack lets the run's own time limit (124) win the race
    // against a request that is cut at the very same moment. The clock starts at the first request,
    // not here: the run itself may start seconds later (a Python worker still loading), and the
    // run's end closes the broker (aborting what is in flight) whenever that comes.
    let deadline: number | undefined;
    const onFetch =
      broker &&
      ((request: Parameters<NetworkBroker['fetch']>[0]) => broker.fetch(request, { deadline: (deadline ??= Date.now() + limits.timeoutMs + 250) }));
    let outcome: RunOutcomeWire;
    try {
      outcome = await sandbox.run(signed, snapshot, limits.timeoutMs, signal, onFetch);
    } catch (e) {
      // The session's marker stays: if the host lost the runtime with this call, the next call's fresh
      // state is announced like any other session's.
      if (!(e instanceof SandboxError)) logger.error({ err: (e as Error).message }, 'run failed');
      const failed = failureResult(e, { session: req.session, capsule });
      failed.network = networkLog(broker);
      return { result: failed, outputs: [] };
    } finally {
      void broker?.close();
    }
    if (session) session.runtimes.set(req.language, sandbox.generation);
    this.options.store?.put(signed);

    // What the guest changed is hostile input: the store re-checks every change against the policy.
    let changes: GuestChangeResult | undefined;
    if (outcome.files !== undefined && outcome.files.length > 0) changes = vfs.applyGuestChanges(outcome.files);
    const outputs: OutputFile[] = [];
    for (const c of changes?.changed ?? []) {
      if (!isUnder(c.path, OUTPUT_DIR)) continue;
      const data = vfs.readFile(c.path);
      if (data !== undefined) outputs.push({ path: c.path, mimeType: mimeTypeFor(c.path), data });
    }
    outputs.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

    const stdout = capUtf8(outcome.stdout, limits.stdoutBytes);
    const stderr = capUtf8(outcome.stderr, limits.stderrBytes);
    let stderrText = stderr.text;
    if (expectedState !== undefined && outcome.freshState) {
      // The user relied on earlier state that is gone: say so rather than fail mysteriously.
      stderrText = capUtf8(`[session "${req.session}": earlier state was lost (the runtime was restarted after a crash, limit or cancellation); starting fresh]\n${stderrText}`, limits.stderrBytes).text;
    }
    let stderrTruncated = outcome.stderrTruncated || stderr.truncated;
    if (outcome.note !== undefined) {
      // Said even when the guest filled stderr: the output gives way to the note.
      const noted = appendNote(stderrText, `${outcome.note}\n`, limits.stderrBytes);
      stderrText = noted.text;
      stderrTruncated ||= noted.truncated;
    }
    if (changes !== undefined && changes.rejectedCount > 0) {
      const noted = appendNote(stderrText, rejectionNote(changes), limits.stderrBytes);
      stderrText = noted.text;
      stderrTruncated ||= noted.truncated;
    }
    const code = outcome.code as ErrorCode | undefined;
    const result: RunResult = {
      exitCode: exitCodeFor(code),
      stdout: stdout.text,
      stderr: stderrText,
      stdoutTruncated: outcome.stdoutTruncated || stdout.truncated,
      stderrTruncated,
      durationMs: Math.round(outcome.durationMs * 1000) / 1000,
      capsule,
      files: outputs.map((f) => ({ path: f.path, size: f.data.length, mimeType: f.mimeType })),
      network: networkLog(broker),
    };
    if (outcome.result !== undefined) result.result = outcome.result;
    if (code !== undefined) {
      const err = outcome.error ?? { type: 'Error', message: 'the run failed' };
      result.error = { type: err.type, message: err.message, code };
      if (err.traceback) result.error.traceback = err.traceback;
    }
    if (req.session !== undefined) result.session = req.session;
    return { result, outputs };
  }

  close(): void {
    this.sessions.close();
  }
}
