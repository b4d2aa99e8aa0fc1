/**
 * The front's full collection (src/front/garbage.ts), run by its idle collector: a real major
 * collection that compacts the heap, only for itself, and the front's own global never gains a `gc`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { collectGarbage } from '../../../src/front/garbage.js';

// The built module (npm test builds first), in a process of its own: its heap holds only what the
// probe puts there, so the old space's size says whether a collection compacted it.
const BUILT = path.resolve(import.meta.dirname, '../../../dist/front/garbage.js');

const PROBE = `
import v8 from 'node:v8';
import vm from 'node:vm';
const { collectGarbage } = await import(process.argv[1]);
v8.setFlagsFromString('--expose-gc');
const plainGc = vm.runInNewContext('gc');
const oldSpace = () => {
  const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'old_space');
  return { committedMiB: s.space_size / 1048576, usedMiB: s.space_used_size / 1048576 };
};
// ~40 MiB of small objects in old space, then three in four of them dropped: every page keeps some.
let kept;
function fragment() {
  const all = [];
  for (let r = 0; r < 40; r++) { const a = []; for (let i = 0; i < 20000; i++) a.push({ i, s: 'x'.repeat(20) + i }); all.push(a); }
  plainGc(); plainGc();
  kept = all.map((a) => a.filter((_, i) => i % 4 === 0));
}
fragment();
plainGc();
const plain = oldSpace();
collectGarbage();
const compacted = oldSpace();
kept = undefined;
fragment();
plainGc();
const plainAfter = oldSpace();
console.log(JSON.stringify({ plain, compacted, plainAfter, gcGlobal: typeof globalThis.gc }));
`;

describe('collectGarbage', () => {
  it('runs a full (major) collection without giving the caller a global gc', async () => {
    const kinds: number[] = [];
    const observer = new PerformanceObserver((list) => {
      // A gc entry's detail holds its kind (Node ≥ 16); @types/node 20 does not declare it.
      for (const e of list.getEntries()) kinds.push((e as unknown as { detail: { kind: number } }).detail.kind);
    });
    observer.observe({ entryTypes: ['gc'] });
    collectGarbage();
    await new Promise((r) => setTimeout(r, 50));
    observer.disconnect();
    expect(kinds).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });

  it('compacts: the pages a plain collection keeps for a few live objects go back, for that collection only', () => {
    expect(fs.existsSync(BUILT), 'dist/front/garbage.js: run npm run build first').toBe(true);
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE, pathToFileURL(BUILT).href], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const { plain, compacted, plainAfter, gcGlobal } = JSON.parse(r.stdout) as Record<string, { committedMiB: number; usedMiB: number }> & { gcGlobal: string };
    // The probe's heap is fragmented: a plain full collection keeps well over the live size.
    expect(plain!.committedMiB).toBeGreaterThan(plain!.usedMiB * 2);
    // Ours gives the partly used pages back.
    expect(compacted!.committedMiB).toBeLessThan(compacted!.usedMiB * 1.3);
    // The compaction was asked for that one collection: the next plain one is plain again.
    expect(plainAfter!.committedMiB).toBeGreaterThan(plainAfter!.usedMiB * 2);
    expect(gcGlobal).toBe('undefined');
  });
});
