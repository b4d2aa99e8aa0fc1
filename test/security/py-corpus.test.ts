/**
 * Adversarial corpus for run_python, through the BUILT server over stdio (issue 8 part 1, issue 3's routes).
 *
 * One row per attack, grouped by category. Every row asserts its own safe outcome, the invariants every
 * result must keep (isError ⇔ exitCode ≠ 0, caps, text block = structuredContent, no host path, hostname,
 * environment value or canary content in anything the guest gets back) and that the server answers the
 * next call (`1 + 1` → 2, sessionless, so on a fresh interpreter). After the whole corpus: the canary file
 * was neither read nor changed, the key directories are unchanged, each server still has one sandbox host,
 * no connection reached the test's loopback listener, and every byte on stdout is JSON-RPC.
 * The machinery is shared with the JS corpus (test/helpers/corpus.ts).
 *
 * Many escape rows first take the `python` hardening layer away (UNBLOCK: the import blocker removed from
 * sys.meta_path), as a determined guest can: they prove that the layers below it hold on their own.
 *
 * Rows marked `bug` reproduce confirmed defects of src/ and run as `it.fails` on a server of their own.
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
  type Harness,
  type Outcome,
  type Target,
} from '../helpers/corpus.js';

const CAP = 65_536;
const CAPS = ['--max-stdout', String(CAP), '--max-stderr', String(CAP)];
// A generous default (a cold `import http.client` takes ~2 s on a loaded machine); rows that must be stopped
// ask for a short limit with `timeoutMs`, which may only lower it.
const SERVER_ARGS: Record<Target, string[]> = {
  main: ['--timeout', '8000', ...CAPS],
  lowmem: ['--timeout', '4000', '--max-memory', '64', ...CAPS],
  fragile: ['--timeout', '8000', ...CAPS],
  fragileLowmem: ['--timeout', '4000', '--max-memory', '64', ...CAPS],
};
const SHORT = { timeoutMs: 1000 };

const { rows, add } = rowTable();

/** Python source from lines (keeps indentation readable in this file). */
const L = (...lines: string[]) => lines.join('\n');
/** What a determined guest does first: take the convenience import blocker (the `python` layer) away. */
const UNBLOCK = L('import sys', 'for _f in list(sys.meta_path):', "    if type(_f).__name__ == '_SandboxImportBlocker': sys.meta_path.remove(_f)");
/** The runner's module globals, reached by walking up from the guest's frame. */
const RUNNER_GLOBALS = "import sys\n_g = sys._getframe(1).f_globals\nassert '_dumps' in _g and 'start' in _g";
const q = (s: string) => JSON.stringify(s);

const refusedWith = (type: string, message: RegExp) => (r: Outcome) => {
  guestError(type)(r);
  expect(r.error!.message).toMatch(message);
};
const noPrograms = refusedWith('PermissionError', /running programs is not available/);
const noNetwork = (r: Outcome) => {
  expect(r.exitCode, brief(r)).toBe(1);
  expect(`${r.error!.type}: ${r.error!.message}`).toMatch(/network access is not available|PermissionError/);
};
const notAvailable = (r: Outcome) => {
  guestError('ModuleNotFoundError')(r);
  expect(r.error!.message).toMatch(/No module named/);
};
const codeGenRefused = (r: Outcome) => {
  guestError('JsException')(r);
  expect(r.error!.message).toMatch(/code generation from strings is disabled/);
};

/** Run `fn` and prove the server kept the same sandbox host (nothing crashed or was restarted). */
async function sameHost(h: Harness, fn: () => Promise<void>): Promise<void> {
  const before = h.srv.hostPids();
  expect(before).toHaveLength(1);
  await fn();
  expect(h.srv.hostPids()).toEqual(before);
}

// ======================================================================================================
// escape: from Python to the worker's JavaScript realm, Node, the shell, the network or the host's files
// ======================================================================================================

