/**
 * The `realm` hardening layer: the worker's JavaScript realm after Pyodide has loaded and before any
 * guest code runs.
 *
 * Assume the guest holds a JsProxy of anything Pyodide can hand to Python — the Pyodide API object,
 * its internal `API` and Emscripten `Module`, objects it builds with `to_js`, and through `.constructor`
 * and prototypes every JavaScript intrinsic. The Python-level blocks make that hard; this layer makes
 * it useless:
 *  1. Pyodide's own entry points that reach the host are cut (`cutPyodideEntryPoints`): package
 *     loading, NODEFS/native FS mounts, NodeSockFS, SOCKFS/WebSockets, `system()`, `dlopen`, stream
 *     and interrupt setters (a default stdin reads fd 0), `_api`/`_module`.
 *  2. Node's capabilities are removed from the realm (`hardenRealm`): `process.binding`,
 *     `getBuiltinModule`, `dlopen`, `kill`, `env`...; global `fetch`/`WebSocket`/`XMLHttpRequest`/
 *     `require`; the host-reaching functions of `fs`, `child_process`, `net`, `tls`, `dgram`, `http*`,
 *     `vm`, `inspector`, `worker_threads` are replaced in the module objects Pyodide's closures hold;
 *     the CommonJS loader refuses those modules (and `ws`) from now on.
 *  3. No code from strings: `Function`/`AsyncFunction`/generator constructors reached through
 *     `.constructor` throw, independent of `--disallow-code-generation-from-strings`.
 *  4. The intrinsics are frozen (with assignment overrides kept working, as SES does), so a guest
 *     cannot poison a prototype that the worker pipeline (output sink, result transfer) relies on.
 *
 * After `hardenRealm()` nothing in the worker can use `fs`, `child_process`, sockets or `require` those
 * modules any more (ES module imports of the worker's own files still load: Node's loader does not go
 * through the public `fs`). Everything the adapter needs later it captured before.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { EmModule } from './boot.js';

const require = createRequire(import.meta.url);

function denied(what: string): Error {
  const e = new Error(`${what} is not available in the sandbox`);
  (e as Error & { code?: string }).code = 'ERR_ACCESS_DENIED';
  return e;
}

/** A function that refuses, named like the one it replaces. */
function refuser(what: string): (...args: unknown[]) => never {
  const fn = function (): never {
    throw denied(what);
  };
  Object.defineProperty(fn, 'name', { value: what.replace(/[^A-Za-z0-9_$.]/g, '') });
  return fn;
}

/** Replace `obj[key]` for good: not writable, not configurable. Silently skips what cannot be redefined. */
function lock(obj: object, key: PropertyKey, value: unknown): void {
  try {
    Object.defineProperty(obj, key, { value, writable: false, configurable: false, enumerable: false });
  } catch {
    try {
      (obj as Record<PropertyKey, unknown>)[key] = value;
    } catch {
      // a frozen or exotic object: nothing more we can do; the other layers still hold
    }
  }
}

