/**
 * Guest-realm helpers that must be defined before any guest code runs. They close over intrinsics
 * captured at context creation, use no methods a guest could replace on a prototype (no push, no
 * join, no index writes into arrays), never call `toJSON`, and skip accessor properties, so a
 * poisoned realm cannot make them run guest code — except a Proxy's traps, which are bounded by
 * the run's interrupt handler like any other guest code.
 *
 * `__toJson(value, maxChars)` returns JSON text, or undefined when the value has no JSON form.
 * `__format(value)` renders one console argument.
 * `bytesOf`, `toU8`, `makeStat`, `fromJson` and `quote` serve the host side of `fs`: they move bytes between
 * ArrayBuffers (what the host can read and create) and the views guest code uses, and build
 * `statSync` results, all with captured intrinsics and nothing a guest could have replaced.
 */
export const INTRINSICS_SOURCE = String.raw`(() => {
  const O = Object, gopn = O.getOwnPropertyNames, gopd = O.getOwnPropertyDescriptor;
  const isArray = Array.isArray, stringify = JSON.stringify, apply = Reflect.apply;
  const getTime = Date.prototype.getTime, toISO = Date.prototype.toISOString;
  const errProto = Error.prototype, getProto = O.getPrototypeOf;
  const TOO_BIG = { tooBig: true };
  const isDate = (v) => { try { apply(getTime, v, []); return true; } catch { return false; } };
  const isError = (v) => { let p = v; for (let i = 0; i < 64 && p !== null; i++) { if (p === errProto) return true; p = getProto(p); } return false; };
  const hasOwnProp = O.prototype.hasOwnProperty;
  const hasOwn = O.hasOwn || ((o, k) => apply(hasOwnProp, o, [k]));
  const own = (o, k) => { const d = gopd(o, k); return d === undefined || !hasOwn(d, 'value') ? undefined : d; };
  // A data property found along the prototype chain (getters never run): an error's name lives on its prototype.
  const inherited = (o, k) => { let p = o; for (let i = 0; i < 64 && p !== null; i++) { const d = own(p, k); if (d !== undefined) return d.value; if (gopd(p, k) !== undefined) return undefined; p = getProto(p); } return undefined; };
  const errorName = (v) => { const n = inherited(v, 'name'); return typeof n === 'string' ? n : 'Error'; };
  const errorMessage = (v) => { const m = own(v, 'message'); return m && typeof m.value === 'string' ? m.value : ''; };
  // For console output only (state.show): what JSON cannot say, said as Node says it.
  const mapSize = gopd(Map.prototype, 'size').get, mapEach = Map.prototype.forEach;
  const setSize = gopd(Set.prototype, 'size').get, setEach = Set.prototype.forEach;
  const reSource = gopd(RegExp.prototype, 'source').get;
  const reFlags = [['hasIndices', 'd'], ['global', 'g'], ['ignoreCase', 'i'], ['multiline', 'm'], ['dotAll', 's'], ['unicode', 'u'], ['unicodeSets', 'v'], ['sticky', 'y']]
    .map(([k, f]) => [gopd(RegExp.prototype, k) && gopd(RegExp.prototype, k).get, f]).filter(([g]) => g);
  const symDesc = gopd(Symbol.prototype, 'description').get;
  const taTag = gopd(getProto(Uint8Array.prototype), Symbol.toStringTag).get, taLen = gopd(getProto(Uint8Array.prototype), 'length').get;
  const tryGet = (getter, v) => { try { return { value: apply(getter, v, []) }; } catch { return undefined; } };
  const number = (v) => (v === 0 && 1 / v < 0 ? '-0' : '' + v);
  // Built with strings and captured methods only: a guest may have put setters on Array.prototype's indexes.
  function shown(v, depth, state) {
    let size = tryGet(mapSize, v);
    if (size) {
      let s = '';
      apply(mapEach, v, [(val, key) => { if (state.len++ > state.max) throw TOO_BIG; s += (s ? ', ' : '') + ser(key, depth + 1, state) + ' => ' + ser(val, depth + 1, state); }]);
      return 'Map(' + size.value + ') {' + s + '}';
    }
    size = tryGet(setSize, v);
    if (size) {
      let s = '';
      apply(setEach, v, [(val) => { if (state.len++ > state.max) throw TOO_BIG; s += (s ? ', ' : '') + ser(val, depth + 1, state); }]);
      return 'Set(' + size.value + ') {' + s + '}';
    }
    const source = tryGet(reSource, v);
    if (source) { let f = ''; for (let i = 0; i < reFlags.length; i++) if (apply(reFlags[i][0], v, [])) f += reFlags[i][1]; return '/' + source.value + '/' + f; }
    const tag = tryGet(taTag, v);
    if (tag && tag.value !== undefined) {
      const n = apply(taLen, v, []);
      let s = '';
      for (let i = 0; i < n; i++) { if (state.len++ > state.max) throw TOO_BIG; s += (i ? ', ' : '') + (typeof v[i] === 'bigint' ? v[i] + 'n' : number(v[i])); }
      return tag.value + '(' + n + ') [' + s + ']';
    }
    return undefined;
  }
  function ser(v, depth, state) {
    if (state.len > state.max) throw TOO_BIG;
    switch (typeof v) {
      case 'string': return stringify(v);
      case 'number': return v === v && v !== Infinity && v !== -Infinity ? (state.show ? number(v) : '' + v) : state.show ? '' + v : 'null';
      case 'boolean': return v ? 'true' : 'false';
      case 'bigint': return state.show ? v + 'n' : stringify('' + v);
      case 'undefined': return state.show ? 'undefined' : undefined;
      case 'function': { if (!state.show) return undefined; const n = own(v, 'name'); return '[Function' + (n && typeof n.value === 'string' && n.value ? ': ' + n.value : ' (anonymous)') + ']'; }
      case 'symbol': { if (!state.show) return undefined; const d = apply(symDesc, v, []); return 'Symbol(' + (d === undefined ? '' : d) + ')'; }
    }
    if (v === null) return 'null';
    if (depth > 64) throw TOO_BIG;
    if (state.show) {
      // The objects from the top down to here, as a linked list of literals (own data properties only).
      for (let p = state.path; p !== null; p = p.up) if (p.v === v) return '[Circular]';
      const up = state.path;
      state.path = { v: v, up: up };
      try { return serObject(v, depth, state); } finally { state.path = up; }
    }
    return serObject(v, depth, state);
  }
  function serObject(v, depth, state) {
    if (isDate(v)) { const t = apply(getTime, v, []); return t === t ? stringify(apply(toISO, v, [])) : 'null'; }
    if (isError(v)) {
      if (state.show) return '[' + errorName(v) + ': ' + errorMessage(v) + ']';
      return '{"name":' + stringify(errorName(v)) + ',"message":' + stringify(errorMessage(v)) + '}';
    }
    if (state.show) { const special = shown(v, depth, state); if (special !== undefined) return special; }
    const keys = gopn(v);
    if (isArray(v)) {
      const lenD = own(v, 'length'); const n = lenD ? lenD.value : 0;
      let s = '[';
      for (let i = 0; i < n; i++) {
        const d = own(v, '' + i);
        const item = d === undefined ? undefined : ser(d.value, depth + 1, state);
        s += (i ? ',' : '') + (item === undefined ? 'null' : item);
        state.len += 1;
        if (s.length > state.max) throw TOO_BIG;
      }
      return s + ']';
    }
    let s = '{', first = true;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const d = own(v, k);
      if (d === undefined || !d.enumerable) continue;
      const item = ser(d.value, depth + 1, state);
      if (item === undefined) continue;
      s += (first ? '' : ',') + stringify(k) + ':' + item;
      first = false;
      state.len += 1;
      if (s.length > state.max) throw TOO_BIG;
    }
    return s + '}';
  }
  const toJson = (value, max) => {
    try { const s = ser(value, 0, { len: 0, max }); return s !== undefined && s.length > max ? TOO_BIG : s; }
    catch (e) { if (e === TOO_BIG) return TOO_BIG; throw e; }
  };
  const format = (value) => {
    if (typeof value === 'string') return value;
    if (value !== null && typeof value === 'object' && isError(value)) {
      const st = own(value, 'stack');
      const head = errorName(value) + ': ' + errorMessage(value);
      return st && typeof st.value === 'string' && st.value ? head + '\n' + st.value : head;
    }
    try {
      const s = ser(value, 0, { len: 0, max: 65536, show: true, path: null });
      return s === undefined ? 'undefined' : s.length > 65536 ? '[Object: too large to print]' : s;
    } catch (e) { return e === TOO_BIG ? '[Object: too large to print]' : '[Object]'; }
  };
  // --- for the host side of fs (runtimes/quickjs.ts): bytes in and out, stat objects ---
  const AB = ArrayBuffer, U8 = Uint8Array, D = Date, isView = AB.isView;
  const abLength = gopd(AB.prototype, 'byteLength').get, u8Set = U8.prototype.set;
  const taProto = getProto(U8.prototype);
  const taBuffer = gopd(taProto, 'buffer').get, taOffset = gopd(taProto, 'byteOffset').get, taLength = gopd(taProto, 'byteLength').get;
  const dvBuffer = gopd(DataView.prototype, 'buffer').get, dvOffset = gopd(DataView.prototype, 'byteOffset').get, dvLength = gopd(DataView.prototype, 'byteLength').get;
  // The ArrayBuffer itself, or a new ArrayBuffer with the bytes of a typed array or DataView; undefined for anything else.
  const bytesOf = (v) => {
    if (v === null || typeof v !== 'object') return undefined;
    // A detached buffer has no bytes to give: new U8 throws, and the caller says what it expected.
    try { apply(abLength, v, []); new U8(v); return v; } catch {}
    if (!isView(v)) return undefined;
    // Copied with the constructor and set() captured here: ArrayBuffer.prototype.slice would ask
    // the buffer's constructor[Symbol.species], which the guest controls, for the copy.
    const copy = (buffer, offset, length) => { const out = new U8(length); apply(u8Set, out, [new U8(buffer, offset, length)]); return apply(taBuffer, out, []); };
    try { return copy(apply(taBuffer, v, []), apply(taOffset, v, []), apply(taLength, v, [])); } catch {}
    try { return copy(apply(dvBuffer, v, []), apply(dvOffset, v, []), apply(dvLength, v, [])); } catch {}
    return undefined;
  };
  const toU8 = (buffer) => new U8(buffer);
  const parse = JSON.parse;
  const fromJson = (text) => parse(text);
  // JSON text of a string: NUL and lone surrogates escaped, so the host can read it exactly.
  const quote = (text) => stringify(text);
  const makeStat = (isFile, size, mtimeMs) => ({
    size, mtimeMs, mtime: new D(mtimeMs),
    isFile: () => isFile, isDirectory: () => !isFile, isSymbolicLink: () => false,
  });
  // readdirSync(p, { withFileTypes: true }): Dirent-like entries from [[name, isDirectory], ...] JSON.
  // Built with defineProperty: a guest may have put setters on Array.prototype's indexes.
  const defineProperty = O.defineProperty;
  const makeDirents = (text, parentPath) => {
    const list = parse(text), out = [];
    for (let i = 0; i < list.length; i++) {
      const name = list[i][0], dir = list[i][1];
      defineProperty(out, i, { value: { name, parentPath, path: parentPath, isFile: () => !dir, isDirectory: () => dir, isSymbolicLink: () => false }, writable: true, enumerable: true, configurable: true });
    }
    return out;
  };
  return { toJson, format, TOO_BIG, bytesOf, toU8, makeStat, makeDirents, fromJson, quote };
})()`;
