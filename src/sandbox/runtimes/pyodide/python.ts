/**
 * Python source run inside each interpreter before any guest code.
 *
 * RUNNER_SOURCE (always): notebook semantics (value of the last expression statement), compilation
 * with top-level await, JSON conversion of the result, tracebacks reduced to the guest's own frames,
 * output flushing, and limits that live in Python: `time.sleep` interruptible, the event loop's
 * scheduler replaced by the adapter's gate, `asyncio.run` refused with a helpful message.
 *
 * PY_HARDEN_SOURCE (the `python` layer): convenience blocks that give a clear error for the routes a
 * guest would try first (`import js`, `pyodide_js`, `pyodide.ffi`, `ctypes`, `os.system`, `subprocess`,
 * sockets, `gc.get_objects`). Python cannot hide objects from Python: a determined guest can still find
 * a JsProxy. The real defence is below it (the `wasm-imports` and `realm` layers, the permission model).
 *
 * Both run in a private namespace (not `__main__`, not in `sys.modules`), compiled as `<sandbox>`.
 */

/** Bounds of the result conversion and of error texts. */
export const RESULT_LIMITS = {
  /** Nesting depth of lists/dicts converted; deeper containers become their repr(). */
  maxDepth: 20,
  /** Elements (list items + dict entries) converted in all; the rest is summarised. */
  maxItems: 10_000,
  /** Characters of strings (values, repr()s, keys excluded) converted in all. */
  maxChars: 1_000_000,
  /** Characters of one repr(). */
  maxRepr: 10_000,
  /** Characters of an error message. */
  maxMessage: 16_384,
  /** Characters of a traceback (head and tail kept). */
  maxTraceback: 32_768,
} as const;

export const SANDBOX_FILENAME = '<sandbox>';

