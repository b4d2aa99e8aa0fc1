// Bundles each process's entry (the front, the sandbox host, a runtime worker) into one file, in
// place over tsc's output. Node then loads one module per process instead of a few hundred; module
// loading dominated each one's start (bench: spawn → tools/list, spawn → first run_python).
//
// Packages that find their own files at run time stay external: Pyodide and the QuickJS WebAssembly
// variant load .wasm and data files next to their modules, amaro its WebAssembly. The host's
// permission grants (front/node-flags.ts) cover their directories as before.
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const ENTRIES = ['cli/main.js', 'sandbox/host.js', 'sandbox/worker.js'];
const EXTERNAL = ['pyodide', 'pyodide/*', 'amaro', 'amaro/*', '@jitl/*', 'quickjs-emscripten', 'quickjs-emscripten-core'];

for (const entry of ENTRIES) {
  const file = path.join(dist, entry);
  await build({
    entryPoints: [file],
    outfile: file,
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    // CommonJS dependencies call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __bundleRequire } from 'node:module'; const require = __bundleRequire(import.meta.url);" },
    logLevel: 'warning',
    legalComments: 'none',
  });
}