add('escape', 'import js is refused', 'import js\njs.process', notAvailable);
add('escape', 'import pyodide_js is refused', 'import pyodide_js\npyodide_js._module', notAvailable);
add('escape', 'pyodide.code.run_js is refused', `from pyodide.code import run_js\nrun_js("process.getBuiltinModule('os').hostname()")`, notAvailable);
add('escape', 'pyodide.ffi (create_proxy, to_js) is refused', 'from pyodide.ffi import create_proxy, to_js\nto_js([1])', notAvailable);
add('escape', '_pyodide internals are refused', 'import _pyodide._importhook', notAvailable);
add('escape', '_pyodide_core is refused', 'import _pyodide_core\n_pyodide_core.to_js', notAvailable);
add('escape', 'micropip is refused', "import micropip\nawait micropip.install('requests')", notAvailable);
add('escape', 'no JavaScript or Pyodide module is left in sys.modules', "import sys\nsorted(m for m in sys.modules if m.split('.')[0] in ('js', 'pyodide_js', 'pyodide', '_pyodide', '_pyodide_core', 'micropip'))", okWith([]));
add('escape', 'with the import blocker removed, `import js` still finds no JavaScript module', `${UNBLOCK}\nimport js\njs.process`, notAvailable);
add('escape', 'with sys.meta_path emptied, `import pyodide_js` finds nothing', 'import sys\nsys.meta_path.clear()\nimport pyodide_js', notAvailable);
add('escape', 'with the blocker removed, pyodide.code.run_js reaches no JavaScript', `${UNBLOCK}\nimport pyodide.code\npyodide.code.run_js("process.getBuiltinModule('os').hostname()")`, (r) => {
  expect(r.exitCode, brief(r)).toBe(1);
  expect(r.result).toBeUndefined();
});
add('escape', "a JsProxy's .constructor.constructor (the host Function) refuses to compile code", `${UNBLOCK}\nimport _pyodide_core as c\nc.to_js([1, 2]).constructor.constructor("return process")()`, codeGenRefused);
add('escape', "Function's own constructor (Function.constructor) refuses too", `${UNBLOCK}\nimport _pyodide_core as c\nc.to_js([1]).constructor.constructor.constructor("return globalThis")()`, codeGenRefused);
add('escape', "a PyProxy made by create_proxy leads to the same refusing Function", `${UNBLOCK}\nimport _pyodide_core as c\nc.create_proxy(lambda: 1).constructor.constructor("return process")()`, codeGenRefused);
add('escape', "the runner's scheduler gate (a JsProxy reachable through frames) is a dead end", L(RUNNER_GLOBALS, "_g['_webloop'].scheduleCallback.constructor.constructor('return process')()"), codeGenRefused);
add('escape', "call, apply and bind of the host Function do not get past the refusal", L(UNBLOCK, 'import _pyodide_core as c', 'F = c.to_js([1]).constructor.constructor', 'out = []', "for f in (lambda: F.call(None, 'return process'), lambda: F.apply(None, c.to_js(['return process'])), lambda: F.bind(None)('return process')):", '    try:', '        out.append(str(f()))', '    except Exception as e:', "        out.append(type(e).__name__)", 'out'), okWith(['JsException', 'JsException', 'JsException']));
add('escape', 'a __subclasses__ walk finds JsProxy classes but cannot make a JavaScript object from nothing', L(
  'def walk():',
  '    seen, stack = set(), [object]',
  '    while stack:',
  '        c = stack.pop()',
  '        for s in (type.__subclasses__(c) if c is not type else []):',
  '            if s not in seen: seen.add(s); stack.append(s)',
  '    return seen',
  "found = [k for k in walk() if k.__name__ == 'JsProxy']",
  'out = []',
  'for k in found:',
  '    try: k(); out.append("made")',
  '    except Exception as e: out.append(type(e).__name__)',
  '[len(found) > 0, "made" in out]',
), okWith([true, false]));
add('escape', 'gc.get_objects(), get_referrers() and get_referents() are refused', L('import gc', 'out = []', 'for f in (gc.get_objects, lambda: gc.get_referrers(1), lambda: gc.get_referents(1)):', '    try: f(); out.append("walked")', '    except PermissionError: out.append("refused")', 'out'), okWith(['refused', 'refused', 'refused']));
add('escape', 'gc imported afresh (after del sys.modules["gc"]) is still the patched one; so are reload(gc), posix and _socket', L(
  'import sys, importlib',
  'out = []',
  "for name in ('gc', 'posix', '_socket'):",
  '    sys.modules.pop(name, None)',
  'import gc, posix, _socket',
  'for f in (gc.get_objects, lambda: importlib.reload(gc).get_objects()):',
  '    try: f(); out.append("walked")',
  '    except PermissionError: out.append("refused")',
  'out',
), okWith(['refused', 'refused']));
add('escape', "with every Python layer taken away, the module loaders hold no Pyodide API object and its config no shared snapshot", L(
  UNBLOCK,
  "for _f in list(sys.meta_path):",
  "    if type(_f).__name__ == '_PatchedModuleFinder': sys.meta_path.remove(_f)",
  "sys.modules.pop('gc', None)",
  'import gc',
  'from _pyodide._importhook import JsLoader',
  'loaders = [o for o in gc.get_objects() if type(o) is JsLoader]',
  "[l.jsproxy is None for l in loaders]",
), (r) => {
  // Found by a probe: the loader of pyodide_js._api held the API object, whose config held the
  // snapshot every later interpreter loads, in shared memory and writable. Today the loaders are
  // collected once their modules go (the probe reached them while __main__ still held ~55 modules),
  // so this row passes without the Python layer's emptying too; it fails if something keeps a loader
  // alive with its API. The realm layer's part, which does fail without it, is in pyodide-hardening.test.ts.
  ok(r);
  expect((r.result as boolean[]).every(Boolean)).toBe(true);
});
add('escape', "CPython's test-only C modules (_testcapi and its kin) and _remote_debugging are refused", L(
  'import sys',
  'out = {}',
  "for m in ('_testcapi', '_testinternalcapi', '_testlimitedcapi', '_testbuffer', '_testclinic', '_xxtestfuzz', 'xxsubtype', '_remote_debugging'):",
  '    try: __import__(m); out[m] = "imported"',
  '    except ModuleNotFoundError: out[m] = "refused"',
  "[sorted(set(out.values())), '_testcapi' in sys.builtin_module_names, [m for m in sys.modules if m.startswith('_test')]]",
), okWith([['refused'], true, []]));
add('escape', 'import ctypes is refused', 'import ctypes\nctypes.CDLL(None)', notAvailable);
add('escape', "with the blocker removed, ctypes's libc system() runs no shell", (c) => L(UNBLOCK, 'import ctypes', `ctypes.CDLL(None).system(${q(`touch ${path.dirname(c.canaryPath)}/pwned-by-ctypes`)}.encode())`), (r) => {
  // A refused system() answers -1 (exit 1 where the module cannot load at all); the canary directory
  // check after the corpus proves no file appeared.
  if (r.exitCode === 0) expect(r.result).toBe(-1);
  else expect(r.exitCode, brief(r)).toBe(1);
});
add('escape', 'os.system is refused', (c) => `import os\nos.system(${q(`touch ${path.dirname(c.canaryPath)}/pwned`)})`, noPrograms);
add('escape', 'posix.system is refused', 'import posix\nposix.system("id")', noPrograms);
add('escape', 'os.popen is refused', 'import os\nos.popen("id").read()', noPrograms);
add('escape', 'os.fork is refused', 'import os\nos.fork()', noPrograms);
add('escape', 'os.execv is refused', "import os\nos.execv('/bin/sh', ['sh', '-c', 'id'])", noPrograms);
add('escape', 'os.spawnv and os.posix_spawn are refused', L('import os', 'out = []', "for f in (lambda: os.spawnv(os.P_WAIT, '/bin/sh', ['sh']), lambda: os.posix_spawn('/bin/sh', ['sh'], {})):", '    try: f(); out.append("ran")', '    except PermissionError: out.append("refused")', '    except AttributeError: out.append("absent")', 'out'), (r) => {
  ok(r);
  expect(r.result).not.toContain('ran');
});
add('escape', 'subprocess.run is refused', "import subprocess\nsubprocess.run(['id'], capture_output=True)", noPrograms);
add('escape', 'subprocess.Popen and check_output are refused', "import subprocess\nsubprocess.check_output('id', shell=True)", noPrograms);
add('escape', '_posixsubprocess.fork_exec is refused', "import _posixsubprocess\n_posixsubprocess.fork_exec(*([None] * 23))", noPrograms);
add('escape', 'importlib.reload(os) does not bring os.system back', 'import importlib, os\nos = importlib.reload(os)\nos.system("id")', noPrograms);
add('escape', 'posix reimported from scratch: system() still runs nothing', L('import sys', "for m in ('os', 'posix'): sys.modules.pop(m, None)", 'import posix', "posix.system('id')"), (r) => {
  // Below the Python layer, the interpreter's system() import refuses: -1, never 0.
  if (r.exitCode === 0) expect(r.result).toBe(-1);
  else expect(r.exitCode, brief(r)).toBe(1);
});
add('escape', 'threads cannot be started', "import threading\nt = threading.Thread(target=print, args=('in thread',))\nt.start()\nt.join()", guestError('RuntimeError'));
add('escape', 'socket.socket() is refused', 'import socket\nsocket.socket()', noNetwork);
add('escape', "a socket connect to the test's loopback listener is refused", (c) => `import socket\ns = socket.socket()\ns.connect(('127.0.0.1', ${c.listenerPort}))`, noNetwork);
add('escape', '_socket.socket is refused', "import _socket\n_socket.socket(2, 1)", noNetwork);
add('escape', 'socket.create_connection is refused', (c) => `import socket\nsocket.create_connection(('127.0.0.1', ${c.listenerPort}), timeout=1)`, noNetwork);
add('escape', 'importlib.reload(socket) does not bring sockets back', (c) => L('import socket, importlib', 'try:', '    socket = importlib.reload(socket)', 'except Exception:', '    pass', `s = socket.socket(); s.connect(('127.0.0.1', ${c.listenerPort}))`), (r) => {
  expect(r.exitCode, brief(r)).toBe(1);
});
add('escape', 'http.client reaches no listener', (c) => `import http.client\nc = http.client.HTTPConnection('127.0.0.1', ${c.listenerPort}, timeout=1)\nc.request('GET', '/')\nc.getresponse().status`, noNetwork);
add('escape', 'urllib.request.urlopen without a network policy reaches nothing', (c) => `import urllib.request\nurllib.request.urlopen('http://127.0.0.1:${c.listenerPort}/').read()`, (r) => {
  guestError('URLError')(r);
  expect(r.error!.message).toMatch(/network access is disabled by the policy/);
});
add('escape', 'asyncio.open_connection is refused', (c) => `import asyncio\nawait asyncio.open_connection('127.0.0.1', ${c.listenerPort})`, noNetwork);
add('escape', 'select() on the refused sockets has nothing to wait for', "import select\nselect.select([], [], [], 0)", okWith([[], [], []]));
add('escape', 'the canary file cannot be read by its host path', (c) => `open(${q(c.canaryPath)}).read()`, guestError('FileNotFoundError'));
add('escape', "the canary's directory cannot be listed", (c) => `import os\nos.listdir(${q(path.dirname(c.canaryPath))})`, guestError('FileNotFoundError'));
add('escape', "writing to the canary's host path lands in the guest's own memory filesystem only", (c) => L('import os', `p = ${q(c.canaryPath)}`, 'os.makedirs(os.path.dirname(p), exist_ok=True)', "open(p, 'w').write('pwned')", 'open(p).read()'), okWith('pwned'));
add('escape', 'host files are not visible: /etc/passwd, /etc/hostname, the repo', (c) => L('out = []', `for p in ('/etc/passwd', '/etc/hostname', ${q(path.join(c.root, 'package.json'))}, ${q(path.join(c.root, 'node_modules/pyodide/package.json'))}):`, '    try: out.append(open(p).read()[:100])', '    except OSError as e: out.append(type(e).__name__)', 'out'), okWith(['FileNotFoundError', 'FileNotFoundError', 'FileNotFoundError', 'FileNotFoundError']));
add('escape', ".. cannot climb out of /tmp", "open('/tmp/../../../../etc/passwd').read()", guestError('FileNotFoundError'));
add('escape', 'the root directory holds only the guest filesystem', "import os\nsorted(os.listdir('/'))", (r) => {
  ok(r);
  for (const name of ['etc', 'work', 'root', 'usr', 'sys', 'var', 'bin', 'opt']) expect(r.result).not.toContain(name);
});
add('escape', 'a walk of the whole filesystem finds no host path', L('import os', 'seen = []', "for d, dirs, files in os.walk('/'):", "    if d.startswith('/proc') or d.startswith('/dev'): dirs[:] = []", '    seen.extend(os.path.join(d, f) for f in files)', '    if len(seen) > 5000: break', "[len(seen), [p for p in seen if '/work/' in p or 'node_modules' in p or 'wasm-sandbox' in p]]"), (r) => {
  ok(r);
  expect(r.result[0]).toBeGreaterThan(0);
  expect(r.result[1]).toEqual([]);
});
add('escape', 'a Pyodide fatal error raised on purpose discards the interpreter; the host stays', '', undefined, {
  run: async (h) =>
    sameHost(h, async () => {
      const r = await h.run(`${UNBLOCK}\nimport _pyodide_core as c\nc.trigger_fatal_error()`);
      expect(r.exitCode, brief(r)).toBe(1);
      expect(r.error!.type).toBe('FatalError');
      // What failed, not Pyodide's wrapper around a JavaScript error without a stack.
      expect(r.error!.message).toMatch(/^the Python runtime failed \(\w*Error: \S.*\); its state was discarded$/);
      expect(r.error!.message).not.toMatch(/was thrown as an error/);
    }),
});
add('escape', 'os.kill(own pid, SIGKILL) ends only the interpreter, never the host', '', undefined, {
  run: async (h) =>
    sameHost(h, async () => {
      const r = await h.run('import os, signal\nos.kill(os.getpid(), signal.SIGKILL)');
      expect(r.exitCode, brief(r)).toBe(1);
      expect(r.error!.code).toBe('E_GUEST_ERROR');
    }),
});
add('escape', 'os._exit(0) ends only the interpreter, never the host', '', undefined, {
  run: async (h) =>
    sameHost(h, async () => {
      const r = await h.run('import os\nos._exit(0)');
      expect(r.exitCode, brief(r)).toBe(1);
      expect(r.error!.type).toBe('FatalError');
    }),
});

