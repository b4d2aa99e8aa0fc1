/**
 * The front finds the package's files from wherever its code runs: src/ under the tests, dist/
 * from tsc, or bundled into dist/cli/main.js (scripts/bundle.mjs). A wrong root would mean a
 * missing policy, registry, version or sandbox host at start-up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODE_DIR, CODE_EXT, PACKAGE_ROOT } from '../../../src/front/package-paths.js';

describe('package paths', () => {
  it('finds the code directory and the package root above the module', () => {
    expect(CODE_DIR).toBe(path.resolve(import.meta.dirname, '../../../src'));
    expect(CODE_EXT).toBe('.ts');
    expect(JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')).name).toBe('wasm-sandbox-mcp');
    for (const dir of ['policies', 'capsules']) expect(fs.statSync(path.join(PACKAGE_ROOT, dir)).isDirectory()).toBe(true);
  });
});
