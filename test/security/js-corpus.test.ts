/**
 * Adversarial corpus for run_js, through the BUILT server over stdio (issue 8, part 1 and 2).
 *
 * One row per attack, grouped by category. Every row asserts
 *   - its own safe outcome (exit code and/or fields),
 *   - the invariants every result must keep (isError ⇔ exitCode ≠ 0, caps, text block = structuredContent,
 *     no host path, hostname, environment value or canary content anywhere in what the guest gets back),
 *   - that the server answers the next call (`1 + 1` → 2 on the same server, after the row).
 * After the whole corpus: the canary file in a directory this test owns was neither read nor changed
 * (atime/mtime/ctime/contents), the key directories are unchanged, each server still has exactly one
 * sandbox host, and every byte every server wrote to stdout is JSON-RPC.
 *
 * Rows marked `bug` reproduce confirmed defects of src/ and run as `it.fails` on servers of their own; the
 * machinery (harness, invariants, after-corpus checks) lives in test/helpers/corpus.ts.
 */
import path from 'node:path';
import { expect } from 'vitest';
import {
  brief,
  defineCorpus,
  exitIs,
  guestError,
  memoryStopped,
  ok,
  okWith,
  outOfMemory,
  rowTable,
  timedOut,
  wellFormed,
  type Target,
} from '../helpers/corpus.js';

const CAP = 65_536;
const SERVER_ARGS: Record<Target, string[]> = {
  main: ['--timeout', '1500', '--max-stdout', String(CAP), '--max-stderr', String(CAP)],
  lowmem: ['--timeout', '3000', '--max-memory', '32', '--max-stdout', String(CAP), '--max-stderr', String(CAP)],
  fragile: ['--timeout', '1500', '--max-stdout', String(CAP), '--max-stderr', String(CAP)],
  fragileLowmem: ['--timeout', '3000', '--max-memory', '32', '--max-stdout', String(CAP), '--max-stderr', String(CAP)],
};

const { rows, add } = rowTable();

/** Every line of a traceback points at the user's code, QuickJS natives or the realm's own helpers. */
const userFramesOnly = (tb: string | undefined) => {
  // A traceback cut at its length limit ends in a partial line with "…".
  for (const line of (tb ?? '').split('\n').filter((l) => l.trim() && !l.endsWith('…') && !/^\s+\.\.\. \d+ more frames$/.test(l))) {
    expect(line).toMatch(/^\s+at .*\((main\.js(:\d+){0,2}|native|intrinsics\.js(:\d+){0,2})\)$|^\s+at main\.js(:\d+){0,2}$/);
  }
};

/** Names that would mean a host object reached the guest realm. `fs` is the guest's own VFS when present. */
const HOST_NAMES = [
  'process', 'require', 'module', 'exports', 'Buffer', 'global', '__dirname', '__filename', 'std', 'os', 'bjson',
  'scriptArgs', 'print', 'WebAssembly', 'Deno', 'Bun', 'importScripts', 'postMessage', 'XMLHttpRequest', 'navigator',
  'Atomics', 'performance', 'queueMicrotask', 'structuredClone', 'gc', 'load', 'quit', '__loadScript',
];

// ======================================================================================================
// escape: reaching anything of the host from inside the guest realm
// ======================================================================================================

add('escape', 'the global object holds no host names', 'Reflect.ownKeys(globalThis).map(String)', (r) => {
  ok(r);
  for (const name of HOST_NAMES) expect(r.result).not.toContain(name);
  expect(r.result).toEqual(expect.arrayContaining(['console', 'setTimeout', 'Object']));
});

add(
  'escape',
  'a walk of every object reachable from globalThis (values, accessors, prototypes) finds no host binding',
  `const seen = new Set(), hits = [], stack = [globalThis];
   const bad = /^(process|require|module|Buffer|binding|_linkedBinding|dlopen|env|argv|execPath|mainModule|child_process|WebAssembly|Deno|std|os)$/;
   while (stack.length && seen.size < 50000) {
     const o = stack.pop();
     if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
     seen.add(o);
     let keys = []; try { keys = Reflect.ownKeys(o); } catch {}
     for (const k of keys) {
       if (typeof k === 'string' && bad.test(k)) hits.push(k);
       let d; try { d = Object.getOwnPropertyDescriptor(o, k); } catch { continue; }
       if (!d) continue;
       if ('value' in d) stack.push(d.value); else { stack.push(d.get); stack.push(d.set); }
     }
     try { stack.push(Object.getPrototypeOf(o)); } catch {}
   }
   ({ visited: seen.size, hits })`,
  (r) => {
    ok(r);
    expect(r.result.hits).toEqual([]);
    expect(r.result.visited).toBeGreaterThan(100);
  },
);