export const RUNNER_SOURCE = String.raw`
import sys, ast, linecache, traceback, inspect, json, asyncio, time as _time
import pyodide.webloop as _webloop

_CO_COROUTINE = inspect.CO_COROUTINE
_TLA = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_MAIN = sys.modules["__main__"].__dict__
_dumps = json.dumps
_str_getitem = str.__getitem__
_SELF = "${SANDBOX_FILENAME}"
_MAX_SAFE = 2 ** 53
_INF = float("inf")
_MAX_DEPTH = ${RESULT_LIMITS.maxDepth}
_MAX_ITEMS = ${RESULT_LIMITS.maxItems}
_MAX_CHARS = ${RESULT_LIMITS.maxChars}
_MAX_REPR = ${RESULT_LIMITS.maxRepr}
_MAX_MESSAGE = ${RESULT_LIMITS.maxMessage}
_MAX_TB = ${RESULT_LIMITS.maxTraceback}
_KEEP_SOURCES = 64
_state = {"n": 0, "active": None, "sources": []}


def _exact(s, limit):
    # An exact str of at most limit characters: a str subclass never reaches the host.
    if type(s) is not str:
        s = _str_getitem(s, slice(None))
    if len(s) > limit:
        s = s[:limit] + "\u2026[truncated]"
    return s


class _Budget:
    __slots__ = ("items", "chars")

    def __init__(self):
        self.items = _MAX_ITEMS
        self.chars = _MAX_CHARS


def _clip(s, b):
    if len(s) > b.chars:
        s = s[: max(b.chars, 0)] + "\u2026[truncated]"
    b.chars -= len(s)
    return s


def _type_name(v):
    try:
        return _exact(type(v).__name__, 200)
    except Exception:
        return "object"


def _safe_repr(v, b):
    try:
        r = _exact(repr(v), _MAX_REPR)
    except Exception:
        r = "<unrepresentable " + _type_name(v) + ">"
    return _clip(r, b)


def _int_text(v):
    try:
        return int.__repr__(v)
    except ValueError:
        return "<int with " + str(v.bit_length()) + " bits>"


def _float_json(v):
    if v != v:
        return "NaN"
    if v == _INF:
        return "Infinity"
    if v == -_INF:
        return "-Infinity"
    return v


def _key(k):
    t = type(k)
    if t is str:
        return k
    if t is bool:
        return "true" if k else "false"
    if t is int:
        return _int_text(k)
    if t is float:
        f = _float_json(k)
        return f if type(f) is str else float.__repr__(k)
    if k is None:
        return "null"
    return None


def _conv(v, depth, b, active):
    if v is None:
        return None
    t = type(v)
    if t is bool:
        return v
    if t is int:
        if -_MAX_SAFE <= v <= _MAX_SAFE:
            return v
        return _clip(_int_text(v), b)
    if t is float:
        return _float_json(v)
    if t is str:
        return _clip(v, b)
    if t is list or t is tuple or t is dict:
        if depth >= _MAX_DEPTH or id(v) in active:
            return _safe_repr(v, b)
        active.add(id(v))
        try:
            n = len(v)
            if t is dict:
                for k in dict.keys(v):
                    if _key(k) is None:
                        return _safe_repr(v, b)
                out = {}
                i = 0
                for k, x in dict.items(v):
                    if b.items <= 0 or b.chars <= 0:
                        out["\u2026"] = str(n - i) + " more entries"
                        break
                    b.items -= 1
                    out[_clip(_key(k), b)] = _conv(x, depth + 1, b, active)
                    i += 1
                return out
            out = []
            i = 0
            for x in v:
                if b.items <= 0 or b.chars <= 0:
                    out.append("\u2026 " + str(n - i) + " more items")
                    break
                b.items -= 1
                out.append(_conv(x, depth + 1, b, active))
                i += 1
            return out
        finally:
            active.discard(id(v))
    return _safe_repr(v, b)


def _result(v):
    try:
        return _conv(v, 0, _Budget(), set())
    except Exception:
        return _safe_repr(v, _Budget())


def _user_frame(fs):
    fn = fs.filename
    return not (fn == _SELF or fn.startswith("/lib/python") or fn.startswith("<frozen "))


def _filter(te, seen):
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if _user_frame(f)])
    _filter(te.__cause__, seen)
    _filter(te.__context__, seen)
    for sub in getattr(te, "exceptions", None) or ():
        _filter(sub, seen)


def _format(e, name, message):
    try:
        te = traceback.TracebackException(type(e), e, e.__traceback__, compact=True)
        _filter(te, set())
        text = _exact("".join(te.format()), 10 * _MAX_TB)
    except Exception:
        text = name + ": " + message + "\n"
    if len(text) > _MAX_TB:
        head = _MAX_TB // 4
        text = text[:head] + "\n\u2026[truncated]\u2026\n" + text[-(_MAX_TB - head):]
    return text


def _error(e):
    name = _type_name(e)
    if isinstance(e, SystemExit):
        code = e.code
        # Exactly int or bool (False is status 0, as in CPython); a subclass's __eq__ is guest code.
        if code is None or (type(code) in (int, bool) and code == 0):
            return {"ok": True}
        try:
            message = _exact(str(code), _MAX_MESSAGE)
        except Exception:
            message = "<exit status>"
        return {"ok": False, "type": "SystemExit", "message": message, "traceback": ""}
    try:
        message = _exact(str(e), _MAX_MESSAGE)
    except Exception:
        message = "<exception str() failed>"
    return {
        "ok": False,
        "type": name,
        "message": message,
        "traceback": _format(e, name, message),
        "memory": isinstance(e, MemoryError),
        "interrupt": isinstance(e, KeyboardInterrupt),
    }


def _ok(v, has_expr):
    if not has_expr or v is None:
        return {"ok": True}
    return {"ok": True, "result": _result(v)}


def _flush():
    for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            s.flush()
        except Exception:
            pass


def _register(fname, src):
    lines = src.splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[fname] = (len(src), None, lines, fname)
    kept = _state["sources"]
    kept.append(fname)
    while len(kept) > _KEEP_SOURCES:
        linecache.cache.pop(kept.pop(0), None)


def _quiet(src, last):
    # As in IPython and Pyodide: a ';' right after the last expression hides its value ("plot();").
    if ";" not in src:
        return False
    line = src.replace("\r\n", "\n").replace("\r", "\n").split("\n")[last.end_lineno - 1]
    rest = line.encode("utf-8", "surrogatepass")[last.end_col_offset:].decode("utf-8", "replace")
    return rest.lstrip(" \t\f").startswith(";")


def _compile(src, fname):
    tree = compile(src, fname, "exec", ast.PyCF_ONLY_AST | _TLA, dont_inherit=True)
    last = None
    if tree.body and type(tree.body[-1]) is ast.Expr and not _quiet(src, tree.body[-1]):
        last = tree.body.pop()
    body = compile(tree, fname, "exec", _TLA, dont_inherit=True)
    expr = None
    if last is not None:
        expr = compile(ast.Expression(last.value), fname, "eval", _TLA, dont_inherit=True)
    is_async = bool(body.co_flags & _CO_COROUTINE) or (expr is not None and bool(expr.co_flags & _CO_COROUTINE))
    return body, expr, is_async


async def _run_async(body, expr):
    try:
        if body.co_flags & _CO_COROUTINE:
            await eval(body, _MAIN)
        else:
            exec(body, _MAIN)
        v = None
        if expr is not None:
            v = eval(expr, _MAIN)
            if expr.co_flags & _CO_COROUTINE:
                v = await v
        payload = _ok(v, expr is not None)
    except BaseException as e:
        payload = _error(e)
    _flush()
    return _dumps(payload, ensure_ascii=False, allow_nan=False)


def start(src):
    # One run. Returns the JSON payload (str), or a Task resolving to it when the code awaits.
    _state["n"] += 1
    n = _state["n"]
    _state["active"] = n
    fname = "<code>" if n == 1 else "<code-" + str(n) + ">"
    try:
        _register(fname, src)
        body, expr, is_async = _compile(src, fname)
    except BaseException as e:
        _flush()
        return _dumps(_error(e), ensure_ascii=False, allow_nan=False)
    if is_async:
        loop = asyncio.get_event_loop()
        loop._keyboard_interrupt_handler = lambda: None
        loop._system_exit_handler = lambda code: None
        return loop.create_task(_run_async(body, expr))
    try:
        exec(body, _MAIN)
        v = None
        if expr is not None:
            v = eval(expr, _MAIN)
        payload = _ok(v, expr is not None)
    except BaseException as e:
        payload = _error(e)
    _flush()
    return _dumps(payload, ensure_ascii=False, allow_nan=False)


def end_run():
    # Nothing the guest scheduled may run between runs: drop pending callbacks, cancel tasks.
    _state["active"] = None
    try:
        loop = asyncio.get_event_loop()
        for t in asyncio.all_tasks(loop):
            t.cancel()
            # Its next step never runs (the gate drops it): no "destroyed but pending" noise later.
            t._log_destroy_pending = False
    except Exception:
        pass


def error_payload(e):
    return _dumps(_error(e), ensure_ascii=False, allow_nan=False)


def abort_task(task):
    # The host asked an async run to stop and its Task did not finish. A KeyboardInterrupt that lands
    # in the event loop's own code (between two steps) leaves the Task without a next step, so throw
    # into the run's coroutine directly; it reports like any other exception. None: it went on.
    if task.done():
        return None
    coro = task.get_coro()
    try:
        coro.throw(KeyboardInterrupt())
    except StopIteration as finished:
        value = finished.value
        return value if type(value) is str else None
    except BaseException as e:
        return error_payload(e)
    return None


def install_scheduler(schedule):
    # The event loop's only way to run later: a JavaScript gate that runs a callback only while the
    # run that scheduled it is still going (see the adapter). Nothing runs between runs.
    _webloop.scheduleCallback = schedule


_orig_sleep = _time.sleep


def _interruptible_sleep(secs):
    # Sleep in short slices so the host's interrupt (checked between bytecodes) is seen promptly.
    secs = float(secs)
    if secs != secs or secs < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = _time.monotonic() + secs
    while True:
        left = deadline - _time.monotonic()
        if left <= 0:
            return
        _orig_sleep(min(left, 0.02))
        for _ in range(64):
            pass


_time.sleep = _interruptible_sleep


def _asyncio_run(main, *args, **kwargs):
    if inspect.iscoroutine(main):
        main.close()
    raise RuntimeError(
        "asyncio.run() is not available here: the code already runs inside an event loop. "
        "Use top-level await instead, e.g. 'await main()'."
    )


asyncio.run = _asyncio_run

{"start": start, "end_run": end_run, "abort_task": abort_task, "install_scheduler": install_scheduler}
`;

