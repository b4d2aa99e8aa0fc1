/**
 * The front's own memory, as started:
 * - it holds V8's young generation at its start-up size (src/front/young-generation.ts): the load
 *   that grows an unheld one at least 4× (test/unit/front/young-generation.test.ts) leaves it where
 *   it was, and the server still answers afterwards;
 * - it never holds Python's ~30 MB snapshot: the sandbox host reads the cache file itself;
 * - it gives back what a burst left once quiet (src/shared/idle-collector.ts, src/front/garbage.ts).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

const PROBE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'front-heap-probe.mjs');
/** The front's whole V8 heap once quiet after the floods: measured 21.4–22.9 MiB, and 35.0–38.5 without the idle collection. */
const QUIET_HEAP_MIB = 28;
let srv: TestServer;

beforeAll(async () => {
  srv = await startServer(['--audit-log', 'off', '--capsule-store', 'off'], {}, { main: PROBE });
});
afterAll(async () => {
  await srv.close();
});

describe('the front process', () => {
  it('holds neither a grown young generation under load nor Python\'s snapshot, and answers afterwards', async () => {
    expect((await srv.call('run_js', { code: '1 + 1' })).structuredContent.result).toBe(2);
    // Python has booted from the cached snapshot (~30 MB) by now.
    expect((await srv.call('run_python', { code: '3 * 3' }, { timeout: 120_000 })).structuredContent.result).toBe(9);
    srv.child.kill('SIGUSR2');
    let line: RegExpExecArray | null = null;
    for (let i = 0; i < 200 && !line; i++) {
      await new Promise((r) => setTimeout(r, 50));
      line = /young-generation (\d+) (\d+)/.exec(srv.stderr());
    }
    expect(line, 'the probe reported nothing').not.toBeNull();
    const [before, after] = [Number(line![1]), Number(line![2])];
    expect(after).toBeLessThanOrEqual(before);
    const buffers = /array-buffers (\d+)/.exec(srv.stderr());
    expect(Number(buffers?.[1]), 'the front keeps the snapshot').toBeLessThan(8 * 1024 * 1024);
    expect((await srv.call('run_js', { code: '2 + 2' })).structuredContent.result).toBe(4);
  });

  it('gives back what a burst of output floods left once it has been quiet for 5 s, and answers afterwards', async () => {
    const heapSize = async () => {
      const seen = (srv.stderr().match(/heap-size \d+/g) ?? []).length;
      srv.child.kill('SIGWINCH');
      for (let i = 0; i < 100; i++) {
        const all = srv.stderr().match(/heap-size (\d+)/g) ?? [];
        if (all.length > seen) return Number(all.at(-1)!.split(' ')[1]) / 1024 / 1024;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('the probe reported no heap size');
    };
    // Each result crosses the front as a few MiB-sized strings (1 MiB of stdout, escaped, twice).
    const flood = 'const s = "x".repeat(4096); for (let i = 0; i < 300; i++) console.log(s); 1';
    for (let i = 0; i < 10; i++) expect((await srv.call('run_js', { code: flood })).structuredContent.stdoutTruncated).toBe(true);
    const busy = await heapSize();
    await new Promise((r) => setTimeout(r, 6500));
    const quiet = await heapSize();
    expect(quiet, `heap ${busy.toFixed(1)} MiB right after the floods`).toBeLessThan(QUIET_HEAP_MIB);
    expect((await srv.call('run_js', { code: '3 + 3' })).structuredContent.result).toBe(6);
  }, 60_000);
});