add('escape', "Function('return this')() is the guest's own global", "const g = Function('return this')(); [g === globalThis, typeof g.process, typeof g.require]", okWith([true, 'undefined', 'undefined']));
add('escape', 'indirect eval sees the same guest global', "const g = (0, eval)('this'); [g === globalThis, typeof g.process]", okWith([true, 'undefined']));
add('escape', "console.log's constructor is the guest's Function", "[console.log.constructor === Function, console.log.constructor('return typeof process')()]", okWith([true, 'undefined']));
add('escape', "console.log.constructor('return process')() throws a guest ReferenceError", "console.log.constructor('return process')()", guestError('ReferenceError'));
add('escape', "setTimeout's prototype chain is the guest's", '[setTimeout.constructor === Function, Object.getPrototypeOf(setTimeout) === Function.prototype, Object.getPrototypeOf(clearInterval) === Function.prototype]', okWith([true, true, true]));
add('escape', 'the __proto__ chain of a host function leads to no host realm', "console.log.__proto__.__proto__.constructor.constructor('return [typeof process, typeof require, typeof Buffer]')()", okWith(['undefined', 'undefined', 'undefined']));
add('escape', 'this.constructor.constructor at top level is the guest Function', "this.constructor.constructor('return this')() === globalThis", okWith(true));
add('escape', '.caller and .arguments of host functions reveal nothing', "const out = []; for (const f of [console.log, setTimeout]) { try { out.push(typeof f.caller, typeof f.arguments); } catch (e) { out.push(e.name); } } out", (r) => {
  ok(r);
  for (const v of r.result) expect(['undefined', 'object', 'TypeError']).toContain(v);
  expect(r.result).not.toContain('function');
});
add(
  'escape',
  'a timer callback cannot see its host caller (f.caller, arguments.callee.caller)',
  "setTimeout(function f() { globalThis.c = [typeof f.caller, typeof arguments.callee.caller]; }, 0); await new Promise((r) => setTimeout(r, 5)); JSON.stringify(c)",
  (r) => {
    ok(r);
    expect(JSON.parse(r.result)).not.toContain('function');
  },
);
add('escape', 'a sloppy function called from top level has no host caller', '(function f() { return typeof f.caller; })()', (r) => {
  ok(r);
  expect(['undefined', 'object']).toContain(r.result); // null is "object"
});
add('escape', "dynamic import('fs') is refused", "await import('fs').then(() => 'loaded', (e) => 'refused: ' + e.message)", (r) => {
  ok(r);
  expect(r.result).toMatch(/^refused/);
});
add('escape', "dynamic import('node:child_process') is refused", "await import('node:child_process').then(() => 'loaded', (e) => 'refused: ' + e.message)", (r) => {
  ok(r);
  expect(r.result).toMatch(/^refused/);
});
add('escape', 'dynamic import of the canary file by absolute path is refused', (c) => `await import(${JSON.stringify(c.canaryPath)}).then(() => 'loaded', (e) => 'refused: ' + e.message)`, (r) => {
  ok(r);
  expect(r.result).toMatch(/^refused/);
});
add('escape', 'dynamic import of a file:// URL is refused', (c) => `await import(${JSON.stringify(`file://${c.canaryPath}`)}).then(() => 'loaded', (e) => 'refused: ' + e.message)`, (r) => {
  ok(r);
  expect(r.result).toMatch(/^refused/);
});
add('escape', "dynamic import of the server's own dist/ is refused", (c) => `await import(${JSON.stringify(path.join(c.root, 'dist/sandbox/host.js'))}).then(() => 'loaded', (e) => 'refused: ' + e.message)`, (r) => {
  ok(r);
  expect(r.result).toMatch(/^refused/);
});
add('escape', 'dynamic import of a data: URL is refused', "await import('data:text/javascript,export default 1').then(() => 'loaded', (e) => 'refused: ' + e.message)", (r) => {
  ok(r);
  expect(r.result).toMatch(/^refused/);
});
add('escape', 'dynamic import of an https: URL is refused', "await import('https://example.com/x.js').then(() => 'loaded', (e) => 'refused: ' + e.message)", (r) => {
  ok(r);
  expect(r.result).toMatch(/^refused/);
});
add('escape', 'a static import is a syntax error (scripts, not modules)', "import fs from 'fs'; fs", guestError('SyntaxError'));
add('escape', 'import.meta is a syntax error', 'import.meta.url', guestError('SyntaxError'));
add('escape', "require('child_process') does not exist", "require('child_process').execSync('id')", guestError('ReferenceError'));
add('escape', "QuickJS's std/os modules are not installed", "os.exec(['/bin/sh', '-c', 'id'])", guestError('ReferenceError'));
add('escape', 'no shell helpers of the QuickJS REPL', "std.loadFile('/etc/passwd')", guestError('ReferenceError'));
add(
  'escape',
  'Error.prepareStackTrace is never called with host frames',
  "let called = false; Error.prepareStackTrace = (e, frames) => { called = true; return frames.map((f) => f.getFileName()); }; const s = new Error('x').stack; [called, typeof s]",
  okWith([false, 'string']),
);
add('escape', 'errors made by host functions are guest-realm objects', "let e; try { e = setTimeout(1); } catch (x) { e = x; } [typeof e, e instanceof Error, Object.getPrototypeOf(e) === Error.prototype || Object.getPrototypeOf(e) === TypeError.prototype]", okWith(['object', true, true]));
add(
  'escape',
  'console.log never calls toPrimitive, toString, valueOf, toJSON or inspect hooks of its arguments',
  "const hit = []; const o = { [Symbol.toPrimitive]() { hit.push(1); }, toString() { hit.push(2); }, valueOf() { hit.push(3); }, toJSON() { hit.push(4); }, [Symbol.for('nodejs.util.inspect.custom')]() { hit.push(5); } }; console.log(o, [o], { o }); console.error(o); hit.length",
  okWith(0),
);
add('escape', "a Proxy printed by console.log only ever sees guest objects in its traps", "let seen; console.log(new Proxy({}, { ownKeys(t) { seen = [typeof t, Object.getPrototypeOf(t) === Object.prototype]; return []; } })); seen", okWith(['object', true]));
add('escape', 'a thrown Proxy whose traps reach for the host gets a plain guest error', "throw new Proxy({}, { get(t, k, r) { return this.constructor.constructor('return process')(); }, getPrototypeOf() { return Function('return process')(); } })", (r) => {
  expect(r.exitCode, brief(r)).toBe(1);
  expect(r.error!.code).toBe('E_GUEST_ERROR');
});
add('escape', 'message and stack getters of an uncaught thrown object are not run to describe it', 'calls', okWith(0), {
  before: [{ code: "globalThis.calls = 0; throw { get message() { calls++; return 'x'; }, get stack() { calls++; return 'y'; } }", session: 'getter-calls' }],
  args: { session: 'getter-calls' },
});
add('escape', 'an uncaught object with accessor name/message is described without calling them', "throw { get message() { return typeof process; }, get stack() { return 'forged'; } }", (r) => {
  expect(r.exitCode, brief(r)).toBe(1);
  expect(r.error!.message).toBe('');
  expect(r.error!.traceback).toBeUndefined();
});
add(
  'escape',
  "the guest's /tmp is not the host's /tmp: the canary cannot be read, and a write lands in the guest only",
  (c) => `const p = ${JSON.stringify(c.canaryPath)};
    const out = [];
    if (typeof fs === 'undefined') out.push('no fs');
    else {
      try { out.push('read:' + fs.readFileSync(p, 'utf8')); } catch (e) { out.push('read refused'); }
      try { fs.mkdirSync(${JSON.stringify(path.dirname(c.canaryPath))}, { recursive: true }); fs.writeFileSync(p, 'pwned'); out.push('wrote in guest'); } catch (e) { out.push('write refused'); }
    }
    JSON.stringify(out)`,
  (r) => {
    ok(r);
    expect(r.result).not.toContain('CANARY-');
  },
);
add('escape', 'host files are not visible: /etc/passwd, /proc/self/environ, the repo', (c) => `const out = [];
    for (const p of ['/etc/passwd', '/proc/self/environ', '/proc/self/cmdline', ${JSON.stringify(path.join(c.root, 'package.json'))}]) {
      if (typeof fs === 'undefined') { out.push('no fs'); continue; }
      try { out.push(fs.readFileSync(p, 'utf8').slice(0, 200)); } catch (e) { out.push('refused'); }
    }
    JSON.stringify(out)`, (r) => {
  ok(r);
  expect(r.result).not.toMatch(/root:|PATH=|wasm-sandbox-mcp|node/);
});
const FS = "if (typeof fs === 'undefined') throw new Error('no fs in this build');";
add('escape', 'the guest filesystem shows only its own roots, nothing of the host', `${FS} fs.readdirSync('/')`, (r) => {
  ok(r);
  for (const name of ['etc', 'proc', 'work', 'root', 'home', 'usr', 'dev', 'sys', 'var']) expect(r.result).not.toContain(name);
});
add('escape', '.. cannot climb out of /tmp', `${FS} fs.readFileSync('/tmp/../../../etc/passwd', 'utf8')`, (r) => {
  expect(r.exitCode).toBe(1);
  expect(JSON.stringify(r)).not.toMatch(/root:x:0/);
});
add('escape', 'writing outside the writable prefixes is refused', `${FS} fs.writeFileSync('/etc/cron.d/pwn', '* * * * * root id')`, guestError('Error'));
add('escape', 'rm -rf / is refused', `${FS} fs.rmSync('/', { recursive: true, force: true }); fs.readdirSync('/')`, guestError('Error'));
add('escape', 'NUL and bidi characters in paths are refused', `${FS} const out = []; for (const p of ['/tmp/a\\u0000b', '/tmp/\\u202eevil', '/output/x\\u0000/../../etc/passwd']) { try { fs.writeFileSync(p, 'x'); out.push('wrote'); } catch (e) { out.push('refused'); } } out`, okWith(['refused', 'refused', 'refused']));
add('escape', 'fs arguments are type-checked, never coerced through guest hooks', `${FS} const out = []; for (const p of [{ toString() { return '/etc/passwd'; } }, new Proxy({}, { get() { while (1) {} } })]) { try { fs.readFileSync(p); out.push('read'); } catch (e) { out.push(e.name); } } out`, okWith(['TypeError', 'TypeError']));
add('escape', 'fs functions called with a foreign this still stay in the guest filesystem', `${FS} try { fs.readFileSync.call({}, '/etc/passwd', 'utf8'); 'read' } catch (e) { e.message }`, (r) => {
  ok(r);
  expect(r.result).toMatch(/EACCES|ENOENT/);
});
add('escape', 'no WebAssembly, no SharedArrayBuffer waits, no Atomics', "[typeof WebAssembly, typeof Atomics, typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(8).byteLength : 0]", (r) => {
  ok(r);
  expect(r.result.slice(0, 2)).toEqual(['undefined', 'undefined']);
});
add(
  'escape',
  'a thrown object named SyntaxError cannot make the notebook rewrite run the cell a second time',
  "console.log('ran'); globalThis['await'] = (x) => x; await (1); throw new SyntaxError('not really')",
  (r) => {
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('ran\n');
  },
  {
    // fixed (regression row): 'quickjs.ts evaluate(): a runtime throw of an object whose name is "SyntaxError" is taken for a parse error, so a cell with `await (x)` (a call of a global named `await` in script mode, an AwaitExpression for acorn) runs again inside the top-level-await wrapper: every side effect happens twice.',
  },
);

