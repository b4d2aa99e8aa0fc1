/**
 * The QuickJS engine's memory at the policy's largest memMb. The QuickJS build declares at most 2 GiB
 * of WebAssembly memory; a larger maximum did not link, and every run_js failed as an internal error
 * at `--max-memory` 2017 and above (4096 is allowed). (Its own file: the engine loads once per thread.)
 */
import { beforeAll, expect, it } from 'vitest';
import { quickjsAdapter } from '../../../src/sandbox/runtimes/quickjs.js';

beforeAll(() => quickjsAdapter.load({ memMb: 4096 }));

it('loads and runs with memMb 4096, the policy maximum', async () => {
  const inst = await quickjsAdapter.createInstance({ memMb: 4096, control: new Int32Array(new SharedArrayBuffer(8)) });
  const outcome = await inst.run('[1, 2, 3].map((x) => x * 2)', {
    limits: { timeoutMs: 5000, memMb: 4096, stdoutBytes: 1024, stderrBytes: 1024 },
    deadline: Date.now() + 5000,
    output: { write: () => undefined },
    stopReason: () => 0,
  });
  expect(outcome).toMatchObject({ status: 'ok', result: [2, 4, 6] });
  inst.dispose();
});
