/**
 * Entry of the snapshot maker: a process started exactly like the sandbox host (same permission
 * model, same read grants), that boots Python once, sends the front a memory snapshot of the fresh
 * interpreter and exits. It never receives guest code, so the snapshot the front signs and caches
 * cannot carry anything a guest did — unlike one taken by a host that has already served runs.
 */
import type { MakerMessage } from '../protocol/messages.js';
import { takeSnapshot } from './runtime-worker.js';
import { selfCheck } from './self-check.js';

/** Memory limit of the throwaway worker; only our own boot code runs in it. */
const MAKER_MEM_MB = 512;

function send(msg: MakerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(msg, undefined, {}, () => resolve());
  });
}

// The front is our only reason to exist: when it goes, we go.
process.on('disconnect', () => process.exit(0));

const check = selfCheck();
if (!check.ok) {
  await send({ t: 'failed', message: `restrictions not in force: ${check.failures.join(', ')}` });
  process.exit(78);
}
try {
  const data = await takeSnapshot('python', MAKER_MEM_MB);
  await send(data ? { t: 'snapshot', language: 'python', data } : { t: 'failed', message: 'the Python runtime could not make a snapshot' });
} catch (e) {
  await send({ t: 'failed', message: e instanceof Error ? e.message.slice(0, 2000) : 'unknown error' });
}
process.exit(0);
