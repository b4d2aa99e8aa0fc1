/**
 * The front's execution pipeline, shared by run_js and run_python: validate, narrow the policy,
 * queue per session, build and sign the capsule, hand it to the sandbox host, and turn what comes
 * back (hostile input) into the contract's result.
 */
import { capsuleId } from '../protocol/capsule.js';
import { ErrorCode, SandboxError, exitCodeFor } from '../protocol/errors.js';
import type { RunOutcomeWire } from '../protocol/messages.js';
import { buildCapsuleBody, type CapsuleSigner } from './capsule/signer.js';
import type { Logger } from './logger.js';
import { narrowLimits } from './policy/narrow.js';
import type { Policy } from './policy/schema.js';
import { capUtf8, failureResult, type RunResult } from './run-result.js';
import type { SandboxClient } from './sandbox-client.js';
import { ConcurrencyGate } from './sessions/gate.js';
import { SessionManager, type Language, type Session } from './sessions/manager.js';

export interface RunRequest {
  language: Language;
  code: string;
  session?: string | undefined;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface RunnerOptions {
  policy: Policy;
  signer: CapsuleSigner;
  sandbox: SandboxClient;
  logger: Logger;
}

export class Runner {
  readonly sessions: SessionManager;
  private readonly gate: ConcurrencyGate;
  /** The policy as it travels inside every capsule (signed, so the host runs what we decided). */
  private readonly capsulePolicy: Policy;

  constructor(private readonly options: RunnerOptions) {
    const { policy, sandbox } = options;
    this.capsulePolicy = { ...policy };
    delete (this.capsulePolicy as { $schema?: string }).$schema;
    this.gate = new ConcurrencyGate(policy.rate.maxConcurrentRuns, policy.rate.maxQueue);
    this.sessions = new SessionManager({
      maxSessions: policy.sessions.maxSessions,
      idleTtlMs: policy.sessions.idleTtlMs,
      onDrop: (s) => {
        for (const language of s.runtimes.keys()) sandbox.drop(language, s.name);
      },
    });
  }

  async run(req: RunRequest): Promise<RunResult> {
    const { policy } = this.options;
    const codeBytes = Buffer.byteLength(req.code, 'utf8');
    if (codeBytes > policy.limits.codeBytes) {
      return failureResult(
        new SandboxError(ErrorCode.INVALID_INPUT, `code is ${codeBytes} bytes; the policy allows at most ${policy.limits.codeBytes}`),
        { session: req.session },
      );
    }
    const exec = () => this.gate.run(() => this.execute(req, session), req.signal);
    let session: Session | undefined;
    try {
      if (req.session === undefined) return await exec();
      return await this.sessions.withSession(req.session, (s) => {
        session = s;
        return exec();
      });
    } catch (e) {
      return failureResult(e, { session: req.session });
    }
  }

  private async execute(req: RunRequest, session: Session | undefined): Promise<RunResult> {
    const { policy, signer, sandbox, logger } = this.options;
    const limits = narrowLimits(policy.limits, { timeoutMs: req.timeoutMs });
    const body = buildCapsuleBody({
      language: req.language,
      code: req.code,
      session: req.session ?? null,
      policy: { ...this.capsulePolicy, limits },
      files: [],
      keyId: signer.keyId,
      ttlMs: Math.max(60_000, limits.timeoutMs + 60_000),
    });
    const signed = signer.sign(body);
    const capsule = { id: capsuleId(signed.body), keyId: signed.keyId };
    const expectedState = session?.runtimes.get(req.language);
    let outcome: RunOutcomeWire;
    try {
      outcome = await sandbox.run(signed, [], limits.timeoutMs, req.signal);
    } catch (e) {
      session?.runtimes.delete(req.language);
      if (!(e instanceof SandboxError)) logger.error({ err: (e as Error).message }, 'run failed');
      return failureResult(e, { session: req.session, capsule });
    }
    if (session) session.runtimes.set(req.language, sandbox.generation);

    const stdout = capUtf8(outcome.stdout, limits.stdoutBytes);
    const stderr = capUtf8(outcome.stderr, limits.stderrBytes);
    let stderrText = stderr.text;
    if (expectedState !== undefined && outcome.freshState) {
      // The user relied on earlier state that is gone: say so rather than fail mysteriously.
      stderrText = capUtf8(`[session "${req.session}": earlier state was lost (the runtime was restarted after a crash, limit or cancellation); starting fresh]\n${stderrText}`, limits.stderrBytes).text;
    }
    const code = outcome.code as ErrorCode | undefined;
    const result: RunResult = {
      exitCode: exitCodeFor(code),
      stdout: stdout.text,
      stderr: stderrText,
      stdoutTruncated: outcome.stdoutTruncated || stdout.truncated,
      stderrTruncated: outcome.stderrTruncated || stderr.truncated,
      durationMs: Math.round(outcome.durationMs * 1000) / 1000,
      capsule,
      files: [],
      network: [],
    };
    if (outcome.result !== undefined) result.result = outcome.result;
    if (code !== undefined) {
      const err = outcome.error ?? { type: 'Error', message: 'the run failed' };
      result.error = { type: err.type, message: err.message, code };
      if (err.traceback) result.error.traceback = err.traceback;
    }
    if (req.session !== undefined) result.session = req.session;
    return result;
  }

  close(): void {
    this.sessions.close();
  }
}