// ======================================================================================================
// exhaustion: time, stack, memory, output, results
// ======================================================================================================

add('exhaustion', 'while True: pass stops with 124', 'while True: pass', timedOut, { args: SHORT });
add('exhaustion', 'a loop that catches KeyboardInterrupt is still stopped (124)', L('while True:', '    try:', '        while True: pass', '    except KeyboardInterrupt:', '        pass'), timedOut, { args: SHORT });
add('exhaustion', 'catching BaseException in a loop does not help either', L('n = 0', 'while True:', '    try:', '        while True: n += 1', '    except BaseException:', '        continue'), timedOut, { args: SHORT });
add('exhaustion', 'ignoring SIGINT with the signal module does not stop the time limit', "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass", timedOut, { args: SHORT });
add('exhaustion', 'a SIGINT handler that swallows the interrupt does not stop the time limit', "import signal\nsignal.signal(signal.SIGINT, lambda *a: None)\nwhile True: pass", timedOut, { args: SHORT });
add('exhaustion', 'sys.settrace cannot keep the interrupt out', 'import sys\nsys.settrace(lambda *a: None)\nwhile True: pass', timedOut, { args: SHORT });
add('exhaustion', '10**10**8 is stopped (124)', '10**10**8', timedOut, { args: SHORT });
add('exhaustion', 'catastrophic regex backtracking is stopped (124)', "import re\nre.match(r'(a+)+$', 'a' * 40 + 'b')", timedOut, { args: SHORT });
add('exhaustion', 'time.sleep(1e9) is stopped (124)', 'import time\ntime.sleep(1e9)', timedOut, { args: SHORT });
add('exhaustion', "time.sleep restored to Pyodide's own (not sliced) is stopped too", L(RUNNER_GLOBALS, 'import time', "time.sleep = _g['_orig_sleep']", 'time.sleep(1e9)'), timedOut, { args: SHORT });
add('exhaustion', 'an asyncio.sleep(0) loop is stopped (124)', 'import asyncio\nwhile True: await asyncio.sleep(0)', timedOut, { args: SHORT });
add('exhaustion', 'an awaited sleep of a billion seconds is stopped (124)', 'import asyncio\nawait asyncio.sleep(1e9)', timedOut, { args: SHORT });
add('exhaustion', 'a coroutine that swallows CancelledError and spins is stopped (124)', L('import asyncio', 'try:', '    while True: await asyncio.sleep(0.001)', 'except BaseException:', '    while True: await asyncio.sleep(0)'), timedOut, { args: SHORT });
add('exhaustion', 'a coroutine that catches everything and spins without awaiting is stopped (124)', L('import asyncio', 'async def f():', '    try:', '        while True: await asyncio.sleep(0)', '    except BaseException:', '        while True: pass', 'await f()'), timedOut, { args: SHORT });
add('exhaustion', "a repr() that never returns (result conversion) is stopped (124)", 'class X:\n    def __repr__(self):\n        while True: pass\nX()', timedOut, { args: SHORT });
add('exhaustion', 'an exception whose __str__ never returns is stopped (124)', 'class E(Exception):\n    def __str__(self):\n        while True: pass\nraise E()', timedOut, { args: SHORT });
add('exhaustion', 'sys.setrecursionlimit(10**6) and unbounded recursion do not crash the host', '', undefined, {
  run: async (h) =>
    sameHost(h, async () => {
      const r = await h.run('import sys\nsys.setrecursionlimit(10**6)\ndef f(n): return f(n + 1)\nf(0)', SHORT);
      exitIs(r, 1, 124, 137);
      if (r.exitCode === 1) expect(r.error!.type).toMatch(/RecursionError|MemoryError|FatalError/);
    }),
});
add('exhaustion', 'unbounded recursion at the default limit is an error or a stop, never a crash', 'def f(n): return f(n + 1)\nf(0)', (r) => {
  exitIs(r, 1, 124);
  if (r.exitCode === 1) expect(r.error!.type).toBe('RecursionError');
}, { args: SHORT });
add('exhaustion', "an expression of 200,000 terms overflows the compiler's stack: a clear error, never a crash", '1' + '+1'.repeat(200_000), (r) => {
  expect(r.exitCode).toBe(1);
  expect(r.error!.message).toMatch(/stack overflowed .*state was discarded/);
});
add('exhaustion', "repr() of a list nested 100,000 deep is an error or a stop, never a crash", 'import sys\nsys.setrecursionlimit(10**6)\nl = []\nfor i in range(10**5): l = [l]\nrepr(l)[:10]', (r) => exitIs(r, 1, 124, 137), { args: SHORT });
add('exhaustion', 'a growing list of 1 MiB buffers is stopped at the memory limit (137)', 'x = []\nwhile True: x.append(bytearray(1 << 20))', outOfMemory, { server: 'lowmem' });
add('exhaustion', 'bytearray(2**30) above the memory limit is refused (137)', 'x = bytearray(2**30)', outOfMemory, { server: 'lowmem' });
add('exhaustion', "' ' * 2**30 above the memory limit is refused (137)", "x = ' ' * (2**30)", outOfMemory, { server: 'lowmem' });
add('exhaustion', 'string doubling is stopped by the memory limit', "s = 'x'\nwhile True: s += s", memoryStopped, { server: 'lowmem' });
add('exhaustion', 'a list growing by small ints is stopped by a limit', 'l = []\nwhile True: l.append(len(l))', memoryStopped, { server: 'lowmem' });
add('exhaustion', 'a dict growing by small entries is stopped by a limit', 'd = {}\ni = 0\nwhile True:\n    d[i] = str(i) * 10\n    i += 1', memoryStopped, { server: 'lowmem' });
add('exhaustion', 'bytearray(2**31) is refused (wasm32 index or memory limit)', 'x = bytearray(2**31)', (r) => exitIs(r, 1, 137), { server: 'lowmem' });
add('exhaustion', "'x' * 10**10 is refused", "x = 'x' * 10**10", (r) => exitIs(r, 1, 137), { server: 'lowmem' });
add('exhaustion', 'catching MemoryError and allocating again never gets past the cap', L('n = 0', 'for i in range(5):', '    try:', '        x = bytearray(2**30)', '    except MemoryError:', '        n += 1', 'n'), (r) => {
  exitIs(r, 0, 137);
  if (r.exitCode === 0) expect(r.result).toBe(5);
}, { server: 'lowmem' });
add('exhaustion', 'a print flood until the time limit keeps output within the cap', 'i = 0\nwhile True:\n    print(i)\n    i += 1', (r) => {
  timedOut(r);
  expect(Buffer.byteLength(r.stdout)).toBeLessThanOrEqual(CAP);
}, { args: SHORT });
add('exhaustion', 'a 2 MB sys.stdout.write is cut exactly at the cap', "import sys\nsys.stdout.write('y' * 2_000_000)\n1", (r) => {
  okWith(1)(r);
  expect(r.stdoutTruncated).toBe(true);
  expect(Buffer.byteLength(r.stdout)).toBe(CAP);
});
add('exhaustion', 'a stderr flood caught in a loop is capped', "import sys\nfor i in range(5000):\n    try: sys.stderr.write('e' * 100)\n    except Exception: pass\n'done'", (r) => {
  okWith('done')(r);
  expect(r.stderrTruncated).toBe(true);
  expect(Buffer.byteLength(r.stderr)).toBe(CAP);
});
add('exhaustion', 'a 5 MB string result is bounded', "'z' * 5_000_000", (r) => {
  ok(r);
  expect(r.result.length).toBeLessThanOrEqual(1_000_000 + 20);
  expect(r.result.startsWith('zzz')).toBe(true);
});
add('exhaustion', 'a million-element list result is bounded', 'list(range(10**6))', (r) => {
  ok(r);
  expect(r.result.length).toBeLessThanOrEqual(10_001);
  expect(r.result.at(-1)).toMatch(/more items/);
});
add('exhaustion', 'a 100,000-entry dict result is bounded', '{str(i): i for i in range(10**5)}', (r) => {
  ok(r);
  expect(Object.keys(r.result).length).toBeLessThanOrEqual(10_001);
});
add('exhaustion', 'a result nested 100 deep is cut at the depth limit', 'x = []\nfor i in range(100): x = [x]\nx', (r) => {
  ok(r);
  let depth = 0;
  for (let v = r.result; Array.isArray(v); v = v[0]) depth++;
  expect(depth).toBeLessThanOrEqual(21);
});
add('exhaustion', 'a self-referencing dict result is converted without looping', "d = {}\nd['self'] = d\nd", okWith({ self: "{'self': {...}}" }));
add('exhaustion', 'a 5,000-digit int result is summarised', '10**5000', okWith('<int with 16610 bits>'));
add('exhaustion', 'a repr() of 100 MB is clipped', "class X:\n    def __repr__(self): return 'a' * 10**8\nX()", (r) => {
  ok(r);
  expect(r.result.length).toBeLessThanOrEqual(10_000 + 20);
});
add('exhaustion', 'a 70,000-character exception message is clipped, not fatal', "raise ValueError('x' * 70000)", (r) => {
  guestError('ValueError')(r);
  expect(r.error!.message.length).toBeLessThanOrEqual(16_384 + 20);
});
add('exhaustion', 'a traceback of 1,000 chained exceptions is clipped', L('e = None', 'for i in range(1000):', '    try:', "        raise ValueError('level %d' % i) from e", '    except ValueError as x:', '        e = x', 'raise e'), (r) => {
  guestError('ValueError')(r);
  expect(r.error!.traceback!.length).toBeLessThanOrEqual(32_768 + 40);
});
add('exhaustion', 'SystemExit with a 100,000-character status is clipped', "raise SystemExit('s' * 100000)", (r) => {
  guestError('SystemExit')(r);
  expect(r.error!.message.length).toBeLessThanOrEqual(16_384 + 20);
});

