/**
 * The audit log: one JSON line per run (pino), to a file the user chooses or to stderr. It never
 * holds code or environment values; with `codeDigests` it records the SHA-256 of the code instead.
 */
import { createHash } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { ErrorCode, SandboxError } from '../../protocol/errors.js';

/** Lines waiting for a failing destination are kept up to this size, then dropped (and reported). */
const MAX_PENDING_BYTES = 1 << 20;

export interface AuditOptions {
  /** A file path, or 'stderr'. */
  destination: string;
  policyName: string;
  codeDigests: boolean;
  /** Told when a line cannot be written (disk full, file gone): the run's result is still returned. */
  onError?: (message: string) => void;
}

export interface AuditEntry {
  tool: string;
  language: 'js' | 'python';
  /** The code was TypeScript, stripped before it ran (run_js only). */
  typescript?: boolean | undefined;
  session: string | undefined;
  code: string;
  capsuleId: string;
  keyId: string;
  exitCode: number;
  errorCode: string | undefined;
  durationMs: number;
  stdoutBytes: number;
  stderrBytes: number;
  outputFiles: number;
  network: { attempts: number; blocked: number };
}

export class AuditLog {
  private readonly logger: Logger;

  constructor(private readonly options: AuditOptions) {
    let destination: ReturnType<typeof pino.destination>;
    try {
      destination =
        options.destination === 'stderr'
          ? pino.destination({ fd: 2, sync: true })
          : pino.destination({ dest: options.destination, mkdir: true, sync: true, mode: 0o600, maxLength: MAX_PENDING_BYTES } as never);
    } catch (e) {
      // Start-up must stop with the setting named, not with a bare errno from deep inside pino.
      throw new SandboxError(ErrorCode.CONFIG, `--audit-log: cannot open ${options.destination}: ${(e as Error).message}`);
    }
    // A failed write is reported, never thrown into the call that ran the code.
    destination.on('error', (e: Error) => options.onError?.(`audit log: cannot write to ${options.destination}: ${e.message}`));
    destination.on('drop', () => options.onError?.(`audit log: a line was dropped; ${options.destination} has not accepted writes for a while`));
    this.logger = pino({ base: { kind: 'audit' }, timestamp: pino.stdTimeFunctions.isoTime, messageKey: 'event' }, destination);
  }

  record(e: AuditEntry): void {
    const line: Record<string, unknown> = {
      tool: e.tool,
      language: e.language,
      session: e.session ?? null,
      capsule: e.capsuleId,
      keyId: e.keyId,
      exitCode: e.exitCode,
      durationMs: e.durationMs,
      bytesOut: { stdout: e.stdoutBytes, stderr: e.stderrBytes, files: e.outputFiles },
      network: e.network,
      policy: this.options.policyName,
    };
    if (e.typescript === true) line.typescript = true;
    if (e.errorCode) line.errorCode = e.errorCode;
    if (this.options.codeDigests) line.codeSha256 = createHash('sha256').update(e.code).digest('hex');
    this.logger.info(line, 'run');
  }

  flush(): void {
    try {
      this.logger.flush();
    } catch (e) {
      this.options.onError?.(`audit log: cannot flush ${this.options.destination}: ${(e as Error).message}`);
    }
  }
}