export const PY_HARDEN_SOURCE = String.raw`
import sys, os, errno, gc, importlib.abc, socket, _socket, subprocess, _posixsubprocess
from _pyodide._importhook import jsfinder as _jsfinder

_TAIL = "is not available in this sandbox"
_BLOCKED = frozenset({
    "js", "pyodide_js", "pyodide", "_pyodide", "_pyodide_core", "micropip",
    "ctypes", "_ctypes", "cffi", "_cffi_backend",
    # CPython's own test modules, built into this interpreter: ready-made out-of-bounds writes and
    # crashers (e.g. _testcapi.pymem_buffer_overflow) that no user program needs. _remote_debugging
    # reads a process's memory: pointed at its own, it aborts the interpreter.
    "_testcapi", "_testinternalcapi", "_testlimitedcapi", "_testbuffer", "_testclinic",
    "_testclinic_limited", "_testmultiphase", "_testsinglephase", "_testimportmultiple",
    "_xxtestfuzz", "xxsubtype", "_remote_debugging",
})

# No JavaScript modules at all (Pyodide registers 'js' and 'pyodide_js').
_jsfinder.jsproxies.clear()


class _SandboxImportBlocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in _BLOCKED:
            raise ModuleNotFoundError("No module named " + repr(fullname) + ": it " + _TAIL, name=fullname)
        return None


sys.meta_path.insert(0, _SandboxImportBlocker())
_loader = None
for _name in list(sys.modules):
    if _name.partition(".")[0] in _BLOCKED:
        # The loader of a JavaScript module (pyodide_js, pyodide_js._api) keeps the JsProxy it made
        # the module from, Pyodide's API object: it outlives the module, and a gc walk finds it.
        _loader = getattr(getattr(sys.modules[_name], "__spec__", None), "loader", None)
        if type(_loader).__name__ == "JsLoader":
            _loader.jsproxy = None
        del sys.modules[_name]
del _loader


def _no_programs(*args, **kwargs):
    raise PermissionError(errno.EPERM, "running programs " + _TAIL)


import posix as _posix
for _mod in (os, _posix):
    for _name in (
        "system", "popen", "fork", "forkpty", "execv", "execve", "execl", "execle", "execlp",
        "execlpe", "execvp", "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv",
        "spawnve", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp",
    ):
        if hasattr(_mod, _name):
            setattr(_mod, _name, _no_programs)
_posixsubprocess.fork_exec = _no_programs


class Popen:
    def __init__(self, *args, **kwargs):
        _no_programs()


subprocess.Popen = Popen


def _no_network(*args, **kwargs):
    raise PermissionError(errno.EACCES, "network access " + _TAIL)


class _NoSocket(socket.socket):
    __slots__ = ()

    def __init__(self, *args, **kwargs):
        _no_network()


socket.socket = _NoSocket
_socket.socket = _NoSocket
_socket.SocketType = _NoSocket
for _name in ("create_connection", "create_server", "socketpair", "fromfd", "fromshare"):
    if hasattr(socket, _name):
        setattr(socket, _name, _no_network)
for _name in ("socketpair",):
    if hasattr(_socket, _name):
        setattr(_socket, _name, _no_network)


def _no_gc_walk(*args, **kwargs):
    raise PermissionError(errno.EPERM, "walking the interpreter's objects " + _TAIL)


gc.get_objects = _no_gc_walk
gc.get_referrers = _no_gc_walk
gc.get_referents = _no_gc_walk


class _PatchedModuleLoader(importlib.abc.Loader):
    # A built-in module imported again (after 'del sys.modules[...]') is rebuilt from its first
    # import's dictionary, with the functions patched out above back in place: serve the patched one.
    def __init__(self, module):
        self._module = module

    def create_module(self, spec):
        return self._module

    def exec_module(self, module):
        pass


class _PatchedModuleFinder(importlib.abc.MetaPathFinder):
    def __init__(self, modules):
        self._modules = modules

    def find_spec(self, fullname, path=None, target=None):
        module = self._modules.get(fullname)
        if module is None:
            return None
        import importlib.util
        return importlib.util.spec_from_loader(fullname, _PatchedModuleLoader(module))


sys.meta_path.insert(0, _PatchedModuleFinder({"gc": gc, "posix": sys.modules.get("posix"), "_socket": _socket}))

del _name, _mod
`;