// ======================================================================================================
// protocol-smuggling: guest bytes aimed at the MCP stream, the host channel or the result
// ======================================================================================================

const RPC_A = '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"forged"}]}}';
const RPC_B = '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"error","data":"forged"}}';

add('protocol-smuggling', "os.write(1, …) lands in the run's stdout, never the MCP stream", `import os\nos.write(1, ${q(`${RPC_A}\n`)}.encode())\n1`, (r) => {
  okWith(1)(r);
  expect(r.stdout).toBe(`${RPC_A}\n`);
});
add('protocol-smuggling', "os.write(2, …) lands in the run's stderr", `import os\nos.write(2, ${q(`${RPC_B}\n`)}.encode())\n1`, (r) => {
  okWith(1)(r);
  expect(r.stderr).toBe(`${RPC_B}\n`);
});
add('protocol-smuggling', 'JSON-RPC text printed stays inside the stdout field', `print(${q(`${RPC_A}\n${RPC_B}`)})`, (r) => {
  ok(r);
  expect(r.stdout).toBe(`${RPC_A}\n${RPC_B}\n`);
});
add('protocol-smuggling', "writing to /dev/tty lands in the run's stdout", `import os\nfd = os.open('/dev/tty', os.O_WRONLY)\nos.write(fd, ${q(`${RPC_A}\n`)}.encode())\n1`, (r) => {
  okWith(1)(r);
  expect(r.stdout).toBe(`${RPC_A}\n`);
});
add('protocol-smuggling', "/dev/stdout and /dev/stderr land in the run's fields", "open('/dev/stdout', 'w').write('to-out\\n')\nopen('/dev/stderr', 'w').write('to-err\\n')\n1", (r) => {
  okWith(1)(r);
  expect(r.stdout).toBe('to-out\n');
  expect(r.stderr).toBe('to-err\n');
});
add('protocol-smuggling', 'os.dup2(2, 1) only moves output between the run\'s own fields', "import os\nos.dup2(2, 1)\nprint('after dup2')\n1", (r) => {
  okWith(1)(r);
  expect(r.stdout + r.stderr).toBe('after dup2\n');
});
add('protocol-smuggling', 'closing fd 1 and writing to it fails in the guest only', "import os\nos.close(1)\nos.write(1, b'x')", guestError('OSError'));
add('protocol-smuggling', 'stdin is EOF: sys.stdin.read(), os.read(0), input()', L('import sys, os', 'out = [sys.stdin.read(), os.read(0, 100).decode()]', 'try:', '    input()', 'except EOFError:', "    out.append('EOF')", 'out'), okWith(['', '', 'EOF']));
add('protocol-smuggling', '/dev/stdin and /dev/tty read as EOF; /dev/fd/0 does not exist', L('import os', "out = [open('/dev/stdin').read(), open('/dev/tty').read()]", "out.append(os.path.exists('/dev/fd/0'))", 'out'), okWith(['', '', false]));
add('protocol-smuggling', 'sys.stdout replaced by an object that raises: the error is the guest\'s', "import sys\nclass W:\n    def write(self, s): raise RuntimeError('nope')\n    def flush(self): raise RuntimeError('flush nope')\nsys.stdout = W()\nsys.stderr = W()\nprint('x')", (r) => {
  guestError('RuntimeError')(r);
  expect(r.error!.message).toBe('nope');
});
add('protocol-smuggling', 'sys.stdout = None then print() is harmless', "import sys\nsys.stdout = None\nprint('x')\n1", okWith(1));
add('protocol-smuggling', 'invalid UTF-8 bytes on stdout become U+FFFD', "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe bad \\xc3\\n')\nsys.stdout.flush()\n1", (r) => {
  okWith(1)(r);
  expect(r.stdout).toBe('\ufffd\ufffd bad \ufffd\n');
});
add('protocol-smuggling', 'a lone surrogate printed becomes U+FFFD; in the result it survives as a JSON escape', "print('a\\udc80b')\n'x\\ud800y'", (r) => {
  ok(r);
  wellFormed(r.stdout);
  expect(r.stdout).toMatch(/^a\ufffd+b\n$/);
  expect(r.result).toBe('x\ud800y');
});
add('protocol-smuggling', 'NUL in output and in the result survives', "print('a\\x00b')\n'c\\x00d'", (r) => {
  okWith('c\u0000d')(r);
  expect(r.stdout).toBe('a\u0000b\n');
});
add('protocol-smuggling', 'JSON-RPC text as the result stays a string', q(`${RPC_A}\n`), okWith(`${RPC_A}\n`));
add('protocol-smuggling', 'JSON-RPC text in an exception message stays in the error', `raise ValueError(${q(`\n${RPC_A}\n`)})`, (r) => {
  guestError('ValueError')(r);
  expect(r.error!.message).toBe(`\n${RPC_A}\n`);
});
add('protocol-smuggling', 'a Content-Length framing header in the output is just text', `print(${q(`Content-Length: 37\r\n\r\n${RPC_A}`)})`, (r) => {
  ok(r);
  expect(r.stdout).toBe(`Content-Length: 37\r\n\r\n${RPC_A}\n`);
});
add('protocol-smuggling', 'terminal escapes, CR, U+2028/U+2029 pass through verbatim', "print('\\x1b[2J\\x1b]0;pwned\\x07\\r\\u2028\\u2029end')", (r) => {
  ok(r);
  expect(r.stdout).toBe('\u001b[2J\u001b]0;pwned\u0007\r\u2028\u2029end\n');
});
add('protocol-smuggling', 'multi-byte output is cut on a character boundary', "print('€' * 40000)\n1", (r) => {
  okWith(1)(r);
  expect(r.stdoutTruncated).toBe(true);
  expect(Buffer.byteLength(r.stdout)).toBeLessThanOrEqual(CAP);
  expect(Buffer.byteLength(r.stdout)).toBeGreaterThan(CAP - 3);
  expect(r.stdout.replaceAll('€', '')).toBe('');
});
add('protocol-smuggling', '100,000 newlines are just capped text', "print('\\n' * 100000)\n1", (r) => {
  okWith(1)(r);
  expect(r.stdout.replaceAll('\n', '')).toBe('');
});
add('protocol-smuggling', 'a __proto__ key in the result arrives as data and pollutes nothing', "{'__proto__': {'polluted': True}, 'a': 2}", async (r, h) => {
  ok(r);
  // An own key of the result, as the guest made it: neither dropped on the way nor made a prototype.
  expect(JSON.stringify(r.result)).toBe('{"__proto__":{"polluted":true},"a":2}');
  expect(Object.hasOwn(r.result, 'polluted')).toBe(false);
  expect(({} as any).polluted).toBeUndefined();
  const next = await h.run("{'b': 1}");
  expect(next.result).toEqual({ b: 1 });
});
add('protocol-smuggling', 'result keys with quotes, newlines and line separators round-trip', "{'a\"\\n}{': 1, '\\u2028': 2, '': 3}", okWith({ 'a"\n}{': 1, '\u2028': 2, '': 3 }));
add('protocol-smuggling', 'non-JSON values become strings: NaN, infinities, big ints, bytes, tuple keys', "[float('nan'), float('inf'), -float('inf'), 2**60, b'\\xff\\x00', {(1, 2): 'd'}]", okWith(['NaN', 'Infinity', '-Infinity', '1152921504606846976', "b'\\xff\\x00'", "{(1, 2): 'd'}"]));
add('protocol-smuggling', 'a str subclass whose __repr__ raises is reported as unrepresentable, never passed through', "class S(str):\n    def __str__(self): raise RuntimeError('no')\n    def __repr__(self): raise RuntimeError('no')\nS('plain')", okWith('<unrepresentable S>'));
add('protocol-smuggling', 'an exception whose __str__ raises is still reported', "class E(Exception):\n    def __str__(self): raise RuntimeError('str boom')\nraise E()", (r) => {
  guestError('E')(r);
  expect(r.error!.message).toBe('<exception str() failed>');
});
add('protocol-smuggling', 'a session name with a newline is refused, nothing runs', "print('ran')", (r) => {
  expect(r.raw.isError).toBe(true);
  expect(JSON.stringify(r.raw.content)).not.toContain('ran\\n');
}, { refused: true, args: { session: 'a\nb' } });
add('protocol-smuggling', 'a string timeoutMs is refused', '1', (r) => {
  expect(r.raw.isError).toBe(true);
}, { refused: true, args: { timeoutMs: '10' } });
add('protocol-smuggling', 'code given as a list is refused', undefined, (r) => {
  expect(r.raw.isError).toBe(true);
}, { refused: true, args: { code: ['print(1)'] } });
add('protocol-smuggling', 'an exception class name of 200 characters is reported as is', "raise type('A' * 200, (Exception,), {})('ok')", (r) => {
  guestError('A'.repeat(200))(r);
});
add('protocol-smuggling', 'an exception class name longer than 200 characters does not break the host channel', "raise type('N' * 300, (Exception,), {})('long name')", (r) => {
  expect(r.exitCode, brief(r)).toBe(1);
  expect(r.error!.code).toBe('E_GUEST_ERROR');
}, {
  // fixed (regression row): "pyodide.ts / python.ts: the runner clips an exception's type name to 200 characters and then appends '…[truncated]' (212 in all), and the adapter passes payload.type on unchecked; the host→front wire allows 200 (GuestErrorWire.type), so the front takes the host's message for malformed and restarts the sandbox host: the run gets E_PROTOCOL and every session on the server loses its state. Repro: run_python `raise type('N' * 300, (Exception,), {})('x')`.",
});

