/**
 * Loading Pyodide inside a runtime worker, fully offline, from the installed `pyodide` package.
 *
 * Everything here runs before any guest code. Three things are done at the seam where Pyodide's
 * Emscripten module is created (our own `createPyodideModule` wrapper):
 *  - the WebAssembly memory is capped (`MemoryCap`): Node's `resourceLimits` does not cover it;
 *  - with the `wasm-imports` layer on, the module's imports that reach the host (Emscripten's
 *    `system()`, the socket syscalls, `dlopen`, WebSockets) are replaced by refusals, so even a guest
 *    that corrupts the interpreter's memory has no import left that opens a socket or runs a shell;
 *  - a precompiled `WebAssembly.Module` (shared by the host between workers) is used if given.
 */
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { loadPyodide, type PyodideAPI } from 'pyodide';
export { compilePyodideWasm, pyodideDir } from './package.js';

/** The parts of the WebAssembly API we use; the project's `lib` has no WebAssembly types. */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(source: unknown, imports?: object): Promise<unknown>;
  Memory: { prototype: WasmMemory };
}
const WasmGlobal = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
const memoryGrow = WasmGlobal.Memory.prototype.grow;

const PAGE = 65536;
const MiB = 1024 * 1024;
/** Emscripten's errno numbers (musl for wasm): EACCES is 2, not Linux's 13. */
const EM_EACCES = 2;

/** An Emscripten module as seen from JavaScript: a bag of named members. */
export type EmModule = Record<string, unknown> & {
  API: Record<string, unknown>;
  FS: Record<string, unknown>;
  HEAPU8: Uint8Array;
};

/**
 * The WebAssembly memory limit of one interpreter. `bytes` may be lowered or raised later (it is
 * read at every growth); before `createInstance` sets it, growth is unlimited (only our code runs).
 */
export class MemoryCap {
  bytes = Number.POSITIVE_INFINITY;
  /** Set once the module is instantiated. */
  memory: WasmMemory | undefined;
  /** Times a growth was refused for the cap, for diagnostics and tests. */
  refusals = 0;

  heapBytes(): number {
    return this.memory ? this.memory.buffer.byteLength : 0;
  }
}

export interface BootOptions {
  dir: string;
  snapshot?: Uint8Array | undefined;
  wasmModule?: object | undefined;
  makeSnapshot?: boolean;
  /** Replace the wasm imports that reach the host by refusals (the `wasm-imports` layer). */
  denyHostImports: boolean;
  /** Output Pyodide prints while loading (and Emscripten's own `print`); the adapter routes it. */
  print: (stream: 'stdout' | 'stderr', text: string) => void;
}

export interface Booted {
  pyodide: PyodideAPI;
  module: EmModule;
  cap: MemoryCap;
}

/** Names of the module's imports that reach outside the interpreter, and what each answers instead. */
function hostImportRefusals(): Record<string, (...args: unknown[]) => unknown> {
  const refuseErrno = () => -EM_EACCES;
  return {
    // C `system()`: Emscripten runs it with child_process.spawnSync(..., {shell: true}).
    _emscripten_system: () => -1,
    // Sockets: Emscripten's SOCKFS (via the `ws` package) and Pyodide's NodeSockFS open real host TCP.
    __syscall_socket: refuseErrno,
    __syscall_socketpair: refuseErrno,
    __syscall_connect: refuseErrno,
    __syscall_bind: refuseErrno,
    __syscall_listen: refuseErrno,
    __syscall_accept4: refuseErrno,
    __syscall_sendto: refuseErrno,
    __syscall_sendmsg: refuseErrno,
    __syscall_recvfrom: refuseErrno,
    __syscall_recvmsg: refuseErrno,
    _maybe_connect_async: () => null,
    _maybe_sendto_async: () => null,
    _maybe_recvfrom_async: () => null,
    emscripten_websocket_new: () => -1,
    // Dynamic libraries: no packages are installed; a guest-written .so must not be loaded.
    _dlopen_js: () => 0,
    _emscripten_dlopen_js: () => undefined,
  };
}

/**
 * Growth of the wasm heap, bounded by the cap. Replaces Emscripten's `emscripten_resize_heap`
 * import, which would otherwise over-allocate up to 4 GiB.
 */
