/**
 * run_js's global `fs`: Node-like synchronous calls over the run's `GuestFs` (sandbox/guest-fs.ts).
 *
 * Every function is a host function: it runs here, in the worker realm, never as guest JavaScript.
 * It reads its arguments without running guest code (strings by type, options as data properties
 * only, bytes through a helper captured before guest code ran), checks and performs the operation
 * on the in-worker tree, and answers with fresh guest values. Failures reach the guest as Error
 * objects with Node's `code`, `errno`, `syscall` and `path` and a message that names guest paths
 * only.
 */
import { newExactString as newExactStringIn, readExactString } from './quickjs-strings.js';
import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';
import { GuestFsError, type GuestFs } from '../guest-fs.js';
import { canonicalGuestPath } from '../../protocol/guest-paths.js';

/** Guest-realm helpers from quickjs-intrinsics.ts. */
export interface FsHelpers {
  /** `(v) => ArrayBuffer | undefined`: the bytes of an ArrayBuffer, typed array or DataView. */
  bytesOf: QuickJSHandle;
  /** `(ArrayBuffer) => Uint8Array`. */
  toU8: QuickJSHandle;
  /** `(isFile, size, mtimeMs) => stats`. */
  makeStat: QuickJSHandle;
  /** `(json of [[name, isDirectory]...], parentPath) => Dirent-like objects`. */
  makeDirents: QuickJSHandle;
  /** `(text) => JSON.parse(text)` with the captured JSON.parse. */
  fromJson: QuickJSHandle;
  /** `(string) => JSON.stringify(string)` with the captured JSON.stringify. */
  quote: QuickJSHandle;
  /** `(o, k) => value of a data property (own or inherited) or undefined`: never runs a getter. */
  dataProp: QuickJSHandle;
}

type Encoding = BufferEncoding;

const ENCODINGS = new Map<string, Encoding>([
  ['utf8', 'utf8'],
  ['utf-8', 'utf8'],
  ['utf16le', 'utf16le'],
  ['utf-16le', 'utf16le'],
  ['ucs2', 'utf16le'],
  ['ucs-2', 'utf16le'],
  ['latin1', 'latin1'],
  ['binary', 'latin1'],
  ['base64', 'base64'],
  ['base64url', 'base64url'],
  ['hex', 'hex'],
  ['ascii', 'ascii'],
]);

/** A bad argument: thrown into the guest as a TypeError with Node's code. */
class ArgError extends Error {
  constructor(
    readonly code: 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE',
    message: string,
  ) {
    super(message);
  }
}

/** A guest exception raised while a helper ran (an interrupt, say): rethrown as it is. */
class GuestThrow {
  constructor(readonly handle: QuickJSHandle) {}
}

/** The names `fs` offers, for documentation and tests. */
export const FS_FUNCTIONS = [
  'readFileSync',
  'writeFileSync',
  'appendFileSync',
  'copyFileSync',
  'readdirSync',
  'statSync',
  'lstatSync',
  'existsSync',
  'mkdirSync',
  'rmSync',
  'rmdirSync',
  'unlinkSync',
  'renameSync',
] as const;

/**
 * Defines the global `fs`. `current()` is the run's filesystem (undefined between runs, when no
 * guest code can call anything).
 */
