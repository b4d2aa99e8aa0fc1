/**
 * The QuickJS engine's whole WebAssembly memory runs out inside fs (its bytes are copied into the
 * engine by the host): the run ends at the memory limit (137) with its files, never as an internal
 * error. (Its own file: the engine's memory is sized once per thread, here for memMb 64.)
 */
import { beforeAll, expect, it } from 'vitest';
import { quickjsAdapter } from '../../../src/sandbox/runtimes/quickjs.js';
import { ErrorCode } from '../../../src/protocol/errors.js';

beforeAll(() => quickjsAdapter.load({ memMb: 64 }));

it('reading a big file again and again until the engine is full is a memory-limit stop, with the run\'s files', async () => {
  const inst = await quickjsAdapter.createInstance({ memMb: 64, control: new Int32Array(new SharedArrayBuffer(20)) });
  const files = { initial: [{ path: '/tmp/big', data: new Uint8Array(15 << 20) }], writable: ['/tmp'], readonly: [], limits: { quotaBytes: 1 << 26, maxFiles: 10, maxFileBytes: 1 << 24 } };
  const outcome = await inst.run("fs.writeFileSync('/tmp/note', 'kept'); const parts = []; try { for (let i = 0; i < 40; i++) parts.push(fs.readFileSync('/tmp/big')); } catch (e) { 'caught ' + e.message }", {
    limits: { timeoutMs: 20_000, memMb: 64, stdoutBytes: 1024, stderrBytes: 1024 },
    deadline: Date.now() + 20_000,
    output: { write: () => undefined },
    stopReason: () => 0,
    files,
  });
  // Either the guest caught QuickJS's own out-of-memory error, or the engine's memory ran out in the
  // copy: never an internal error.
  if (outcome.status === 'ok') expect((outcome as { result?: unknown }).result).toMatch(/^caught /);
  else expect(outcome).toMatchObject({ code: ErrorCode.MEMORY, fatal: true });
  expect(outcome.files?.map((f) => f.path)).toContain('/tmp/note');
  try {
    inst.dispose();
  } catch {
    // A runtime whose engine ran out may not dispose cleanly; the worker replaces it.
  }
});