// ======================================================================================================
// realm-poisoning: patching what the runner, the adapter or the next run relies on
// ======================================================================================================

add('realm-poisoning', 'json.dumps patched by the guest: the runner still reports the real error', "import json\njson.dumps = lambda *a, **k: '{\"ok\": true, \"result\": \"forged\"}'\n1/0", guestError('ZeroDivisionError'));
// The guest can always make its own run report what it likes (it could simply evaluate it); what matters is
// that a patched json module can neither break the host channel nor reach the next run.
add('realm-poisoning', 'json.JSONEncoder patched to emit garbage: the payload is refused; the next run is unaffected', "import json\njson.JSONEncoder.encode = lambda self, o: 'garbage {'\n{'a': [1, 2]}", async (r, h) => {
  guestError('SandboxResultError')(r);
  okWith({ a: [1, 2] })(await h.run("{'a': [1, 2]}"));
});
add('realm-poisoning', 'traceback.TracebackException removed: the error is still reported with its type', 'import traceback\ntraceback.TracebackException = None\n1/0', (r) => {
  guestError('ZeroDivisionError')(r);
  expect(r.error!.message).toBe('division by zero');
});
add('realm-poisoning', 'sys.excepthook patched: the error is still reported and the hook never runs', "import sys\nsys.excepthook = lambda *a: print('hooked')\n1/0", (r) => {
  guestError('ZeroDivisionError')(r);
  expect(r.stdout).toBe('');
});
add('realm-poisoning', 'builtins.repr, str and len patched under the runner: a clean error, and the next run is unaffected', "import builtins\nbuiltins.repr = lambda o: 'forged'\nbuiltins.str = lambda o='': 'forged'\nbuiltins.len = lambda o: -1\n[1, (2, 3), 'x' * 3]", async (r, h) => {
  // Today the runner's own len() call fails ("TypeError escaped the sandbox runner") and the interpreter
  // is discarded; a correct result would be as good.
  if (r.exitCode === 0) expect(r.result).toEqual([1, [2, 3], 'xxx']);
  else guestError()(r);
  okWith([1, [2, 3], 3])(await h.run("[1, (2, 3), len('abc')]"));
});
add('realm-poisoning', 'built-in types cannot be patched', "str.__getitem__ = lambda *a: 'x'", guestError('TypeError'));
add('realm-poisoning', 'a forged runner result (through the frame walk) only changes the guest\'s own run', L(RUNNER_GLOBALS, "_g['_dumps'] = lambda *a, **k: '{\"ok\": true, \"result\": \"forged\"}'", '1/0'), async (r, h) => {
  // The guest can lie about its own run (it could as well not raise); the payload is still validated,
  // and the next run is a fresh interpreter with the real runner.
  okWith('forged')(r);
  const next = await h.run('1/0');
  guestError('ZeroDivisionError')(next);
});
add('realm-poisoning', 'a runner made to return non-JSON is refused and its interpreter discarded', L(RUNNER_GLOBALS, "_g['_dumps'] = lambda *a, **k: 'not json {'", '1'), (r) => {
  guestError('SandboxResultError')(r);
});
add('realm-poisoning', 'a runner made to return a 9 MB payload is refused', L(RUNNER_GLOBALS, "_g['_dumps'] = lambda *a, **k: '{\"ok\": true, \"result\": \"' + 'x' * 9_000_000 + '\"}'", '1'), guestError('SandboxResultError'));
add('realm-poisoning', 'a runner made to return a non-string is refused', L(RUNNER_GLOBALS, "_g['_dumps'] = lambda *a, **k: 42", '1'), guestError('SandboxResultError'));
add('realm-poisoning', 'a runner patched in a session does not reach sessionless runs', '1 + 1', okWith(2), {
  before: [{ code: L(RUNNER_GLOBALS, "_g['_ok'] = lambda v, e: {'ok': True, 'result': 'forged'}", '1'), session: 'rp-start' }],
});
/** Runner code that makes the interpreter hand the adapter `payload` (a Python expression) instead of its result. */
const forgedPayload = (payload: string) => L(RUNNER_GLOBALS, `_g['_dumps'] = lambda *a, **k: ${payload}`, '1');
rows.push({
  category: 'realm-poisoning',
  name: "a forged payload over the wire's sizes (type 300 chars, message 70,000, traceback 300 KB) does not break the host channel",
  server: 'fragile',
  // fixed (regression row): "pyodide.ts parsePayload()/outcome(): the interpreter's payload is validated for types but not for the host→front wire's sizes (GuestErrorWire: type ≤ 200, message ≤ 64 KiB, traceback ≤ 256 KiB). A guest that walks sys._getframe(1).f_globals to the runner can replace its _dumps and send any sizes; the front then rejects the host's message as malformed and restarts the sandbox host (E_PROTOCOL; every session on the server loses its state). Each of the three sizes alone does it. Repro: `import sys; sys._getframe(1).f_globals['_dumps'] = lambda *a, **k: '{\"ok\": false, \"type\": \"' + 'T' * 300 + '\", \"message\": \"m\"}'`.",
  run: async (h) => {
    for (const payload of [
      `'{"ok": false, "type": "' + 'T' * 300 + '", "message": "m"}'`,
      `'{"ok": false, "type": "T", "message": "' + 'm' * 70000 + '"}'`,
      `'{"ok": false, "type": "T", "message": "m", "traceback": "' + 't' * 300000 + '"}'`,
    ]) {
      const r = await h.run(forgedPayload(payload));
      expect(r.exitCode, brief(r)).toBe(1);
      expect(r.error!.code, payload).toBe('E_GUEST_ERROR');
    }
  },
});
add('realm-poisoning', 'JavaScript intrinsics are frozen: Array.prototype.push cannot be replaced', `${UNBLOCK}\nimport _pyodide_core as c\nc.to_js([1]).constructor.prototype.push = None`, (r) => {
  guestError('JsException')(r);
  expect(r.error!.message).toMatch(/read only|not extensible|Cannot assign/);
});
add('realm-poisoning', 'JavaScript intrinsics are frozen: Object.prototype gains no property', `${UNBLOCK}\nimport _pyodide_core as c\nc.to_js({}).constructor.prototype.polluted = 1`, (r) => {
  guestError('JsException')(r);
  expect(r.error!.message).toMatch(/not extensible|read only|Cannot (add|assign)/);
});
add('realm-poisoning', 'JavaScript intrinsics are frozen: Object.prototype.toString and Object.assign stay', L(UNBLOCK, 'import _pyodide_core as c', 'o = c.to_js({}).constructor', 'out = []', "for target, key in ((o.getPrototypeOf(c.to_js([]).constructor.prototype), 'toString'), (c.to_js({}).constructor, 'assign')):", '    try:', '        setattr(target, key, None)', "        out.append('replaced')", '    except Exception as e:', '        out.append(type(e).__name__)', 'out'), (r) => {
  ok(r);
  expect(r.result).not.toContain('replaced');
});
add('realm-poisoning', 'asyncio.run() restored by the guest runs nothing outside the loop', "import asyncio, asyncio.runners\nasyncio.run = asyncio.runners.run\nasync def f(): return 5\nasyncio.run(f())", (r) => {
  expect(r.exitCode, brief(r)).toBe(1);
});
add('realm-poisoning', "a new event loop's run_until_complete fails in the guest, without leaks", 'import asyncio\nloop = asyncio.new_event_loop()\nloop.run_until_complete(asyncio.sleep(0))', (r) => {
  expect(r.exitCode, brief(r)).toBe(1);
});

