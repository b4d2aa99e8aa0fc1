/**
 * Runs the snapshot maker (sandbox/snapshot-maker.ts): a one-off process under the same
 * restrictions as the sandbox host that boots Python, hands over a memory snapshot and exits.
 * Its answer is validated like any message from the sandbox side.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ErrorCode, SandboxError } from '../../protocol/errors.js';
import { SANDBOX_HOST_ENV } from '../../protocol/host-env.js';
import { MakerMessage } from '../../protocol/messages.js';
import { sandboxHostLaunch } from '../node-flags.js';
import { CODE_DIR } from '../package-paths.js';

const MAKER_SCRIPT = path.join(CODE_DIR, 'sandbox', 'snapshot-maker.js');
/** Booting Pyodide from scratch takes 5–8 s here; allow for a loaded machine. */
const MAKER_TIMEOUT_MS = 120_000;

export interface MakeOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A snapshot's bytes, sent over IPC (for when no cache file can be written). */
export async function makePythonSnapshot(options: MakeOptions = {}): Promise<Uint8Array> {
  const answer = await runMaker(undefined, options);
  if (answer.t !== 'snapshot') throw makerError('the snapshot maker answered out of turn');
  return answer.data;
}

/**
 * A snapshot written straight into `file` (which the caller made: the maker may write that one
 * path and cannot create it); resolves with its size once the maker has exited, so nothing can
 * write the file after the caller reads it.
 */
export async function makePythonSnapshotFile(file: string, options: MakeOptions = {}): Promise<number> {
  const answer = await runMaker(file, options);
  if (answer.t !== 'written') throw makerError('the snapshot maker answered out of turn');
  return answer.size;
}

function makerError(message: string): SandboxError {
  return new SandboxError(ErrorCode.RUNTIME_UNAVAILABLE, `could not make a Python snapshot: ${message}`);
}

type Answer = Exclude<MakerMessage, { t: 'failed' }>;

function runMaker(outFile: string | undefined, options: MakeOptions): Promise<Answer> {
  const launch = outFile ? sandboxHostLaunch(MAKER_SCRIPT, { writeFile: outFile }, [path.resolve(outFile)]) : sandboxHostLaunch(MAKER_SCRIPT);
  const child = spawn(launch.execPath, launch.args, { env: { ...SANDBOX_HOST_ENV }, cwd: '/', stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'advanced' });
  return new Promise<Answer>((resolve, reject) => {
    let answer: Answer | undefined;
    const fail = (message: string) => {
      child.kill('SIGKILL');
      reject(makerError(message));
    };
    const timer = setTimeout(() => fail('the snapshot maker took too long'), options.timeoutMs ?? MAKER_TIMEOUT_MS);
    const onAbort = () => fail('cancelled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.on('message', (raw: unknown) => {
      const parsed = MakerMessage.safeParse(raw);
      if (!parsed.success) {
        done();
        return fail('the snapshot maker sent a malformed message');
      }
      if (parsed.data.t === 'failed') {
        done();
        return fail(parsed.data.message);
      }
      // Bytes are complete as they are; a written file only once the writer is gone.
      if (parsed.data.t === 'snapshot') {
        done();
        resolve(parsed.data);
      } else answer = parsed.data;
    });
    child.on('error', (e) => {
      done();
      fail(e.message);
    });
    child.on('exit', (code, signal) => {
      done();
      // A settled promise ignores both; otherwise the maker died without answering.
      if (answer) resolve(answer);
      reject(makerError(`the snapshot maker exited (${signal ?? code})`));
    });
  });
}
