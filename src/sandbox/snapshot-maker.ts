/**
 * Entry of the snapshot maker: a process started exactly like the sandbox host (same permission
 * model, same read grants), that boots Python once, hands the front a memory snapshot of the fresh
 * interpreter and exits. It never receives guest code, so the snapshot the front signs and caches
 * cannot carry anything a guest did — unlike one taken by a host that has already served runs.
 *
 * With a file path after the script (the front made the file and granted writing it, nothing
 * else), the snapshot goes into that file and the front reads it from there: the ~30 MB never
 * crosses IPC nor sits in the front's memory. Without one, the bytes go over IPC.
 */
import fs from 'node:fs';
import type { MakerMessage } from '../protocol/messages.js';
import { takeSnapshot } from './runtime-worker.js';
import { selfCheck } from './self-check.js';

/** Memory limit of the throwaway worker; only our own boot code runs in it. */
const MAKER_MEM_MB = 512;
const outFile = process.argv[2];

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
  if (!data) await send({ t: 'failed', message: 'the Python runtime could not make a snapshot' });
  else if (outFile) {
    fs.writeFileSync(outFile, data);
    await send({ t: 'written', size: data.byteLength });
  } else await send({ t: 'snapshot', language: 'python', data });
} catch (e) {
  await send({ t: 'failed', message: e instanceof Error ? e.message.slice(0, 2000) : 'unknown error' });
}
process.exit(0);