// ======================================================================================================
// info-leak: what the guest can learn about the host
// ======================================================================================================

add('info-leak', "os.environ holds none of the server's environment", (c) => `import os\n[sorted(os.environ), [os.environ.get(n) for n in ${JSON.stringify(c.envSecretNames)}]]`, (r) => {
  ok(r);
  for (const name of ['WSM_TEST_SECRET', 'SANDBOX_TEST_TOKEN', 'SANDBOX_CACHE_DIR', 'LOG_LEVEL']) expect(r.result[0]).not.toContain(name);
  expect(r.result[1]).toEqual([null, null]);
});
add('info-leak', 'os.environ values are the guest defaults, not the host PATH or HOME', "import os\n[os.environ.get('PATH'), os.environ.get('HOME')]", (r) => {
  ok(r);
  expect(r.result[0]).not.toBe(process.env.PATH);
  expect(r.result[1]).not.toMatch(/^\/(root|tmp\/|work)/);
});
add('info-leak', '/proc/self/environ and /proc/self/cmdline do not exist', L('out = []', "for p in ('/proc/self/environ', '/proc/self/cmdline', '/proc/self/maps', '/proc/1/environ'):", "    try: out.append(open(p, 'rb').read()[:50].decode('latin-1'))", '    except OSError as e: out.append(type(e).__name__)', 'out'), (r) => {
  ok(r);
  for (const v of r.result) expect(v).toMatch(/Error$/);
});
add('info-leak', 'os.uname(), platform and socket.gethostname() name the sandbox, not the host', 'import os, platform, socket\n[os.uname().nodename, platform.node(), socket.gethostname(), os.uname().sysname]', okWith(['emscripten', 'emscripten', 'emscripten', 'Emscripten']));
add('info-leak', "getpass.getuser() and os.getlogin-like values are the guest's", "import getpass, os\n[getpass.getuser(), os.environ.get('USER'), os.getuid()]", (r) => {
  ok(r);
  expect(r.result[0]).toBe('web_user');
  expect(r.result[0]).not.toBe(process.env.USER ?? '\u0000');
});
add('info-leak', "os.getpid() is not the sandbox host's pid", 'import os\nos.getpid()', async (r, h) => {
  ok(r);
  expect(h.srv.hostPids()).not.toContain(r.result);
  expect(r.result).not.toBe(h.srv.child.pid);
});
add('info-leak', 'sys.executable, argv, path and prefix show no host path', 'import sys\n[sys.executable, sys.argv, sys.path, sys.prefix, sys.exec_prefix, sys.platform]', (r) => {
  ok(r);
  expect(JSON.stringify(r.result)).not.toMatch(/work|node_modules|home\/(?!pyodide)/);
  expect(r.result[5]).toBe('emscripten');
});
add('info-leak', 'stdlib __file__ paths are guest paths', 'import json, os, asyncio, http\n[json.__file__, os.__file__, asyncio.__file__, http.__file__]', (r) => {
  ok(r);
  for (const f of r.result) expect(f).toMatch(/^\/lib\/python/);
});
add('info-leak', 'a traceback through the standard library shows only the user\'s frames', "import json\njson.loads('{not json')", (r) => {
  guestError('JSONDecodeError')(r);
  expect(r.error!.traceback).toContain('<code>');
  expect(r.error!.traceback).not.toMatch(/\/lib\/python|<sandbox>|pyodide/);
});
add('info-leak', 'a JsException traceback names no host file', `${UNBLOCK}\nimport _pyodide_core as c\nc.to_js([1]).constructor.constructor('x')`, (r) => {
  codeGenRefused(r);
  expect(r.error!.traceback).not.toMatch(/realm\.js|pyodide\.asm|dist\//);
});
add('info-leak', "a caught JsException's JavaScript stack names no host file", `${UNBLOCK}\nimport _pyodide_core as c\ntry:\n    c.to_js([]).constructor.constructor('x')\nexcept Exception as e:\n    err = e\nstr(err.js_error.stack)`, (r) => {
  ok(r);
  expect(r.result).not.toMatch(/file:|node_modules|dist\/sandbox|\/work\//);
}, {
  // fixed (regression row): "realm.ts/pyodide.ts: tracebacks and messages are scrubbed of host paths, but a JsException the guest catches (reachable once the guest removed the import blocker) exposes the JavaScript Error itself: e.js_error.stack lists the server's install paths (file:///…/dist/sandbox/runtimes/pyodide/realm.js, …/node_modules/pyodide/pyodide.asm.mjs). Repro: remove _SandboxImportBlocker from sys.meta_path, `import _pyodide_core as c`, catch the exception of `c.to_js([]).constructor.constructor('x')`, return `str(e.js_error.stack)`.",
});
add('info-leak', 'sys._emscripten_info reveals the runtime kind, no host path', 'import sys\nstr(getattr(sys, "_emscripten_info", ""))', (r) => {
  ok(r);
  expect(r.result).not.toMatch(/\/work|node_modules|file:/);
});
add('info-leak', "/home holds only the guest's own users", "import os\nsorted(os.listdir('/home'))", (r) => {
  ok(r);
  expect(r.result).not.toContain(process.env.USER ?? '\u0000');
  for (const u of r.result) expect(['pyodide', 'web_user']).toContain(u);
});
add('info-leak', 'an OSError on a host-looking path says nothing of the host', (c) => `import os\nos.stat(${q(c.root)})`, (r) => {
  guestError('FileNotFoundError')(r);
});
add('info-leak', 'the runner\'s globals reached through frames hold no host path or secret', L(RUNNER_GLOBALS, "{k: repr(v)[:200] for k, v in _g.items() if not k.startswith('__')}"), (r) => {
  ok(r);
  expect(Object.keys(r.result)).toContain('start');
});
add('info-leak', 'the code objects of the runner carry no host path', L(RUNNER_GLOBALS, "sorted({v.__code__.co_filename for v in _g.values() if hasattr(v, '__code__')})"), (r) => {
  ok(r);
  for (const f of r.result) expect(f).toMatch(/^<sandbox>$|^\/lib\/python/);
});
add('info-leak', 'the modules in sys.modules name no host file', "import sys\nsorted({getattr(m, '__file__', None) or '' for m in list(sys.modules.values())})", (r) => {
  ok(r);
  for (const f of r.result) expect(f).toMatch(/^$|^\/lib\/python|^\/usr\/lib/);
});

// ======================================================================================================
// isolation: runs, sessions and what a previous run leaves behind
// ======================================================================================================

rows.push({
  category: 'isolation',
  name: "a sessionless run never sees a previous sessionless run's builtins.print patch",
  run: async (h) => {
    await h.run("import builtins\nbuiltins.print = lambda *a, **k: None\nbuiltins.len = lambda x: 42\n1");
    const r = await h.run("print('visible')\nlen([1])");
    okWith(1)(r);
    expect(r.stdout).toBe('visible\n');
  },
});
rows.push({
  category: 'isolation',
  name: "a sessionless run never sees a previous run's patched stdlib function or module attribute",
  run: async (h) => {
    await h.run('import math, json\nmath.sqrt = lambda x: -1\njson.loads = lambda s: "forged"\n1');
    okWith([3, { a: 1 }])(await h.run("import math, json\n[int(math.sqrt(9)), json.loads('{\"a\": 1}')]"));
  },
});
rows.push({
  category: 'isolation',
  name: "a sessionless run never sees a previous run's globals, sys.modules entries or meta_path",
  run: async (h) => {
    await h.run("import sys, types\nsecret = 's'\nsys.modules['planted'] = types.ModuleType('planted')\nsys.meta_path.clear()\n1");
    okWith([false, false, true])(await h.run("import sys\n['secret' in globals(), 'planted' in sys.modules, len(sys.meta_path) > 0]"));
  },
});
rows.push({
  category: 'isolation',
  name: "a sessionless run never sees a previous run's files",
  run: async (h) => {
    await h.run("open('/tmp/leak.txt', 'w').write('from a sessionless run')\nopen('/home/pyodide/x', 'w').write('x')\n1");
    okWith([false, false])(await h.run("import os\n[os.path.exists('/tmp/leak.txt'), os.path.exists('/home/pyodide/x')]"));
  },
});
rows.push({
  category: 'isolation',
  name: "a sessionless run never sees a previous run's forged runner",
  run: async (h) => {
    await h.run(L(RUNNER_GLOBALS, "_g['_ok'] = lambda v, e: {'ok': True, 'result': 'forged'}", '1'));
    okWith(7)(await h.run('3 + 4'));
  },
});
add('isolation', "a session's builtins patch stays in that session", "print('clean')\n1", (r) => {
  okWith(1)(r);
  expect(r.stdout).toBe('clean\n');
}, { before: [{ code: 'import builtins\nbuiltins.print = lambda *a, **k: None\n1', session: 'iso-poison-a' }], args: { session: 'iso-poison-b' } });
add('isolation', "a session's globals are invisible to another session", "'keep' in globals()", okWith(false), {
  before: [{ code: "keep = 'a'", session: 'iso-glob-a' }],
  args: { session: 'iso-glob-b' },
});
add('isolation', "a session's globals are invisible to a sessionless run", "'only_here' in globals()", okWith(false), {
  before: [{ code: "only_here = 'a'", session: 'iso-glob-c' }],
});
add('isolation', "a session's files are invisible to another session", "import os\nos.path.exists('/tmp/sess.txt')", okWith(false), {
  before: [{ code: "open('/tmp/sess.txt', 'w').write('a')", session: 'iso-file-a' }],
  args: { session: 'iso-file-b' },
});
add('isolation', 'a session keeps its globals like a notebook (the isolation is not emptiness)', 'counter += 1\ncounter', okWith(11), {
  before: [{ code: 'counter = 10', session: 'iso-nb' }],
  args: { session: 'iso-nb' },
});
add('isolation', 'a loop.call_later callback never fires after its run ended', "import time\ntime.sleep(0.5)\nhits", (r) => {
  okWith([])(r);
  expect(r.stdout).not.toContain('LATE');
}, {
  before: [{ code: "import asyncio\nhits = []\nloop = asyncio.get_event_loop()\nloop.call_later(0.2, lambda: print('LATE'))\nloop.call_later(0.2, lambda: hits.append(1))\n1", session: 'iso-late' }],
  args: { session: 'iso-late' },
});
add('isolation', 'a pending task left behind never runs after its run ended', "import asyncio\nawait asyncio.sleep(0.5)\n[task.done() and not task.cancelled(), ran]", (r) => {
  okWith([false, false])(r);
  expect(r.stdout).not.toContain('task ran');
}, {
  before: [{ code: "import asyncio\nran = False\nasync def t():\n    global ran\n    await asyncio.sleep(0.2)\n    ran = True\n    print('task ran')\ntask = asyncio.ensure_future(t())\n1", session: 'iso-pend' }],
  args: { session: 'iso-pend' },
});
add('isolation', 'an atexit handler never runs in a later run or on the host', "'ok'", (r) => {
  okWith('ok')(r);
  expect(r.stdout).toBe('');
}, { before: [{ code: "import atexit\natexit.register(lambda: print('ATEXIT'))\n1", session: 'iso-atexit' }], args: { session: 'iso-atexit' } });
add('isolation', 'a session keeps its state across a soft timeout', 'survivor', okWith('yes'), {
  before: [
    { code: "survivor = 'yes'", session: 'iso-tmo' },
    { code: 'while True: pass', session: 'iso-tmo' },
  ],
  args: { session: 'iso-tmo', ...SHORT },
});
rows.push({
  category: 'isolation',
  name: 'a session whose interpreter was terminated starts fresh and says so; another session keeps its state',
  run: async (h) => {
    await h.run("mine = 'intact'", { session: 'iso-term-b' });
    await h.run("x = 'gone'", { session: 'iso-term-a' });
    timedOut(await h.run('while True:\n    try:\n        while True: pass\n    except KeyboardInterrupt:\n        pass', { session: 'iso-term-a', ...SHORT }));
    const a = await h.run("'x' in globals()", { session: 'iso-term-a' });
    okWith(false)(a);
    expect(a.stderr).toMatch(/earlier state was lost/);
    const b = await h.run('mine', { session: 'iso-term-b' });
    okWith('intact')(b);
    expect(b.stderr).toBe('');
    for (const s of ['iso-term-a', 'iso-term-b']) await h.srv.call('reset_session', { session: s });
  },
});
rows.push({
  category: 'isolation',
  name: "a session that hits the memory limit does not touch another session's state",
  server: 'lowmem',
  run: async (h) => {
    await h.run("mine = 'intact'", { session: 'iso-mem-b' });
    outOfMemory(await h.run('x = []\nwhile True: x.append(bytearray(1 << 20))', { session: 'iso-mem-a' }));
    const b = await h.run('mine', { session: 'iso-mem-b' });
    okWith('intact')(b);
    expect(b.stderr).toBe('');
    for (const s of ['iso-mem-a', 'iso-mem-b']) await h.srv.call('reset_session', { session: s });
  },
});
rows.push({
  category: 'isolation',
  name: "a session that killed its own interpreter does not touch another session's state",
  run: async (h) => {
    await h.run("mine = 'intact'", { session: 'iso-kill-b' });
    await h.run('import os, signal\nos.kill(os.getpid(), signal.SIGKILL)', { session: 'iso-kill-a' });
    okWith('intact')(await h.run('mine', { session: 'iso-kill-b' }));
    for (const s of ['iso-kill-a', 'iso-kill-b']) await h.srv.call('reset_session', { session: s });
  },
});
rows.push({
  category: 'isolation',
  name: 'reset_session drops only the named session',
  run: async (h) => {
    await h.run("keep_me = 'k'", { session: 'iso-keep' });
    await h.run("drop_me = 'd'", { session: 'iso-drop' });
    const reset = await h.srv.call('reset_session', { session: 'iso-drop' });
    expect(reset.structuredContent).toEqual({ session: 'iso-drop', existed: true });
    okWith(true)(await h.run("'keep_me' in globals()", { session: 'iso-keep' }));
    okWith(false)(await h.run("'drop_me' in globals()", { session: 'iso-drop' }));
    for (const s of ['iso-keep', 'iso-drop']) await h.srv.call('reset_session', { session: s });
  },
});
rows.push({
  category: 'isolation',
  name: 'a spinning session does not delay another session',
  run: async (h) => {
    await h.run('1', { session: 'iso-quick' });
    let spinnerDone = false;
    const spinner = h.run('while True: pass', { session: 'iso-spin', timeoutMs: 3000 }).finally(() => (spinnerDone = true));
    await new Promise((r) => setTimeout(r, 300));
    okWith(42)(await h.run('6 * 7', { session: 'iso-quick' }));
    expect(spinnerDone, 'the quick session had to wait for the spinning one').toBe(false);
    timedOut(await spinner);
    for (const s of ['iso-spin', 'iso-quick']) await h.srv.call('reset_session', { session: s });
  },
});
rows.push({
  category: 'isolation',
  name: "one run's over-long exception class name does not wipe the other sessions",
  server: 'fragile',
  // fixed (regression row): 'Same defect as the protocol-smuggling row on a 300-character exception class name: the sandbox host is restarted, so every session of every user of this server loses its state. Repro: run `keep = 1` in session A, then sessionless `raise type("N" * 300, (Exception,), {})()`, then `keep` in session A → NameError and "[session "A": earlier state was lost …]".',
  run: async (h) => {
    await h.run("mine = 'intact'", { session: 'iso-wipe' });
    await h.run("raise type('N' * 300, (Exception,), {})('x')");
    const b = await h.run('mine', { session: 'iso-wipe' });
    await h.srv.call('reset_session', { session: 'iso-wipe' });
    okWith('intact')(b);
  },
});

defineCorpus({ label: 'py-corpus', tool: 'run_python', rows, minRows: 100, serverArgs: SERVER_ARGS, cap: CAP, probe: { code: '1 + 1', result: 2, session: 'corpus-probe' }, hostListener: true });
