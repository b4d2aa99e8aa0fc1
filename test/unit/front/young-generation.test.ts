import { spawnSync } from 'node:child_process';
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { holdYoungGeneration } from '../../../src/front/young-generation.js';

// A server-like load: many short-lived objects, a fraction kept a while (requests in flight).
const LOAD = `
const keep = [];
for (let i = 0; i < 3_000_000; i++) {
  const o = { i, s: 'x' + i, a: [i, i + 1] };
  if (i % 3 === 0) keep.push(o);
  if (keep.length > 200_000) keep.length = 0;
}`;
const NEW_SPACE = `require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size`;

describe('the front young generation', () => {
  it('grows under load when left to V8 (the control: the load below is enough to grow it)', () => {
    const r = spawnSync(process.execPath, ['-e', `const before = ${NEW_SPACE}; ${LOAD}; console.log(JSON.stringify([before, ${NEW_SPACE}]))`], { encoding: 'utf8' });
    const [before, after] = JSON.parse(r.stdout) as [number, number];
    expect(after).toBeGreaterThanOrEqual(4 * before);
  });

  it('stays at its start-up size under the same load once held', () => {
    const before = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
    holdYoungGeneration();
    new Function(LOAD)();
    const after = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
    expect(after).toBeLessThanOrEqual(before);
  });
});
