/**
 * Where the package's own files are. The same front code runs from src/ (under the tests), from
 * tsc's output in dist/, and bundled into dist/cli/main.js (scripts/bundle.mjs), so no module may
 * assume its own depth: the code directory is the nearest one above this module holding the
 * sandbox host's entry, and the package root is its parent.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(import.meta.url);
/** The extension of our modules: `.js` when built, `.ts` under the tests. */
export const CODE_EXT = path.extname(HERE);

function findCodeDir(): string {
  for (let dir = path.dirname(HERE); ; ) {
    if (fs.existsSync(path.join(dir, 'sandbox', `host${CODE_EXT}`))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`wasm-sandbox-mcp is installed incompletely: no sandbox code above ${HERE}`);
    dir = up;
  }
}

/** dist/ when built (src/ under the tests). */
export const CODE_DIR = findCodeDir();
/** The directory holding package.json, policies/ and capsules/. */
export const PACKAGE_ROOT = path.dirname(CODE_DIR);