// ======================================================================================================
// exhaustion: time, stack, memory, timers, jobs, output, results
// ======================================================================================================

add('exhaustion', 'while (true) {} stops with 124 near its time limit', 'while (true) {}', (r) => {
  timedOut(r);
  expect(r.wallMs).toBeLessThan(600 + 2000);
}, { args: { timeoutMs: 600 } });
add('exhaustion', 'catastrophic regex backtracking stops with 124', "/(a+)+$/.test('a'.repeat(30) + 'b')", timedOut, { args: { timeoutMs: 600 } });
add('exhaustion', 'catching the interrupt in a loop does not help', 'for (;;) { try { while (true) {} } catch (e) {} }', timedOut, { args: { timeoutMs: 600 } });
add('exhaustion', 'an endless finally block stops with 124', 'try { 1; } finally { while (true) {} }', timedOut, { args: { timeoutMs: 600 } });
add('exhaustion', 'while (1) inside a promise job stops with 124', 'Promise.resolve().then(() => { while (1) {} }); 1', timedOut, { args: { timeoutMs: 600 } });
add('exhaustion', 'while (1) inside a setTimeout callback stops with 124', 'setTimeout(() => { while (1) {} }, 0); 1', timedOut, { args: { timeoutMs: 600 } });
// In a session: a sessionless flood would trip the dispose defect of the next row on the next call.
add('exhaustion', 'a microtask flood stops with 124', 'const f = () => Promise.resolve().then(f); f(); 1', async (r, h) => {
  timedOut(r);
  const next = await h.run('1 + 1', { session: 'flood' });
  expect(next.result).toBe(2);
}, { args: { timeoutMs: 600, session: 'flood' } });
rows.push({
  category: 'exhaustion',
  name: 'after an interrupted microtask flood the next sessionless run works (12 tries)',
  // fixed (regression row): 'after a microtask flood is interrupted, disposing its QuickJS runtime sometimes (always in a fresh process once the flood ran ~0.5 s or more; 3 of 5 in a row through the server) aborts on the same `list_empty(&rt->gc_obj_list)` assertion in JS_FreeRuntime; worker.ts disposes the old runtime at the start of the next sessionless run on that worker, so that innocent run fails with E_INTERNAL "the runtime failed: RuntimeError". worker.ts should not let a failed dispose fail the next caller (and should retire a worker whose WebAssembly module aborted).',
  run: async (h) => {
    for (let i = 0; i < 12; i++) {
      timedOut(await h.run('const f = () => Promise.resolve().then(f); f(); 1', { timeoutMs: 1000 }));
      const next = await h.run('1 + 1');
      expect(next.exitCode, `try ${i + 1}: ${brief(next)}`).toBe(0);
    }
  },
});
add('exhaustion', 'a setInterval storm stops with 124 and its timers die with the run', 'for (let i = 0; i < 1000; i++) setInterval(() => {}, 0); 1', timedOut, { args: { timeoutMs: 600 } });
add('exhaustion', 'at most 10,000 pending timers; the rest are refused without a crash', "const ids = []; let refused = 0; for (let i = 0; i < 10050; i++) { try { const t = setTimeout(() => {}, 1e9); if (typeof t === 'number') ids.push(t); else refused++; } catch (e) { refused++; } } for (const id of ids) clearTimeout(id); refused", okWith(50), {
  // ~0.8 s on an idle machine (each host call costs quickjs-emscripten ~16 µs): give it 3 s, not 1.5.
  server: 'lowmem',
});
add('exhaustion', 'absurd timer delays are clamped, not trusted', "const t0 = Date.now(); await new Promise((r) => setTimeout(r, -1e300)); await new Promise((r) => setTimeout(r, NaN)); Date.now() - t0 < 500", okWith(true));
add('exhaustion', 'a timer delay past 2^31-1 ms fires at once, as in Node (never a hang)', 'let fired = false; setTimeout(() => { fired = true; }, 1e12); await new Promise((r) => setTimeout(r, 5)); fired', okWith(true), { args: { timeoutMs: 2000 } });
add('exhaustion', 'a timer that never fires within the limit ends in 124, not a hang', 'setTimeout(() => {}, 2 ** 31 - 1); 1', timedOut, { args: { timeoutMs: 600 } });
add('exhaustion', 'a promise that can never settle is reported, not waited on', 'await new Promise(() => {})', guestError());
add('exhaustion', 'while (1) in a getter of the result is never run', '({ get x() { while (1) {} }, y: 1 })', (r) => {
  ok(r);
  expect(r.result).toEqual({ y: 1 });
});
add('exhaustion', 'while (1) in toString of a printed object is never run', 'console.log({ toString() { while (1) {} } }, [{ toString() { while (1) {} } }]); 1', (r) => {
  ok(r);
  expect(r.stdout).toBe('{"toString":[Function: toString]} [{"toString":[Function: toString]}]\n');
});
add('exhaustion', 'a Proxy result with an endless ownKeys trap stops with 124', 'new Proxy({}, { ownKeys() { while (1) {} } })', timedOut, { args: { timeoutMs: 600 } });
add('exhaustion', 'recursion between console.log and a Proxy trap ends within the limit', 'const p = new Proxy({}, { ownKeys() { console.log(p); return []; } }); console.log(p); 1', (r) => {
  exitIs(r, 1, 124);
}, { args: { timeoutMs: 600 } });
add('exhaustion', 'very deep recursion is a guest stack overflow (exit 1), not a crash', 'function f() { return f() + 1; } f()', (r) => {
  guestError('InternalError')(r);
  expect(r.error!.message).toMatch(/stack overflow/);
});
add('exhaustion', 'unbounded recursion through a Proxy get trap is a guest error', 'const p = new Proxy({}, { get(t, k, r) { return r[k]; } }); p.x', guestError());
add('exhaustion', 'a 10 MB string result is omitted with a note (or stopped at the limit on a busy machine)', "'x'.repeat(10 * 1024 * 1024)", (r) => {
  exitIs(r, 0, 124);
  expect(r).not.toHaveProperty('result');
  if (r.exitCode === 0) expect(r.stderr).toContain('result omitted');
});
add('exhaustion', 'a cyclic result is omitted with a note', 'const o = { a: 1 }; o.self = o; o', (r) => {
  ok(r);
  expect(r).not.toHaveProperty('result');
  expect(r.stderr).toContain('result omitted');
});
add('exhaustion', 'a result with 1e5 keys is omitted with a note', "const o = {}; for (let i = 0; i < 1e5; i++) o['k' + i] = i; o", (r) => {
  ok(r);
  expect(r).not.toHaveProperty('result');
  expect(r.stderr).toContain('result omitted');
});
add('exhaustion', 'a result with 1e6 keys is omitted with a note, or the run stops at its limit', "const o = {}; for (let i = 0; i < 1e6; i++) o['k' + i] = i; o", (r) => {
  exitIs(r, 0, 124);
  expect(r).not.toHaveProperty('result');
  if (r.exitCode === 0) expect(r.stderr).toContain('result omitted');
});
add('exhaustion', 'a result DAG with 2^40 paths is omitted or stopped, never walked to the end', 'let o = { leaf: 1 }; for (let i = 0; i < 40; i++) o = { a: o, b: o }; o', (r) => {
  exitIs(r, 0, 124);
  expect(r).not.toHaveProperty('result');
});
add('exhaustion', 'printing a DAG with 2^40 paths is bounded', 'let o = { leaf: 1 }; for (let i = 0; i < 40; i++) o = { a: o, b: o }; console.log(o); 1', (r) => {
  exitIs(r, 0, 124);
  expect(Buffer.byteLength(r.stdout)).toBeLessThan(70_000);
});
add('exhaustion', 'an output flood is capped and the run completes', "const s = 'x'.repeat(1000); for (let i = 0; i < 5000; i++) console.log(s); 'done'", (r) => {
  okWith('done')(r);
  expect(r.stdoutTruncated).toBe(true);
  expect(Buffer.byteLength(r.stdout)).toBe(CAP);
});
add('exhaustion', 'console.log with 65,000 arguments', "console.log(...new Array(65000).fill('a')); 1", (r) => {
  ok(r);
  expect(r.stdoutTruncated).toBe(true);
});
add('exhaustion', 'a huge BigInt is refused by the engine', '2n ** (2n ** 40n)', guestError('RangeError'));
add('exhaustion', 'a 4 GiB array fill is stopped by the memory limit', 'new Array(2 ** 32 - 1).fill(0)', memoryStopped, { server: 'lowmem' });
add('exhaustion', 'an allocation loop of 1 MiB buffers is stopped by the memory limit', 'const keep = []; for (;;) keep.push(new Uint8Array(1 << 20))', memoryStopped, { server: 'lowmem' });
add('exhaustion', 'an allocation loop of small objects is stopped by the memory limit', 'const a = []; for (;;) a.push({ i: a.length })', memoryStopped, { server: 'lowmem' });
add('exhaustion', 'Array.from({length: 1e8}) is stopped by the memory limit', 'Array.from({ length: 1e8 }).length', memoryStopped, { server: 'lowmem' });
add('exhaustion', 'JSON.parse of a 10 MB array is stopped by the memory limit', "JSON.parse('[' + '1,'.repeat(5e6) + '1]').length", memoryStopped, { server: 'lowmem' });
add('exhaustion', 'an allocation loop inside a setTimeout callback is stopped by the memory limit', 'setTimeout(() => { const a = []; for (;;) a.push([a.length]); }, 0); 1', memoryStopped, { server: 'lowmem' });
add('exhaustion', 'string doubling is stopped (engine limit or memory limit)', "let s = 'x'; for (;;) s += s", (r) => exitIs(r, 1, 137), { server: 'lowmem' });
add('exhaustion', 'a 2 GiB ArrayBuffer is refused', 'new ArrayBuffer(2 ** 31)', (r) => exitIs(r, 1, 137), { server: 'lowmem' });
add('exhaustion', "'x'.repeat(2 ** 30) is refused", "'x'.repeat(2 ** 30)", (r) => exitIs(r, 1, 137), { server: 'lowmem' });
add('exhaustion', 'printing an 8 MiB string under a 32 MiB limit is capped, not fatal', "const s = 'x'.repeat(2 ** 23); console.log(s); s.length", (r) => {
  okWith(2 ** 23)(r);
  expect(r.stdoutTruncated).toBe(true);
}, { server: 'lowmem' });
add('exhaustion', 'a memory-limited session starts fresh and says so', 'var k2 = 1; const a = []; for (;;) a.push(new Uint8Array(1 << 20))', async (r, h) => {
  memoryStopped(r);
  const next = await h.run('typeof k2', { session: 'oom-notice' });
  if (r.exitCode === 137) {
    expect(next.result).toBe('undefined');
    expect(next.stderr).toContain('earlier state was lost');
  } else expect(next.exitCode).toBe(0);
}, { server: 'lowmem', args: { session: 'oom-notice' } });
add('exhaustion', 'a memory limit hit by small allocations is reported as a limit, not an internal error', 'let l = null; for (;;) l = [l, l]', memoryStopped, {
  server: 'lowmem',
  // fixed (regression row): 'quickjs.ts errorOutcome(): describing the thrown value needs memory in the exhausted runtime (newString, callFunction of the describing helper). When memory ran out by small allocations those calls fail, read() gives up, and the "out of memory" InternalError is never recognised: the run is reported as exit 1 / E_GUEST_ERROR {type: "Error", message: ""} instead of 137 / E_MEMORY_LIMIT (at bc7dc3e, where the helper was still compiled lazily, it was E_INTERNAL "the runtime failed: QuickJSUnwrapError"). Checking for the OOM before calling into the guest realm would fix it.',
});
add('exhaustion', 'an out-of-memory inside a promise job is reported (137) and its runtime is discarded', "var kept = 'yes'; Promise.resolve().then(() => { const a = []; for (;;) a.push([a.length]); }); 1", async (r, h) => {
  // Strictly 137: a loaded machine that hits the time limit first must not make this row pass by chance.
  expect(r.exitCode, brief(r)).toBe(137);
  const next = await h.run('typeof kept', { session: 'job-oom' });
  expect(next.result).toBe('undefined');
}, {
  server: 'fragileLowmem',
  args: { session: 'job-oom' },
  bug: 'quickjs.ts drive(): an exception thrown inside a promise job (here QuickJS\'s "out of memory") only rejects that job\'s promise and is dropped, so a run that hit its memory limit ends with exit 0 and the session keeps using the runtime, against SECURITY.md ("a runtime that hit it is discarded, never reused").',
});
add('exhaustion', 'deeply nested source (100,000 brackets) is a guest error, not an internal one', `x = ${'['.repeat(100_000)}${']'.repeat(100_000)}`, (r) => {
  expect(r.exitCode, brief(r)).toBe(1);
  expect(r.error!.code).not.toBe('E_INTERNAL');
}, {
  // fixed (regression row): 'the QuickJS parser recurses on the WebAssembly (native) stack, so deep nesting overflows V8\'s stack and a host RangeError escapes evalCode in quickjs.ts evaluate(); worker.ts turns it into E_INTERNAL "the runtime failed: RangeError" — a server-internal code for a guest input.',
});
add('exhaustion', 'filling the guest filesystem hits the session quota, not the host disk', "if (typeof fs === 'undefined') throw new Error('no fs'); for (let i = 0; i < 1000; i++) fs.writeFileSync('/tmp/f' + i, new Uint8Array(1 << 20)); 'wrote'", (r) => {
  exitIs(r, 1, 137);
  if (r.exitCode === 1) expect(r.error!.message).toMatch(/ENOSPC|quota/);
});
add('exhaustion', 'a path 2000 levels deep is refused', "if (typeof fs === 'undefined') throw new Error('no fs'); fs.mkdirSync('/tmp/' + 'd/'.repeat(2000), { recursive: true }); 'made'", guestError('Error'));
add('exhaustion', 'a code larger than the policy allows is refused before it runs', () => `/*${'x'.repeat(1_048_577)}*/ 1`, (r) => {
  expect(r.exitCode).toBe(1);
  expect(r.error!.code).toBe('E_INVALID_INPUT');
});