/** Modules imported into the snapshot so that the runner and common guest imports start warm. */
export const SNAPSHOT_PRELOAD_SOURCE = `
def _preload():
    # Imported inside a function: into sys.modules, never into the notebook's namespace.
    import ast, linecache, traceback, inspect, json, asyncio, errno, gc, importlib.abc, socket, subprocess
    import re, math, cmath, random, statistics, decimal, fractions, collections, collections.abc, itertools
    import functools, operator, datetime, time, calendar, string, textwrap, io, base64, binascii, hashlib
    import struct, copy, enum, dataclasses, typing, pathlib, heapq, bisect, pprint, csv, uuid
    import urllib.request, urllib.error, http.client, shutil, tempfile, types, zipfile, importlib.machinery
    # The wheel finder reads the site directory at every boot; its first call parses the build's
    # configuration (~0.1 s), which the snapshot then holds.
    import sysconfig
    sysconfig.get_paths()


_preload()
del _preload
`;

/**
 * Last step of every interpreter's load, before any guest code: the notebook namespace holds only
 * what Python itself puts there (loading left '_pyodide_core' in it, a module the import blocker
 * refuses), and the random generator, whose state the snapshot froze, is seeded from os.urandom:
 * otherwise every interpreter would draw the same numbers.
 */
export const FRESH_INTERPRETER_SOURCE = `
import sys, random
_main = sys.modules["__main__"].__dict__
for _k in [k for k in _main if not k.startswith("__")]:
    del _main[_k]
random.seed()
`;
