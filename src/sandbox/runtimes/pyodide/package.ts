/**
 * The installed `pyodide` package as files: where it lives, its version, and its WebAssembly compiled
 * once. Kept apart from boot.ts so the sandbox host's main thread can compile the module for its
 * workers without loading Pyodide itself.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** Where the installed `pyodide` package lives (with a trailing slash), as Pyodide's `indexURL` wants it. */
export function pyodideDir(): string {
  const entry = createRequire(import.meta.url).resolve('pyodide/package.json');
  return `${path.dirname(entry)}${path.sep}`;
}

/** Compile `pyodide.asm.wasm` once, so a host can hand the module to every worker it starts. */
export async function compilePyodideWasm(dir = pyodideDir()): Promise<object> {
  const bytes = await fs.promises.readFile(`${dir}pyodide.asm.wasm`);
  const wasm = (globalThis as unknown as { WebAssembly: { compile(b: Uint8Array): Promise<object> } }).WebAssembly;
  return wasm.compile(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
