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
  function ser(v, depth, state) {
    if (state.len > state.max) throw TOO_BIG;
    switch (typeof v) {
      case 'string': return stringify(v);
      case 'number': return v === v && v !== Infinity && v !== -Infinity ? '' + v : 'null';
      case 'boolean': return v ? 'true' : 'false';
      case 'bigint': return stringify('' + v);
      case 'undefined': case 'function': case 'symbol': return undefined;
    }
    if (v === null) return 'null';
    if (depth > 64) throw TOO_BIG;
    if (isDate(v)) { const t = apply(getTime, v, []); return t === t ? stringify(apply(toISO, v, [])) : 'null'; }
    if (isError(v)) {
      const n = own(v, 'name'), m = own(v, 'message');
      let s = '{"name":' + stringify(typeof (n && n.value) === 'string' ? n.value : 'Error');
      return s + ',"message":' + stringify(typeof (m && m.value) === 'string' ? m.value : '') + '}';
    }
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
    if (typeof value === 'undefined') return 'undefined';
    if (typeof value === 'function') return '[Function]';
    if (typeof value === 'symbol') return 'Symbol()';
    if (typeof value === 'bigint') return '' + value + 'n';
    if (value !== null && typeof value === 'object' && isError(value)) {
      const st = own(value, 'stack'), n = own(value, 'name'), m = own(value, 'message');
      const head = (n && typeof n.value === 'string' ? n.value : 'Error') + ': ' + (m && typeof m.value === 'string' ? m.value : '');
      return st && typeof st.value === 'string' && st.value ? head + '\n' + st.value : head;
    }
    try { const s = toJson(value, 65536); return s === TOO_BIG ? '[Object: too large to print]' : s === undefined ? 'undefined' : s; }
    catch { return '[Object]'; }
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
  return { toJson, format, TOO_BIG, bytesOf, toU8, makeStat, fromJson, quote };
})()`;
