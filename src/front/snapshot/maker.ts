/**
 * Runs the snapshot maker (sandbox/snapshot-maker.ts): a one-off process under the same
 * restrictions as the sandbox host that boots Python, answers with a memory snapshot and exits.
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

export function makePythonSnapshot(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Uint8Array> {
  const launch = sandboxHostLaunch(MAKER_SCRIPT);
  const child = spawn(launch.execPath, launch.args, { env: { ...SANDBOX_HOST_ENV }, cwd: '/', stdio: ['ignore', 'ignore', 'ignore', 'ipc'], serialization: 'advanced' });
  return new Promise<Uint8Array>((resolve, reject) => {
    const fail = (message: string) => {
      child.kill('SIGKILL');
      reject(new SandboxError(ErrorCode.RUNTIME_UNAVAILABLE, `could not make a Python snapshot: ${message}`));
    };
    const timer = setTimeout(() => fail('the snapshot maker took too long'), options.timeoutMs ?? MAKER_TIMEOUT_MS);
    const onAbort = () => fail('cancelled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.on('message', (raw: unknown) => {
      done();
      const parsed = MakerMessage.safeParse(raw);
      if (!parsed.success) return fail('the snapshot maker sent a malformed message');
      if (parsed.data.t === 'failed') return fail(parsed.data.message);
      resolve(parsed.data.data);
    });
    child.on('error', (e) => {
      done();
      fail(e.message);
    });
    child.on('exit', (code, signal) => {
      done();
      // A settled promise ignores this; otherwise the maker died without answering.
      reject(new SandboxError(ErrorCode.RUNTIME_UNAVAILABLE, `could not make a Python snapshot: the snapshot maker exited (${signal ?? code})`));
    });
  });
}
