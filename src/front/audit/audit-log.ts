/**
 * The audit log: one JSON line per run (pino), to a file the user chooses or to stderr. It never
 * holds code or environment values; with `codeDigests` it records the SHA-256 of the code instead.
 */
import { createHash } from 'node:crypto';
import { pino, type Logger } from 'pino';

export interface AuditOptions {
  /** A file path, or 'stderr'. */
  destination: string;
  policyName: string;
  codeDigests: boolean;
}

export interface AuditEntry {
  tool: string;
  language: 'js' | 'python';
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
    const destination =
      options.destination === 'stderr'
        ? pino.destination({ fd: 2, sync: true })
        : pino.destination({ dest: options.destination, mkdir: true, sync: true, mode: 0o600 } as never);
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
    if (e.errorCode) line.errorCode = e.errorCode;
    if (this.options.codeDigests) line.codeSha256 = createHash('sha256').update(e.code).digest('hex');
    this.logger.info(line, 'run');
  }

  flush(): void {
    this.logger.flush();
  }
}
