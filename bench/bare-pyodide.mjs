// Bare Pyodide from a memory snapshot in a fresh process: `node bench/bare-pyodide.mjs FILE`.
// Prints {"result":2,"inProcessMs":…} and exits. The floor for "spawn → first run_python result".
import { readFileSync } from 'node:fs';

const t0 = performance.now();
const { loadPyodide } = await import('pyodide');
const snapshot = readFileSync(process.argv[2]);
// The settings our snapshot was made with (src/sandbox/runtimes/pyodide/boot.ts), without hardening.
const pyodide = await loadPyodide({ _loadSnapshot: snapshot, _sysExecutable: '/usr/bin/python', stdin: () => null, packages: [], env: { HOME: '/home/pyodide' } });
const result = pyodide.runPython('1+1');
process.stdout.write(`${JSON.stringify({ result, inProcessMs: performance.now() - t0 })}\n`);
process.exit(0);