function cappedResize(cap: MemoryCap, growMemory: () => unknown, original: unknown): (requested: number) => number {
  return (requestedRaw: number) => {
    const requested = requestedRaw >>> 0;
    const memory = cap.memory;
    const grow = growMemory();
    if (!memory || typeof grow !== 'function') return typeof original === 'function' ? (original as (n: number) => number)(requested) : 0;
    if (requested > cap.bytes) {
      cap.refusals++;
      return 0;
    }
    const old = memory.buffer.byteLength;
    const overgrown = Math.min(old + Math.floor(old / 5), requested + 96 * MiB);
    const target = Math.min(cap.bytes, Math.ceil(Math.max(requested, overgrown) / PAGE) * PAGE, 4294901760);
    return (grow as (n: number) => unknown)(target) ? 1 : 0;
  };
}

/** Guard the memory object itself, so no JavaScript path (Module.growMemory, a JsProxy...) exceeds the cap. */
function guardMemory(memory: WasmMemory, cap: MemoryCap): void {
  Object.defineProperty(memory, 'grow', {
    value: function grow(this: WasmMemory, pages: number): number {
      const after = this.buffer.byteLength + Number(pages) * PAGE;
      if (!(after <= cap.bytes)) {
        cap.refusals++;
        throw new RangeError('WebAssembly memory limit reached');
      }
      return memoryGrow.call(this, pages);
    },
    writable: false,
    configurable: false,
    enumerable: false,
  });
}

/**
 * Under Node's permission model `process.binding` throws, but Emscripten's NODEFS.staticInit calls
 * `process.binding("constants")` while the module is created. Answer exactly that call, during load only.
 */
function withConstantsBinding<T>(fn: () => Promise<T>): Promise<T> {
  const proc = process as unknown as { binding?: (name: string) => unknown };
  const original = proc.binding;
  proc.binding = function binding(name: string): unknown {
    if (name === 'constants') return { fs: fs.constants, os: os.constants };
    if (typeof original !== 'function') throw new Error(`process.binding(${JSON.stringify(name)}) is unavailable`);
    return original.call(process, name);
  };
  return fn().finally(() => {
    proc.binding = original;
  });
}

/** While loading, instantiate from a precompiled module instead of compiling the wasm bytes again. */
function withPrecompiledModule<T>(wasmModule: object | undefined, fn: () => Promise<T>): Promise<T> {
  if (!wasmModule) return fn();
  const original = WasmGlobal.instantiate;
  const patched = function instantiate(this: unknown, source: unknown, imports?: object): Promise<unknown> {
    const isBytes = source instanceof ArrayBuffer || ArrayBuffer.isView(source);
    // Only the big main module is swapped; Pyodide's tiny helper modules pass through.
    if (isBytes && (source as ArrayBuffer | ArrayBufferView).byteLength > MiB) {
      return original.call(WasmGlobal, wasmModule, imports).then((instance) => ({ instance, module: wasmModule }));
    }
    return original.call(WasmGlobal, source, imports);
  };
  WasmGlobal.instantiate = patched;
  return fn().finally(() => {
    if (WasmGlobal.instantiate === patched) WasmGlobal.instantiate = original;
  });
}

/** The granularity of the sparse copy: the OS page, so one non-zero byte commits one page only. */
const OS_PAGE = 4096;
const ZERO_PAGE = new Uint8Array(OS_PAGE);

/** True when a[from, to) is all zero bytes (native memcmp: a JS byte loop took ~0.2 s per boot). */
function isZero(a: Uint8Array, from: number, to: number): boolean {
  return Buffer.compare(a.subarray(from, to), to - from === OS_PAGE ? ZERO_PAGE : ZERO_PAGE.subarray(0, to - from)) === 0;
}

/**
 * Copy a memory snapshot into the fresh heap page by page, leaving pages that are zero in both
 * untouched: about half of a snapshot is zero pages, and not writing them keeps them out of the
 * worker's resident memory (~15 MB per interpreter). Runs of non-zero pages are copied at once.
 */
function sparseCopy(heap: Int8Array, src: Uint8Array, offset: number): void {
  const dst = new Uint8Array(heap.buffer, heap.byteOffset + offset, Math.min(src.length, heap.length - offset));
  let run = -1; // start of the current run of pages to copy, or -1
  for (let from = 0; from < dst.length; from += OS_PAGE) {
    const to = Math.min(from + OS_PAGE, dst.length);
    if (!isZero(src, from, to)) {
      if (run < 0) run = from;
      continue;
    }
    if (run >= 0) {
      dst.set(src.subarray(run, from), run);
      run = -1;
    }
    if (!isZero(dst, from, to)) dst.fill(0, from, to);
  }
  if (run >= 0) dst.set(src.subarray(run, dst.length), run);
}