// ======================================================================================================
// protocol-smuggling: guest output that looks like (or breaks) the MCP stream, or the host IPC
// ======================================================================================================

const RPC_A = '{"jsonrpc":"2.0","id":1,"result":{}}';
const RPC_B = '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}';

add('protocol-smuggling', 'JSON-RPC text on stdout stays inside the stdout field', `console.log(${JSON.stringify(`${RPC_A}\n${RPC_B}`)}); 1`, (r) => {
  ok(r);
  expect(r.stdout).toBe(`${RPC_A}\n${RPC_B}\n`);
});
add('protocol-smuggling', 'JSON-RPC text on stderr stays inside the stderr field', `console.error(${JSON.stringify(`\n${RPC_A}\n`)}); 1`, (r) => {
  ok(r);
  expect(r.stderr).toBe(`\n${RPC_A}\n`);
});
add('protocol-smuggling', 'JSON-RPC text as the result stays a string', JSON.stringify(`${RPC_A}\n`), okWith(`${RPC_A}\n`));
add('protocol-smuggling', 'JSON-RPC text in error name and message stays in the error', `throw { name: ${JSON.stringify(RPC_A)}, message: ${JSON.stringify(`\n${RPC_B}\n`)} }`, (r) => {
  expect(r.exitCode).toBe(1);
  expect(r.error).toMatchObject({ type: RPC_A, message: `\n${RPC_B}\n` });
});
add('protocol-smuggling', 'a Content-Length framing header in the output is just text', `console.log(${JSON.stringify(`Content-Length: 37\r\n\r\n${RPC_A}`)}); 1`, (r) => {
  ok(r);
  expect(r.stdout).toBe(`Content-Length: 37\r\n\r\n${RPC_A}\n`);
});
add('protocol-smuggling', 'terminal escapes, CR, U+2028/U+2029 pass through verbatim', String.raw`console.log('\u001b[2J\u001b]0;pwned\u0007\r\u2028\u2029end'); 1`, (r) => {
  ok(r);
  expect(r.stdout).toBe('\u001b[2J\u001b]0;pwned\u0007\r\u2028\u2029end\n');
});
add('protocol-smuggling', 'lone surrogates in output are replaced; in the result they survive as JSON escapes', String.raw`console.log('a\ud800b\udfffc'); console.error('\udc00'); 'x\ud800y'`, (r) => {
  ok(r);
  wellFormed(r.stdout);
  wellFormed(r.stderr);
  expect(r.stdout).toMatch(/^a\ufffd+b\ufffd+c\n$/);
  expect(r.result).toBe('x\ud800y');
});
add('protocol-smuggling', 'NUL in the result survives', String.raw`'c\u0000d'`, okWith('c\u0000d'));
add('protocol-smuggling', 'NUL in printed output survives', String.raw`console.log('a\u0000b'); console.error('c\u0000d'); 1`, (r) => {
  ok(r);
  expect(r.stdout).toBe('a\u0000b\n');
  expect(r.stderr).toBe('c\u0000d\n');
}, {
  // fixed (regression row): 'quickjs.ts formatArgs(): context.getString() goes through a NUL-terminated C string, so console.log/console.error drop everything after the first U+0000 ("a\\u0000b" prints "a"). The same cut hits error messages read by errorOutcome().',
});
add('protocol-smuggling', 'a 2 MB single line is cut exactly at the cap', "console.log('y'.repeat(2e6)); 1", (r) => {
  ok(r);
  expect(r.stdoutTruncated).toBe(true);
  expect(Buffer.byteLength(r.stdout)).toBe(CAP);
  expect(r.stdout).toMatch(/^y+$/);
});
add('protocol-smuggling', 'multi-byte output is cut on a character boundary', "console.log('€'.repeat(40000)); 1", (r) => {
  ok(r);
  expect(r.stdoutTruncated).toBe(true);
  expect(r.stdout).toMatch(/^€+$/);
  expect(Buffer.byteLength(r.stdout)).toBeLessThanOrEqual(CAP);
  expect(Buffer.byteLength(r.stdout)).toBeGreaterThan(CAP - 3);
});
add('protocol-smuggling', '100,000 newlines are just capped text', "console.log('\\n'.repeat(100000)); 1", (r) => {
  ok(r);
  expect(r.stdout).toMatch(/^\n+$/);
  expect(r.stdoutTruncated).toBe(true);
});
add('protocol-smuggling', 'a stderr flood caught in a loop is capped', "for (let i = 0; i < 5000; i++) { try { console.error('e'.repeat(100)); } catch {} } 'done'", (r) => {
  okWith('done')(r);
  expect(r.stderrTruncated).toBe(true);
  expect(Buffer.byteLength(r.stderr)).toBeLessThanOrEqual(CAP);
});
add('protocol-smuggling', 'result keys with quotes, newlines and line separators round-trip', String.raw`({ 'a"\n}{': 1, '\u2028': 2, '': 3 })`, okWith({ 'a"\n}{': 1, '\u2028': 2, '': 3 }));
add('protocol-smuggling', 'a __proto__ key in the result arrives as data and pollutes nothing', `JSON.parse('{"__proto__": {"polluted": true}, "a": 2}')`, async (r, h) => {
  ok(r);
  // An own key of the result, as the guest made it: neither dropped on the way nor made a prototype.
  expect(JSON.stringify(r.result)).toBe('{"__proto__":{"polluted":true},"a":2}');
  expect(Object.hasOwn(r.result, 'polluted')).toBe(false);
  expect(({} as any).polluted).toBeUndefined();
  const next = await h.run('({ b: 1 })');
  expect(next.result).toEqual({ b: 1 });
});
add('protocol-smuggling', 'a session name with a newline is refused, nothing runs', '1', (r) => {
  expect(r.raw.isError).toBe(true);
  expect(JSON.stringify(r.raw.content)).toMatch(/session/);
}, { args: { session: 'a\nb' }, refused: true });
add('protocol-smuggling', 'a string timeoutMs is refused', '1', (r) => {
  expect(r.raw.isError).toBe(true);
  expect(JSON.stringify(r.raw.content)).toMatch(/timeoutMs/);
}, { args: { timeoutMs: '1000' }, refused: true });
add('protocol-smuggling', 'code given as an array is refused', undefined, (r) => {
  expect(r.raw.isError).toBe(true);
  expect(JSON.stringify(r.raw.content)).toMatch(/code/);
}, { args: { code: ['1 + 1'] }, refused: true });
add('protocol-smuggling', 'an error name longer than 200 characters does not break the host channel', "throw { name: 'N'.repeat(300), message: 'm' }", (r) => {
  expect(r.exitCode, brief(r)).toBe(1);
  expect(r.error!.code).toBe('E_GUEST_ERROR');
}, {
  // fixed (regression row): 'quickjs.ts clip() cuts to `max` characters and then appends "…", giving max+1; the front validates host messages with GuestErrorWire (type ≤ 200, message ≤ 65,536 characters), rejects the whole result as malformed, kills the sandbox host (sandbox-client.ts, HostMessage.safeParse failure) and fails the call with E_PROTOCOL — every other session loses its state.',
});
add('protocol-smuggling', 'a 70,000-character thrown string does not kill the sandbox host', "throw 'x'.repeat(70000)", async (r, h) => {
  expect(r.exitCode, brief(r)).toBe(1);
  expect(r.error!.code).toBe('E_GUEST_ERROR');
  expect(r.error!.message.length).toBeLessThanOrEqual(65_536);
  const other = await h.run('typeof survivor', { session: 'bystander' });
  expect(other.result).toBe('string');
}, {
  before: [{ code: "var survivor = 'yes'", session: 'bystander' }],
  // fixed (regression row): 'same clip() off-by-one as above, on the message (65,536 + "…" > GuestErrorWire max): the host is killed and the bystander session loses its state.',
});