function refuseMembers(obj: unknown, keys: readonly string[], prefix: string): void {
  if (obj === null || (typeof obj !== 'object' && typeof obj !== 'function')) return;
  for (const key of keys) {
    if (key in (obj as object)) lock(obj as object, key, refuser(`${prefix}${key}`));
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Pyodide's entry points
// ---------------------------------------------------------------------------------------------

const PUBLIC_API_REFUSED = [
  'loadPackage',
  'loadPackagesFromImports',
  'mountNodeFS',
  'mountNativeFS',
  'useNodeSockFS',
  'registerComlink',
  'registerJsModule',
  'unregisterJsModule',
  'setStdin',
  'setStdout',
  'setStderr',
  'setInterruptBuffer',
  'makeMemorySnapshot',
  'unpackArchive',
] as const;

const API_REFUSED = [
  'initializeNodeSockFS',
  'loadBinaryFile',
  'loadDynlib',
  'install',
  'initializeStreams',
  'makeSnapshot',
  'restoreSnapshot',
] as const;

/** Emscripten library functions exposed on Module whose JavaScript reaches the host. */
const MODULE_FUNCTIONS_REFUSED = /^_{1,3}(emscripten_system|syscall_(socket|socketpair|connect|bind|listen|accept4|sendto|sendmsg|recvfrom|recvmsg)|dlopen_js|emscripten_dlopen_js|emscripten_websocket_new|emscripten_async_load_script|emscripten_run_preload_plugins(_data)?)$/;
const MODULE_MEMBERS_REFUSED = [
  'loadDynamicLibrary',
  'loadWebAssemblyModule',
  'dlopenInternal',
  'asyncLoad',
  'FS_preloadFile',
  'FS_createPreloadedFile',
  'FS_handledByPreloadPlugin',
  'getPreloadedImageData',
  'instantiateWasm',
  'locateFile',
  'growMemory',
] as const;

/**
 * Always on (not a layer): Emscripten's /dev/tty device and its default stdin read the host process's
 * file descriptor 0 (on the sandbox host, the channel from the front). Make both answer end-of-file.
 */
export function closeHostStdin(module: EmModule): void {
  lock(module, 'FS_stdin_getChar', () => null);
  const tty = module['TTY'] as Record<string, Record<string, unknown>> | undefined;
  for (const opsName of ['default_tty_ops', 'default_tty1_ops']) {
    const ops = tty?.[opsName];
    if (ops && 'get_char' in ops) lock(ops, 'get_char', () => null);
  }
}

/**
 * Cut every JavaScript-side door Pyodide leaves open towards the host. The caller has captured the
 * members it needs (runPython, setStdout... are refused on the public object afterwards).
 */
export function cutPyodideEntryPoints(publicApi: Record<string, unknown>, module: EmModule): void {
  const api = module.API;
  refuseMembers(publicApi, PUBLIC_API_REFUSED, 'pyodide.');
  for (const key of ['_api', '_module', 'FS', 'PATH', 'ERRNO_CODES', 'canvas']) lock(publicApi, key, undefined);

  refuseMembers(api, API_REFUSED, 'pyodide API.');
  for (const key of ['tests', '_nodeSock', 'packageManager', 'lockFilePromise']) lock(api, key, undefined);
  const config = api['config'];
  if (config && typeof config === 'object') {
    // _loadSnapshot is the snapshot every interpreter of this host loads from, in shared memory: a
    // guest that reaches this object (a module loader holds it) must not find it to write.
    for (const key of ['stdin', 'stdout', 'stderr', 'fsInit', 'createPyodideModule', 'indexURL', 'packageCacheDir', 'packageBaseUrl', 'cdnUrl', 'lockFileURL', 'stdLibURL', '_loadSnapshot']) {
      lock(config, key, undefined);
    }
  }

  for (const key of Object.getOwnPropertyNames(module)) {
    if (MODULE_FUNCTIONS_REFUSED.test(key)) lock(module, key, refuser(`Module.${key}`));
  }
  refuseMembers(module, MODULE_MEMBERS_REFUSED, 'Module.');

  // Sockets: Emscripten's SOCKFS (WebSockets through the `ws` package) and its members.
  const sockfs = module['SOCKFS'] as Record<string, unknown> | undefined;
  if (sockfs) {
    refuseMembers(sockfs, ['createSocket', 'mount', 'pollAsync'], 'SOCKFS.');
    refuseMembers(sockfs['websocket_sock_ops'], ['createPeer', 'connect', 'listen', 'bind', 'accept', 'sendmsg', 'recvmsg'], 'SOCKFS.');
  }

  // Host filesystems: only MEMFS may be mounted from now on.
  const fsObj = module.FS;
  const filesystems = fsObj['filesystems'] as Record<string, unknown> | undefined;
  const memfs = filesystems?.['MEMFS'];
  for (const owner of [module, filesystems]) {
    if (!owner) continue;
    for (const key of ['NODEFS', 'NATIVEFS_ASYNC', 'NODESOCKFS', 'IDBFS', 'WORKERFS', 'PROXYFS']) {
      const fsImpl = (owner as Record<string, unknown>)[key];
      if (fsImpl && typeof fsImpl === 'object') refuseMembers(fsImpl, ['mount', 'syncfs', 'staticInit'], `${key}.`);
      if (key in owner) lock(owner, key, undefined);
    }
  }
  const mount = fsObj['mount'];
  if (typeof mount === 'function') {
    const guardedMount = function (this: unknown, type: unknown, opts: unknown, mountpoint: unknown): unknown {
      if (type !== memfs) throw denied('mounting a host filesystem');
      return (mount as (...a: unknown[]) => unknown).call(this, type, opts, mountpoint);
    };
    lock(fsObj, 'mount', guardedMount);
    if ('FS_mount' in module) lock(module, 'FS_mount', guardedMount);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Node's capabilities in this realm
// ---------------------------------------------------------------------------------------------

const GLOBALS_REMOVED = [
  'fetch',
  'WebSocket',
  'EventSource',
  'XMLHttpRequest',
  'require',
  'module',
  'exports',
  'BroadcastChannel',
  'importScripts',
] as const;

const PROCESS_REFUSED = [
  'binding',
  '_linkedBinding',
  'dlopen',
  'getBuiltinModule',
  'kill',
  '_kill',
  'abort',
  'chdir',
  'execve',
  'loadEnvFile',
  'setuid',
  'setgid',
  'seteuid',
  'setegid',
  'setgroups',
  'initgroups',
  '_debugProcess',
  '_debugEnd',
  '_startProfilerIdleNotifier',
  '_stopProfilerIdleNotifier',
  'openStdin',
  'setSourceMapsEnabled',
] as const;

/** Builtin modules whose host-reaching functions are replaced, and which the CJS loader refuses. */
const MODULE_PATCHES: Record<string, { members?: readonly string[]; allLowercaseFunctions?: boolean; prototypes?: Record<string, readonly string[]> }> = {
  fs: { allLowercaseFunctions: true },
  'fs/promises': { allLowercaseFunctions: true },
  child_process: { allLowercaseFunctions: true, prototypes: { ChildProcess: ['spawn'] } },
  net: {
    members: ['connect', 'createConnection', 'createServer'],
    prototypes: { Socket: ['connect'], Server: ['listen'] },
  },
  tls: { members: ['connect', 'createServer'] },
  dgram: { members: ['createSocket'], prototypes: { Socket: ['bind', 'connect', 'send'] } },
  http: { members: ['request', 'get', 'createServer'] },
  https: { members: ['request', 'get', 'createServer'] },
  http2: { members: ['connect', 'createServer', 'createSecureServer'] },
  vm: { allLowercaseFunctions: true, members: ['Script', 'SourceTextModule', 'SyntheticModule'] },
  inspector: { members: ['open', 'Session', 'url', 'waitForDebugger'] },
  worker_threads: { members: ['Worker'] },
  os: { members: ['hostname', 'userInfo', 'networkInterfaces', 'homedir', 'tmpdir', 'cpus', 'setPriority'] },
  v8: { members: ['setFlagsFromString', 'writeHeapSnapshot', 'getHeapSnapshot', 'startupSnapshot'] },
  module: { members: ['register', 'createRequire', 'syncBuiltinESMExports', 'findSourceMap'] },
};

const CJS_REFUSED = new Set([
  ...Object.keys(MODULE_PATCHES),
  'cluster',
  'repl',
  'wasi',
  'trace_events',
  'process',
  'ws',
  'undici',
]);

function patchBuiltin(name: string): void {
  let mod: Record<string, unknown>;
  try {
    mod = require(`node:${name}`) as Record<string, unknown>;
  } catch {
    return;
  }
  const spec = MODULE_PATCHES[name]!;
  const keys = new Set<string>(spec.members ?? []);
  if (spec.allLowercaseFunctions) {
    for (const key of Object.keys(mod)) if (typeof mod[key] === 'function' && /^[a-z_]/.test(key)) keys.add(key);
    const promises = mod['promises'];
    if (promises && typeof promises === 'object') {
      for (const key of Object.keys(promises)) {
        if (typeof (promises as Record<string, unknown>)[key] === 'function') {
          try {
            (promises as Record<string, unknown>)[key] = refuser(`${name}.promises.${key}`);
          } catch {
            // non-writable: skip
          }
        }
      }
    }
  }
  // Patch on protototypes first: classes may be replaced below.
  for (const [cls, methods] of Object.entries(spec.prototypes ?? {})) {
    const ctor = mod[cls] as { prototype?: object } | undefined;
    const proto = ctor?.prototype;
    if (!proto) continue;
    for (const m of methods) lock(proto, m, refuser(`${name}.${cls}.prototype.${m}`));
  }
  for (const key of keys) {
    if (!(key in mod)) continue;
    try {
      mod[key] = refuser(`${name}.${key}`);
    } catch {
      // a getter-only export: leave it; the loader gate and other layers still apply
    }
  }
}

function gateCommonJsLoader(): void {
  const Module = require('node:module') as { _load?: (request: string, ...rest: unknown[]) => unknown };
  const original = Module._load;
  if (typeof original !== 'function') return;
  Module._load = function _load(this: unknown, request: string, ...rest: unknown[]): unknown {
    const bare = String(request).replace(/^node:/, '');
    const root = bare.startsWith('@') ? bare : bare.split('/')[0]!;
    if (CJS_REFUSED.has(bare) || CJS_REFUSED.has(root)) throw denied(`module ${JSON.stringify(request)}`);
    return original.call(this, request, ...rest);
  };
}

function hardenProcess(): void {
  const proc = process as unknown as Record<string, unknown>;
  for (const key of PROCESS_REFUSED) {
    if (key in proc) lock(proc, key, refuser(`process.${key}`));
  }
  lock(proc, 'env', Object.freeze(Object.create(null) as object));
  lock(proc, 'report', undefined);
}

function removeGlobals(): void {
  for (const key of GLOBALS_REMOVED) {
    try {
      delete (globalThis as Record<string, unknown>)[key];
    } catch {
      // non-configurable: overwritten below
    }
    lock(globalThis, key, undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// 3. No code from strings
// ---------------------------------------------------------------------------------------------

function neuterFunctionConstructors(): void {
  const protos: Array<[object, string]> = [
    [Function.prototype, 'Function'],
    [Object.getPrototypeOf(async function () {}) as object, 'AsyncFunction'],
    [Object.getPrototypeOf(function* () {}) as object, 'GeneratorFunction'],
    [Object.getPrototypeOf(async function* () {}) as object, 'AsyncGeneratorFunction'],
  ];
  for (const [proto, name] of protos) {
    const stub = function (): never {
      throw new EvalError('code generation from strings is disabled in the sandbox');
    };
    Object.defineProperty(stub, 'name', { value: name });
    lock(proto, 'constructor', stub);
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Frozen intrinsics
// ---------------------------------------------------------------------------------------------

/**
 * Properties commonly assigned on instances (`err.name = ...`, `obj.toString = ...`). Frozen as plain
 * data properties they would make such assignments throw (the "override mistake"); as accessors they
 * stay unchangeable on the prototype while an instance may still get its own.
 */
const OVERRIDABLE = new Set<PropertyKey>([
  'constructor',
  'name',
  'message',
  'stack',
  'cause',
  'code',
  'toString',
  'toLocaleString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toJSON',
  'then',
  'catch',
  'finally',
]);

const INTRINSIC_GLOBALS = [
  'Object',
  'Function',
  'Array',
  'String',
  'Number',
  'Boolean',
  'Symbol',
  'BigInt',
  'Math',
  'JSON',
  'Reflect',
  'Proxy',
  'Promise',
  'RegExp',
  'Date',
  'Error',
  'EvalError',
  'RangeError',
  'ReferenceError',
  'SyntaxError',
  'TypeError',
  'URIError',
  'AggregateError',
  'Map',
  'Set',
  'WeakMap',
  'WeakSet',
  'WeakRef',
  'FinalizationRegistry',
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Atomics',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'Iterator',
  'Intl',
  'WebAssembly',
  'TextEncoder',
  'TextDecoder',
  'escape',
  'unescape',
  'isFinite',
  'isNaN',
  'parseFloat',
  'parseInt',
  'decodeURI',
  'decodeURIComponent',
  'encodeURI',
  'encodeURIComponent',
] as const;

function intrinsicRoots(): unknown[] {
  const g = globalThis as Record<string, unknown>;
  const roots: unknown[] = INTRINSIC_GLOBALS.map((k) => g[k]);
  const iterOf = (x: { [Symbol.iterator](): unknown }) => Object.getPrototypeOf(x[Symbol.iterator]());
  roots.push(
    Object.getPrototypeOf(async function () {}),
    Object.getPrototypeOf(function* () {}),
    Object.getPrototypeOf(async function* () {}),
    Object.getPrototypeOf(Int8Array),
    iterOf([]),
    iterOf(new Map()),
    iterOf(new Set()),
    iterOf(''),
    Object.getPrototypeOf(/x/[Symbol.matchAll]('')),
    Object.getPrototypeOf((function* () {})()),
    Object.getPrototypeOf((async function* () {})()),
  );
  return roots;
}

function tame(obj: object, key: PropertyKey, desc: PropertyDescriptor): void {
  const value: unknown = desc.value;
  Object.defineProperty(obj, key, {
    get: function () {
      return value;
    },
    set: function (this: unknown, v: unknown) {
      if (this === obj) throw new TypeError(`Cannot assign to read only property '${String(key)}'`);
      Object.defineProperty(this as object, key, { value: v, writable: true, enumerable: true, configurable: true });
    },
    enumerable: desc.enumerable ?? false,
    configurable: false,
  });
}

function freezeIntrinsics(): number {
  const seen = new WeakSet<object>();
  const stack: unknown[] = intrinsicRoots();
  let frozen = 0;
  while (stack.length > 0) {
    const o = stack.pop();
    if (o === null || (typeof o !== 'object' && typeof o !== 'function')) continue;
    if (seen.has(o) || o === globalThis || o === process) continue;
    seen.add(o);
    for (const key of Reflect.ownKeys(o)) {
      let desc: PropertyDescriptor | undefined;
      try {
        desc = Reflect.getOwnPropertyDescriptor(o, key);
      } catch {
        continue;
      }
      if (!desc) continue;
      if ('value' in desc) {
        if (OVERRIDABLE.has(key) && desc.writable && desc.configurable && typeof o === 'object') tame(o, key, desc);
        stack.push(desc.value);
      } else {
        stack.push(desc.get, desc.set);
      }
    }
    stack.push(Object.getPrototypeOf(o));
    if (o === Error) {
      // No JavaScript stack ever reaches a guest (its frames name the server's install paths): V8
      // captures frames only while stackTraceLimit is a data property, so it becomes an accessor
      // that reads 0 and ignores writes (Pyodide's PythonError sets it around super()).
      Object.defineProperty(o, 'stackTraceLimit', { get: () => 0, set: () => undefined, configurable: false, enumerable: false });
      for (const key of Reflect.ownKeys(o)) {
        if (key === 'stackTraceLimit') continue;
        const d = Reflect.getOwnPropertyDescriptor(o, key);
        if (d?.configurable) Object.defineProperty(o, key, { ...d, configurable: false, ...('value' in d ? { writable: false } : {}) });
      }
      if (!('prepareStackTrace' in o)) Object.defineProperty(o, 'prepareStackTrace', { value: undefined, writable: false, configurable: false });
      Object.preventExtensions(o);
    } else {
      Object.freeze(o);
    }
    frozen++;
  }
  return frozen;
}

export interface RealmReport {
  frozenIntrinsics: number;
}

let realmHardened = false;

/** Remove Node's capabilities from this worker's realm and freeze its intrinsics. Idempotent. */
export function hardenRealm(): RealmReport {
  if (realmHardened) return { frozenIntrinsics: 0 };
  realmHardened = true;
  for (const name of Object.keys(MODULE_PATCHES)) patchBuiltin(name);
  gateCommonJsLoader();
  try {
    syncBuiltinESMExports();
  } catch {
    // patched already above
  }
  hardenProcess();
  removeGlobals();
  neuterFunctionConstructors();
  const frozenIntrinsics = freezeIntrinsics();
  return { frozenIntrinsics };
}