/** Pyodide's restoreSnapshot writes the heap with one `Module.HEAP8.set(...)`; make that write sparse. */
function restoreSparsely(module: EmModule): void {
  const api = module.API;
  const restore = api['restoreSnapshot'];
  if (typeof restore !== 'function') return;
  api['restoreSnapshot'] = function restoreSnapshot(this: unknown, snapshot: Uint8Array): unknown {
    const heap = module['HEAP8'];
    if (!(heap instanceof Int8Array)) return (restore as (s: Uint8Array) => unknown).call(this, snapshot);
    module['HEAP8'] = {
      set: (src: Uint8Array, offset = 0) => sparseCopy(heap, src, offset),
    };
    try {
      return (restore as (s: Uint8Array) => unknown).call(this, snapshot);
    } finally {
      module['HEAP8'] = heap;
    }
  };
}

type CreateModule = (settings: Record<string, unknown>) => Promise<EmModule>;
let createModulePromise: Promise<CreateModule> | undefined;

function importCreateModule(dir: string): Promise<CreateModule> {
  createModulePromise ??= import(pathToFileURL(`${dir}pyodide.asm.mjs`).href).then(
    (m: { default: CreateModule }) => m.default,
  );
  return createModulePromise;
}

/** Load one Pyodide interpreter. */
export async function bootPyodide(options: BootOptions): Promise<Booted> {
  const cap = new MemoryCap();
  let module: EmModule | undefined;
  // Emscripten's growMemory (grow + refresh of the HEAP views), captured before the realm layer
  // refuses it on the Module object.
  let growMemory: unknown;
  const create = await importCreateModule(options.dir);

  const createPyodideModule = async (settings: Record<string, unknown>): Promise<EmModule> => {
    const instantiateWasm = settings['instantiateWasm'];
    if (typeof instantiateWasm !== 'function') throw new Error('unexpected Pyodide build: no instantiateWasm hook');
    settings['instantiateWasm'] = (
      imports: { env: Record<string, unknown> },
      done: (instance: { exports: Record<string, unknown> }, mod: unknown) => void,
    ): unknown => {
      const env = imports.env;
      if (options.denyHostImports) {
        for (const [name, stub] of Object.entries(hostImportRefusals())) {
          if (name in env) env[name] = stub;
        }
      }
      env['emscripten_resize_heap'] = cappedResize(cap, () => (growMemory ??= settings['growMemory']), env['emscripten_resize_heap']);
      return (instantiateWasm as (i: unknown, d: unknown) => unknown)(imports, (instance: { exports: Record<string, unknown> }, mod: unknown) => {
        const memory = instance.exports['memory'] as WasmMemory | undefined;
        if (!memory) throw new Error('unexpected Pyodide build: no exported memory');
        guardMemory(memory, cap);
        cap.memory = memory;
        done(instance, mod);
      });
    };
    module = await create(settings);
    growMemory = module['growMemory'];
    if (options.snapshot) restoreSparsely(module);
    return module;
  };

  const pyodide = await withConstantsBinding(() =>
    withPrecompiledModule(options.wasmModule, () =>
      loadPyodide({
        indexURL: options.dir,
        // The `js` module: an empty object without a prototype, not the worker's globalThis.
        jsglobals: Object.create(null) as object,
        // Never the default, which reads file descriptor 0 of the host process.
        stdin: () => null,
        stdout: (text: string) => options.print('stdout', `${text}\n`),
        stderr: (text: string) => options.print('stderr', `${text}\n`),
        env: { HOME: '/home/pyodide' },
        // Emscripten would use the host's process.argv[1] (a host path) for sys.executable, sys.argv[0]
        // and $_; a snapshot bakes it in, so the snapshot maker sets it too.
        _sysExecutable: '/usr/bin/python',
        packages: [],
        // Needs JSPI, which Node 20 lacks; keep behaviour the same on every Node version.
        enableRunUntilComplete: false,
        checkAPIVersion: true,
        createPyodideModule: createPyodideModule as never,
        ...(options.snapshot ? { _loadSnapshot: options.snapshot } : {}),
        ...(options.makeSnapshot ? { _makeSnapshot: true } : {}),
      }),
    ),
  );
  if (!module) throw new Error('Pyodide did not create its module');
  return { pyodide, module, cap };
}