export function installFs(
  vm: QuickJSContext,
  helpers: FsHelpers,
  current: () => GuestFs | undefined,
  hostCall: <T>(work: () => T) => T = (work) => work(),
): void {
  const call = (fn: QuickJSHandle, ...args: QuickJSHandle[]): QuickJSHandle => {
    const r = vm.callFunction(fn, vm.undefined, ...args);
    if (r.error) throw new GuestThrow(r.error);
    return r.value;
  };

  const fsNow = (): GuestFs => {
    const fs = current();
    if (fs === undefined) throw new GuestFsError('EINVAL', 'open', undefined, 'fs is only available while code runs');
    return fs;
  };

  const isNullish = (h: QuickJSHandle | undefined): boolean => {
    if (h === undefined) return true;
    const t = vm.typeof(h);
    return t === 'undefined' || (t === 'object' && vm.sameValue(h, vm.null));
  };

  // Exact strings both ways (NUL and lone surrogates survive); see quickjs-strings.ts.
  const exactString = (h: QuickJSHandle): string => readExactString(vm, helpers, h);
  const newExactString = (text: string): QuickJSHandle => newExactStringIn(vm, helpers, text);

  const str = (h: QuickJSHandle | undefined, name: string): string => {
    if (h === undefined || vm.typeof(h) !== 'string') {
      throw new ArgError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be of type string`);
    }
    return exactString(h);
  };

  /** A data property of an options object, or undefined (getters are never run). */
  const option = (options: QuickJSHandle | undefined, key: string): QuickJSHandle | undefined => {
    if (options === undefined || vm.typeof(options) !== 'object' || isNullish(options)) return undefined;
    const k = vm.newString(key);
    try {
      const v = call(helpers.dataProp, options, k);
      if (vm.typeof(v) === 'undefined') {
        v.dispose();
        return undefined;
      }
      return v;
    } finally {
      k.dispose();
    }
  };

  const boolOption = (options: QuickJSHandle | undefined, key: string): boolean => {
    const v = option(options, key);
    if (v === undefined) return false;
    try {
      if (isNullish(v)) return false;
      if (vm.typeof(v) !== 'boolean') throw new ArgError('ERR_INVALID_ARG_TYPE', `The "options.${key}" property must be of type boolean`);
      return vm.dump(v) === true;
    } finally {
      v.dispose();
    }
  };

  const encodingName = (h: QuickJSHandle | undefined): Encoding | undefined => {
    if (isNullish(h)) return undefined;
    const name = str(h, 'encoding');
    if (name === 'buffer') return undefined;
    const enc = ENCODINGS.get(name.toLowerCase());
    if (enc === undefined) throw new ArgError('ERR_INVALID_ARG_VALUE', `The argument 'encoding' is invalid encoding. Received '${name.slice(0, 40)}'`);
    return enc;
  };

  /** `'utf8'` or `{encoding: 'utf8'}` (or nothing). */
  const encodingOf = (h: QuickJSHandle | undefined): Encoding | undefined => {
    if (isNullish(h)) return undefined;
    if (vm.typeof(h!) === 'string') return encodingName(h);
    const v = option(h, 'encoding');
    try {
      return encodingName(v);
    } finally {
      v?.dispose();
    }
  };

  const flagOf = (h: QuickJSHandle | undefined): { append: boolean; exclusive: boolean } => {
    const v = option(h, 'flag');
    if (v === undefined) return { append: false, exclusive: false };
    try {
      if (isNullish(v)) return { append: false, exclusive: false };
      const flag = str(v, 'options.flag');
      if (!/^(?:[wa]x?|x[wa])\+?$/u.test(flag)) throw new ArgError('ERR_INVALID_ARG_VALUE', `The value of "options.flag" is not supported here: '${flag.slice(0, 10)}' (use 'w', 'wx', 'a' or 'ax')`);
      return { append: flag.includes('a'), exclusive: flag.includes('x') };
    } finally {
      v.dispose();
    }
  };

  /** The bytes of `data` (a string in `encoding`, or an ArrayBuffer / view). The array is a copy. */
  const bytesArg = (data: QuickJSHandle | undefined, encoding: Encoding | undefined): Uint8Array => {
    if (data !== undefined && vm.typeof(data) === 'string') {
      const b = Buffer.from(exactString(data), encoding ?? 'utf8');
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    if (data === undefined) throw new ArgError('ERR_INVALID_ARG_TYPE', 'The "data" argument must be of type string or an instance of Uint8Array or ArrayBuffer');
    const ab = call(helpers.bytesOf, data);
    try {
      if (vm.typeof(ab) === 'undefined') {
        throw new ArgError('ERR_INVALID_ARG_TYPE', 'The "data" argument must be of type string or an instance of Uint8Array or ArrayBuffer');
      }
      const view = vm.getArrayBuffer(ab);
      try {
        return view.value.slice();
      } finally {
        view.dispose();
      }
    } finally {
      ab.dispose();
    }
  };

  /** A guest string, or a guest Uint8Array holding a copy of `data`. */
  const contents = (data: Uint8Array, encoding: Encoding | undefined): QuickJSHandle => {
    if (encoding !== undefined) return newExactString(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString(encoding));
    const copy = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data.buffer : data.slice().buffer;
    const ab = vm.newArrayBuffer(copy);
    try {
      return call(helpers.toU8, ab);
    } finally {
      ab.dispose();
    }
  };

  const errorHandle = (e: unknown): QuickJSHandle => {
    if (e instanceof GuestThrow) return e.handle;
    const set = (err: QuickJSHandle, key: string, value: string | number) => {
      const h = typeof value === 'string' ? vm.newString(value) : vm.newNumber(value);
      vm.setProp(err, key, h);
      h.dispose();
    };
    if (e instanceof GuestFsError) {
      const err = vm.newError({ name: 'Error', message: e.message });
      set(err, 'code', e.code);
      set(err, 'errno', e.errno);
      set(err, 'syscall', e.syscall);
      if (e.path !== undefined) set(err, 'path', e.path);
      return err;
    }
    if (e instanceof ArgError) {
      const err = vm.newError({ name: 'TypeError', message: e.message });
      set(err, 'code', e.code);
      return err;
    }
    // Our bug, not the guest's: say nothing about internals.
    const err = vm.newError({ name: 'Error', message: 'EIO: i/o error' });
    set(err, 'code', 'EIO');
    return err;
  };

  const fsObj = vm.newObject();
  const define = (name: (typeof FS_FUNCTIONS)[number], impl: (...args: QuickJSHandle[]) => QuickJSHandle | undefined) => {
    const fn = vm.newFunction(name, (...args) => {
      try {
        return hostCall(() => impl(...args));
      } catch (e) {
        throw errorHandle(e);
      }
    });
    vm.setProp(fsObj, name, fn);
    fn.dispose();
  };

  define('readFileSync', (path, options) => {
    const p = str(path, 'path');
    const encoding = encodingOf(options);
    return contents(fsNow().readFile(p), encoding);
  });
  define('writeFileSync', (path, data, options) => {
    const p = str(path, 'path');
    const { append, exclusive } = flagOf(options);
    fsNow().writeFile(p, bytesArg(data, encodingOf(options)), { append, exclusive });
    return undefined;
  });
  define('appendFileSync', (path, data, options) => {
    const p = str(path, 'path');
    fsNow().writeFile(p, bytesArg(data, encodingOf(options)), { append: true });
    return undefined;
  });
  define('copyFileSync', (from, to, mode) => {
    const a = str(from, 'src');
    const b = str(to, 'dest');
    // fs.constants.COPYFILE_EXCL is 1.
    const exclusive = mode !== undefined && vm.typeof(mode) === 'number' && (vm.getNumber(mode) & 1) === 1;
    fsNow().copyFile(a, b, { exclusive });
    return undefined;
  });
  define('readdirSync', (path, options) => {
    const fs = fsNow();
    const top = str(path, 'path');
    const flag = (key: string) => {
      const h = option(options, key);
      if (h === undefined) return false;
      const on = vm.typeof(h) === 'boolean' && vm.dump(h) === true;
      h.dispose();
      return on;
    };
    const withFileTypes = flag('withFileTypes');
    // Names relative to `top`; with `recursive`, every descendant (as Node does), depth first.
    const recursive = flag('recursive');
    const entries: Array<[string, boolean]> = [];
    const walk = (dir: string, names: string[], prefix: string) => {
      for (const name of names) {
        const full = dir === '/' ? `/${name}` : `${dir}/${name}`;
        const isDir = fs.stat(full).kind === 'dir';
        entries.push([prefix + name, isDir]);
        if (recursive && isDir) walk(full, fs.readdir(full), `${prefix}${name}/`);
      }
    };
    // The first listing checks the path as Node's scandir does (ENOENT, ENOTDIR...).
    walk(canonicalGuestPath(top), fs.readdir(top), '');
    const text = vm.newString(JSON.stringify(withFileTypes ? entries : entries.map(([name]) => name)));
    const parent = withFileTypes ? newExactString(canonicalGuestPath(top)) : undefined;
    try {
      return parent ? call(helpers.makeDirents, text, parent) : call(helpers.fromJson, text);
    } finally {
      text.dispose();
      parent?.dispose();
    }
  });
  const stat = (path: QuickJSHandle | undefined, options: QuickJSHandle | undefined) => {
    const p = str(path, 'path');
    const fs = fsNow();
    const throwIfNoEntry = option(options, 'throwIfNoEntry');
    let quiet = false;
    if (throwIfNoEntry !== undefined) {
      quiet = vm.typeof(throwIfNoEntry) === 'boolean' && vm.dump(throwIfNoEntry) === false;
      throwIfNoEntry.dispose();
    }
    let s;
    try {
      s = fs.stat(p);
    } catch (e) {
      if (quiet && e instanceof GuestFsError && e.code === 'ENOENT') return undefined;
      throw e;
    }
    const isFile = s.kind === 'file' ? vm.true : vm.false;
    const size = vm.newNumber(s.size);
    const mtime = vm.newNumber(s.mtimeMs);
    try {
      return call(helpers.makeStat, isFile, size, mtime);
    } finally {
      size.dispose();
      mtime.dispose();
    }
  };
  define('statSync', stat);
  define('lstatSync', stat);
  define('existsSync', (path) => {
    if (path === undefined || vm.typeof(path) !== 'string') return vm.false;
    return fsNow().exists(exactString(path)) ? vm.true : vm.false;
  });
  define('mkdirSync', (path, options) => {
    const p = str(path, 'path');
    const recursive = boolOption(options, 'recursive');
    const first = fsNow().mkdir(p, { recursive });
    return first === undefined ? undefined : vm.newString(first);
  });
  define('rmSync', (path, options) => {
    const p = str(path, 'path');
    fsNow().rm(p, { recursive: boolOption(options, 'recursive'), force: boolOption(options, 'force') });
    return undefined;
  });
  define('rmdirSync', (path) => {
    fsNow().rmdir(str(path, 'path'));
    return undefined;
  });
  define('unlinkSync', (path) => {
    fsNow().unlink(str(path, 'path'));
    return undefined;
  });
  define('renameSync', (from, to) => {
    const a = str(from, 'oldPath');
    const b = str(to, 'newPath');
    fsNow().rename(a, b);
    return undefined;
  });

  // Node's fs.constants that these calls understand (access modes, copyFileSync's flags).
  const constants = vm.newString(JSON.stringify({ F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1, COPYFILE_EXCL: 1, COPYFILE_FICLONE: 2, COPYFILE_FICLONE_FORCE: 4 }));
  const constantsObj = call(helpers.fromJson, constants);
  constants.dispose();
  vm.setProp(fsObj, 'constants', constantsObj);
  constantsObj.dispose();
  vm.setProp(vm.global, 'fs', fsObj);
  fsObj.dispose();
}