// ======================================================================================================
// realm-poisoning: the guest rewrites its own built-ins; the host's helpers must not care
// ======================================================================================================

const TOUCH = 'globalThis.touched = 0; const touch = () => { globalThis.touched++; };';

add('realm-poisoning', 'Object.prototype setters/getters for descriptor fields do not affect printing or the result', `${TOUCH}
  for (const k of ['value', 'get', 'set', 'enumerable', 'writable', 'configurable', 'toJSON', 'length', '0']) Object.defineProperty(Object.prototype, k, { __proto__: null, get() { touch(); return undefined; }, set() { touch(); }, configurable: true });
  console.log({ a: 1 }, [1, 2]);
  ({ a: [1, { b: 'c' }], touched })`, (r) => {
  okWith({ a: [1, { b: 'c' }], touched: 0 })(r);
  expect(r.stdout).toBe('{"a":1} [1,2]\n');
});
add('realm-poisoning', 'poisoned Array.prototype (push, join, map, iterator, index setters) does not affect printing or the result', `${TOUCH}
  for (const k of ['push', 'join', 'map', 'forEach', 'slice', 'concat']) Array.prototype[k] = function () { touch(); return []; };
  Array.prototype[Symbol.iterator] = function* () { touch(); };
  Object.defineProperty(Array.prototype, '0', { __proto__: null, set() { touch(); }, get() { touch(); }, configurable: true });
  console.log([1, [2]]); ({ list: [1, 2, 3], touched })`, (r) => {
  okWith({ list: [1, 2, 3], touched: 0 })(r);
  expect(r.stdout).toBe('[1,[2]]\n');
});
add('realm-poisoning', 'replaced JSON.stringify / JSON.parse are not used by the host', `${TOUCH} JSON.stringify = () => { touch(); return '"pwn"'; }; JSON.parse = () => { touch(); return 'pwn'; }; console.log({ a: 1 }); ({ a: 1, s: 'x' })`, (r) => {
  okWith({ a: 1, s: 'x' })(r);
  expect(r.stdout).toBe('{"a":1}\n');
});
add('realm-poisoning', 'replaced Function.prototype.call/apply/bind and Reflect are not used by the host', `${TOUCH} Function.prototype.call = Function.prototype.apply = Function.prototype.bind = function () { touch(); throw new Error('pwn'); }; Reflect.apply = Reflect.ownKeys = () => { touch(); return []; }; console.log([new Date(0)]); ({ d: new Date(0), n: 1 })`, (r) => {
  okWith({ d: '1970-01-01T00:00:00.000Z', n: 1 })(r);
  expect(r.stdout).toBe('["1970-01-01T00:00:00.000Z"]\n');
});
add('realm-poisoning', 'replaced Object.getOwnPropertyNames / Object.keys / Array.isArray are not used for the result', `Object.getOwnPropertyNames = Object.keys = () => ['pwn']; Array.isArray = () => false; ({ a: [1] })`, okWith({ a: [1] }));
add('realm-poisoning', 'replaced Date.prototype.toISOString / getTime are not used for the result', `Date.prototype.toISOString = () => 'pwn'; Date.prototype.getTime = () => 0; ({ d: new Date(86400000) })`, okWith({ d: '1970-01-02T00:00:00.000Z' }));
add('realm-poisoning', 'String.prototype poisoning does not affect printing', `for (const k of ['slice', 'replace', 'concat', 'toString', 'endsWith', 'charCodeAt']) String.prototype[k] = () => 'pwn'; console.log('plain', 'text'); 1`, (r) => {
  ok(r);
  expect(r.stdout).toBe('plain text\n');
});
add('realm-poisoning', 'Object.prototype.then does not turn the result into a thenable', "let called = false; Object.prototype.then = function (res) { called = true; res('pwn'); }; ({ a: 1 })", okWith({ a: 1 }));
add('realm-poisoning', 'an endless Promise.prototype.then does not stall the host', 'Promise.prototype.then = function () { while (1) {} }; 1', okWith(1));
add('realm-poisoning', 'a Proxy as prototype of the global object does not trap the host', 'Object.setPrototypeOf(globalThis, new Proxy({}, { get() { while (1) {} }, has() { while (1) {} } })); console.log({ a: 1 }); 2', (r) => {
  okWith(2)(r);
  expect(r.stdout).toBe('{"a":1}\n');
});
add('realm-poisoning', 'frozen intrinsics do not break printing or the result', 'Object.freeze(Object.prototype); Object.freeze(Array.prototype); Object.freeze(Function.prototype); console.log([1, { a: 2 }]); ({ a: [1] })', (r) => {
  okWith({ a: [1] })(r);
  expect(r.stdout).toBe('[1,{"a":2}]\n');
});
add('realm-poisoning', 'a looping getter on Error.prototype.name is never run: the error is described, no hang', "Object.defineProperty(Error.prototype, 'name', { get() { while (1) {} } }); throw new Error('m')", (r) => {
  // Until the cell's evaluation stopped reading the thrown error's name with getProp, this ran the getter (124).
  guestError('Error')(r);
  expect(r.error!.message).toBe('m');
}, { args: { timeoutMs: 600 } });
add('realm-poisoning', 'a replaced global Error does not change how a TypeError is described', "globalThis.Error = function () { while (1) {} }; null.x", guestError('TypeError'));
add('realm-poisoning', 'deleting console and the timers only affects the guest', 'delete globalThis.console; delete globalThis.setTimeout; typeof console', okWith('undefined'));
add('realm-poisoning', 'a poisoned Object.getOwnPropertyDescriptor cannot forge how a real TypeError is reported', "Object.getOwnPropertyDescriptor = () => ({ value: 'forged' }); null.x", (r) => {
  // Regression: at bc7dc3e the describing helper was compiled lazily, after guest code, and reported "forged".
  guestError('TypeError')(r);
  expect(r.error!.traceback ?? '').not.toContain('forged');
});
add('realm-poisoning', 'a timeout inside the error description is still a timeout (124)', 'throw new Proxy({}, { getOwnPropertyDescriptor() { while (1) {} } })', timedOut, {
  args: { timeoutMs: 600 },
  // fixed (regression row): 'quickjs.ts errorOutcome() checks `this.interrupted` only on entry; when the deadline passes while it reads the thrown value (here a Proxy trap run by the describing helper), the interrupted read is ignored and the run is reported as exit 1 / E_GUEST_ERROR {type: "Error", message: ""} after the full time limit.',
});

