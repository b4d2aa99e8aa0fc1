// Bundles each process's entry (the front, the sandbox host, a runtime worker, the snapshot maker)
// into one file, in place over tsc's output. Node then loads one module per process instead of a
// few hundred; module loading dominated each one's start (bench: spawn → tools/list). The npm
// package ships only these files (package.json `files`), and the packages bundled here are
// development dependencies: an install fetches the runtimes and nothing twice.
//
// Packages that find their own files at run time stay external and are the only dependencies:
// Pyodide and the QuickJS WebAssembly variant load .wasm and data files next to their modules,
// amaro its WebAssembly. The host's permission grants (front/node-flags.ts) cover their directories.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const ENTRIES = ['cli/main.js', 'sandbox/host.js', 'sandbox/worker.js', 'sandbox/snapshot-maker.js'];
const EXTERNAL = ['pyodide', 'pyodide/*', 'amaro', 'amaro/*', '@jitl/*', 'quickjs-emscripten', 'quickjs-emscripten-core'];
// A runtime worker imports one adapter (QuickJS or Pyodide) on demand: each becomes a chunk of its
// own, so a JavaScript worker never loads Pyodide's package and a Python worker never QuickJS's.
// The front likewise: what it imports on demand (the network broker with undici, a third of its code;
// the CLI's other commands) is not compiled at every start (bench: spawn → tools/list).
const SPLIT = new Set(['sandbox/worker.js', 'cli/main.js']);

// Chunks are named by content hash: drop the previous build's.
for (const dir of ['sandbox', 'cli']) fs.rmSync(path.join(dist, dir, 'chunks'), { recursive: true, force: true });

for (const entry of ENTRIES) {
  const file = path.join(dist, entry);
  const split = SPLIT.has(entry);
  await build({
    entryPoints: [file],
    ...(split ? { outdir: path.dirname(file), splitting: true, chunkNames: 'chunks/[name]-[hash]' } : { outfile: file }),
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    // CommonJS dependencies call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
    // Smaller to download and to parse; names stay, so stack traces still read.
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
}