// ======================================================================================================
// info-leak: nothing of the host in errors, tracebacks, output or the realm itself
// ======================================================================================================

add('info-leak', 'a stack overflow traceback names only user frames, and not thousands of them', 'function deep() { return deep(); } deep()', (r) => {
  guestError('InternalError')(r);
  userFramesOnly(r.error!.traceback);
  // It was ~64 KB of the same frame, twice in the answer.
  expect(r.error!.traceback!.split('\n').length).toBeLessThanOrEqual(46);
  expect(r.error!.traceback).toMatch(/\.\.\. \d+ more frames/);
});
add('info-leak', 'a syntax error names only main.js', 'let = ;', (r) => {
  guestError('SyntaxError')(r);
  userFramesOnly(r.error!.traceback);
});
add('info-leak', 'an error thrown in a timer callback names only user frames', "setTimeout(() => { null.boom; }, 0); 1", (r) => {
  guestError('TypeError')(r);
  userFramesOnly(r.error!.traceback);
});
add('info-leak', 'an error thrown in a promise job of an awaited cell names only user frames', "await Promise.resolve().then(() => { try { null.boom; } catch (e) { return e.stack; } })", (r) => {
  ok(r);
  userFramesOnly(r.result);
});
add('info-leak', 'a stack captured inside the host-side formatter shows no host paths', 'let st; console.log(new Proxy({}, { ownKeys() { st = new Error().stack; return []; } })); st', (r) => {
  ok(r);
  userFramesOnly(r.result);
});
add('info-leak', 'an error printed by console.log shows no host paths', "console.log(new Error('printed')); console.error(new TypeError('printed too')); 1", (r) => {
  ok(r);
  expect(r.stdout).toContain('Error: printed');
});
add('info-leak', 'host functions print as native code', '[String(console.log), String(setTimeout), Function.prototype.toString.call(clearInterval)]', (r) => {
  ok(r);
  for (const s of r.result) expect(s).toMatch(/\[native code\]/);
});
add('info-leak', 'setTimeout() without a callback gives a guest error, not a host exception text', "let m; try { const r = setTimeout(); m = r && r.message; } catch (e) { m = e.message; } m", (r) => {
  ok(r);
  expect(r.result).not.toMatch(/Cannot read prop|reading 'owner'|undefined \(reading/);
}, {
  // fixed (regression row): "quickjs.ts installTimers(): `add` calls `vm.typeof(fn)` on an absent argument; quickjs-emscripten's assertOwned() then throws a host TypeError (\"Cannot read properties of undefined (reading 'owner')\") whose message is copied into the guest as the thrown error — a host exception text inside the guest realm, and not the intended 'callback must be a function'.",
});
add('info-leak', 'no host environment: no process.env, no env-like strings', "[typeof process, typeof globalThis.env, typeof globalThis.ENV]", okWith(['undefined', 'undefined', 'undefined']));
add(
  'info-leak',
  'every string reachable from globalThis is free of host paths, hostname and environment values',
  `const seen = new Set(), strings = [], stack = [globalThis];
   while (stack.length && seen.size < 50000) {
     const o = stack.pop();
     if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
     seen.add(o);
     if (typeof o === 'function') { try { strings.push(Function.prototype.toString.call(o)); } catch {} }
     let keys = []; try { keys = Reflect.ownKeys(o); } catch {}
     for (const k of keys) {
       strings.push(typeof k === 'symbol' ? String(k.description) : k);
       let d; try { d = Object.getOwnPropertyDescriptor(o, k); } catch { continue; }
       if (!d) continue;
       if ('value' in d) { if (typeof d.value === 'string') strings.push(d.value); else stack.push(d.value); }
       else { stack.push(d.get); stack.push(d.set); }
     }
     try { stack.push(Object.getPrototypeOf(o)); } catch {}
   }
   const text = [...new Set(strings)].join('\\n');
   console.log(text); text.length`,
  (r) => {
    ok(r);
    expect(r.stdoutTruncated).toBe(false);
    expect(r.result).toBeGreaterThan(1000);
  },
);
add('info-leak', 'a relative dynamic import does not reveal the working directory', "await import('./secret.js').then(() => 'loaded', (e) => 'refused: ' + e.message)", (r) => {
  ok(r);
  expect(r.result).toMatch(/^refused/);
  expect(r.result).not.toMatch(/\/work|\/root|\/home|\/tmp/);
});
add('info-leak', 'timeout and memory errors carry no internals', 'while (true) {}', (r) => {
  timedOut(r);
  expect(r.error!.message).toBe('the run exceeded its 600 ms time limit');
  expect(r.error!.traceback).toBeUndefined();
}, { args: { timeoutMs: 600 } });
add('info-leak', 'a memory-limit error carries no internals', 'const keep = []; for (;;) keep.push(new Uint8Array(1 << 20))', (r) => {
  memoryStopped(r);
  expect(r.error!.message).toBe(r.exitCode === 137 ? 'the run exceeded its memory limit' : 'the run exceeded its 3000 ms time limit');
  expect(r.error!.traceback).toBeUndefined();
}, { server: 'lowmem' });
add('info-leak', 'Date and Math reveal nothing host-specific beyond the clock', '[typeof Date.now(), typeof Math.random(), typeof globalThis.Intl]', (r) => {
  ok(r);
  expect(r.result.slice(0, 2)).toEqual(['number', 'number']);
});

// ======================================================================================================
// isolation: sessions and sessionless runs do not see or disturb each other
// ======================================================================================================

add('isolation', "a session's globals are invisible to another session", 'typeof secret', okWith('undefined'), {
  before: [{ code: "var secret = 'alice-only'", session: 'iso-alice' }],
  args: { session: 'iso-bob' },
});
add('isolation', 'session names are case-sensitive: Alice is not alice', 'typeof secret', okWith('undefined'), {
  before: [{ code: "var secret = 'lower'", session: 'iso-case' }],
  args: { session: 'ISO-CASE' },
});
add('isolation', "a session's poisoned prototypes do not reach another session", "[({}).polluted, typeof JSON.stringify({ a: 1 }), JSON.stringify([1, 2])]", okWith([null, 'string', '[1,2]']), {
  before: [{ code: "Object.prototype.polluted = 'yes'; JSON.stringify = () => 'pwn'; Array.prototype.join = () => 'pwn';", session: 'iso-poisoner' }],
  args: { session: 'iso-victim' },
});
add('isolation', "a session's poisoned prototypes do not reach a sessionless run", "[typeof ({}).polluted, typeof console.log]", okWith(['undefined', 'function']), {
  before: [{ code: "Object.prototype.polluted = 'yes'; console.log = null;", session: 'iso-poisoner2' }],
});
add('isolation', 'a sessionless run leaves nothing for the next sessionless run', "[typeof leaked, typeof ({}).polluted]", okWith(['undefined', 'undefined']), {
  before: [{ code: "globalThis.leaked = 1; Object.prototype.polluted = 1;" }],
});
add('isolation', 'the global names of a fresh session are exactly those of a sessionless run', 'Reflect.ownKeys(globalThis).map(String).sort().join()', async (r, h) => {
  ok(r);
  const baseline = await h.run('Reflect.ownKeys(globalThis).map(String).sort().join()');
  expect(r.result).toBe(baseline.result);
}, {
  before: [{ code: "var secretA = 1; globalThis.secretB = 2;", session: 'iso-names-a' }],
  args: { session: 'iso-names-b' },
});
add('isolation', 'timers of an interrupted run never fire later in the session', "await new Promise((r) => setTimeout(r, 700)); typeof late", okWith('undefined'), {
  before: [{ code: 'setTimeout(() => { globalThis.late = true; }, 300); while (true) {}', session: 'iso-timers' }],
  args: { session: 'iso-timers' },
});
add('isolation', 'a FinalizationRegistry of one session never calls back into another', "for (let i = 0; i < 1e5; i++) ({}); await new Promise((r) => setTimeout(r, 20)); typeof fin", okWith('undefined'), {
  before: [{ code: "new FinalizationRegistry(() => { globalThis.fin = 1; }).register({}, 0); 1", session: 'iso-fin-a' }],
  args: { session: 'iso-fin-b' },
});
add('isolation', 'a session keeps its state across a soft timeout; other sessions are unaffected', 'survivor', okWith('yes'), {
  before: [
    { code: "var survivor = 'yes'", session: 'iso-tmo' },
    { code: 'while (true) {}', session: 'iso-tmo' },
  ],
  args: { session: 'iso-tmo' },
});
rows.push({
  category: 'isolation',
  name: 'reset_session drops only the named session',
  run: async (h) => {
    await h.run("var keepMe = 'k'", { session: 'iso-keep' });
    await h.run("var dropMe = 'd'", { session: 'iso-drop' });
    const reset = await h.srv.call('reset_session', { session: 'iso-drop' });
    expect(reset.structuredContent).toEqual({ session: 'iso-drop', existed: true });
    expect((await h.run('typeof keepMe', { session: 'iso-keep' })).result).toBe('string');
    expect((await h.run('typeof dropMe', { session: 'iso-drop' })).result).toBe('undefined');
    await h.srv.call('reset_session', { session: 'iso-keep' });
    await h.srv.call('reset_session', { session: 'iso-drop' });
  },
});
rows.push({
  category: 'isolation',
  name: 'a spinning session does not delay another session',
  run: async (h) => {
    let spinnerDone = false;
    const spinner = h.run('while (true) {}', { session: 'iso-spin', timeoutMs: 1500 }).finally(() => (spinnerDone = true));
    await new Promise((r) => setTimeout(r, 100));
    const quick = await h.run('6 * 7', { session: 'iso-quick' });
    expect(quick.result).toBe(42);
    expect(spinnerDone, 'the quick session had to wait for the spinning one').toBe(false);
    timedOut(await spinner);
    await h.srv.call('reset_session', { session: 'iso-spin' });
    await h.srv.call('reset_session', { session: 'iso-quick' });
  },
});
rows.push({
  category: 'isolation',
  name: "a session that hits the memory limit does not touch another session's state",
  server: 'lowmem',
  run: async (h) => {
    await h.run("var mine = 'intact'", { session: 'iso-mem-b' });
    memoryStopped(await h.run('const k = []; for (;;) k.push(new Uint8Array(1 << 20))', { session: 'iso-mem-a' }));
    const b = await h.run('mine', { session: 'iso-mem-b' });
    expect(b.result).toBe('intact');
    expect(b.stderr).toBe('');
  },
});
// Regression rows: at a0bd2e1/11b42f9 quickjs.ts drive() evaluated `getPromiseState(promise).type === 'pending'` on a
// settled promise and never disposed the value handle; when the value was an object, disposing the runtime aborted
// QuickJS (`list_empty(&rt->gc_obj_list)`) and the NEXT sessionless run on that worker failed with E_INTERNAL.
add('isolation', 'an awaited cell whose value is an object does not break the next sessionless run', 'await 0; const o = { a: 1 }; o', async (r, h) => {
  okWith({ a: 1 })(r);
  const next = await h.run('1 + 1');
  expect(next.exitCode, brief(next)).toBe(0);
  expect(next.result).toBe(2);
});
add('isolation', 'a rejected promise as the completion value does not break the next sessionless run', "Promise.reject(new Error('rejected'))", async (r, h) => {
  guestError('Error')(r);
  const next = await h.run('1 + 1');
  expect(next.exitCode, brief(next)).toBe(0);
  expect(next.result).toBe(2);
});
rows.push({
  category: 'isolation',
  name: 'after the sandbox host was restarted for misbehaving, the very next call works',
  server: 'fragile',
  // fixed (regression row): 'sandbox-client.ts: on a malformed host message the front calls child.kill(\'SIGKILL\') but keeps `this.child` (and the resolved `this.starting`) until the \'exit\' event; a call arriving in between is sent to the dying host and then failed by failAll() with E_SANDBOX_CRASHED. Triggered here through the clip() defect above; reproduces in most of the 8 attempts.',
  run: async (h) => {
    const failures: string[] = [];
    for (let i = 0; i < 8; i++) {
      await h.run("throw { name: 'N'.repeat(300) }");
      const next = await h.run('1 + 1');
      if (next.result !== 2) failures.push(next.error?.code ?? 'no result');
    }
    expect(failures).toEqual([]);
  },
});

defineCorpus({ label: 'js-corpus', tool: 'run_js', rows, minRows: 80, serverArgs: SERVER_ARGS, cap: CAP, probe: { code: '1 + 1', result: 2 } });
