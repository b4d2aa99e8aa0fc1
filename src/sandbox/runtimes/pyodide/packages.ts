/**
 * Python packages from the policy's `python.packagesDir`: an `import` of a module that is not in the
 * standard library finds the wheel that provides it, unpacks it into site-packages (in memory) and
 * imports it. Nothing is fetched from anywhere: the wheels are the run's `ctx.packages`, whose bytes
 * the sandbox host checked against the signed capsule; Pyodide's own package loading stays cut.
 *
 * How: a finder at the end of `sys.meta_path` (so the standard library always wins) is asked only for
 * top-level names nothing else found. It asks the adapter to copy a wheel into MEMFS (`/lib/wheels`,
 * never exported) — first the wheels whose distribution name matches, then the other pure-Python
 * ones — and indexes each wheel's top-level names (`*.dist-info/top_level.txt`, else RECORD, else the
 * file name). The wheel that provides the name is unpacked once per interpreter.
 *
 * Pure-Python wheels only (platform tag `any`): a wheel with native code (`.so`...) is refused with a
 * clear error, because the sandbox refuses `dlopen`. A name no wheel provides raises
 * ModuleNotFoundError saying how to provide it — for `import` statements and `importlib.import_module`;
 * a probe (`importlib.util.find_spec`) still answers None.
 */
import type { PythonPackage } from '../types.js';
import type { GuestTree } from './files.js';

/** Where wheels are copied for Python to read: under /lib, which no policy prefix may overlap. */
export const WHEEL_DIR = '/lib/wheels';

export const PACKAGES_SOURCE = String.raw`
import sys, os, re, sysconfig, importlib, importlib.abc, importlib.machinery, json

_SITE = sysconfig.get_paths()["purelib"]
_WHEEL_DIR = "${WHEEL_DIR}"
_NATIVE = (".so", ".pyd", ".dylib", ".dll", ".wasm")
_MAX_UNPACKED = 256 * 1024 * 1024
_state = {"wheels": (), "index": {}, "scanned": set(), "installed": set(), "broken": {}, "write": None}
_PathFinder = importlib.machinery.PathFinder
_getframe = sys._getframe
_HOW = "the policy's python.packagesDir"


def _norm(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def _dist(filename):
    return _norm(filename.split("-", 1)[0])


def _pure(filename):
    return filename[:-4].rsplit("-", 1)[-1] == "any"


def set_wheels(names_json):
    _state["wheels"] = tuple(str(n) for n in json.loads(names_json))


def _top_levels(zf, filename):
    names = zf.namelist()
    record = None
    for n in names:
        parts = n.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info"):
            if parts[1] == "top_level.txt":
                tops = [line.strip().split("/")[0] for line in zf.read(n).decode("utf-8", "replace").splitlines()]
                tops = [t for t in tops if t]
                if tops:
                    return tops
            elif parts[1] == "RECORD":
                record = [line.split(",", 1)[0] for line in zf.read(n).decode("utf-8", "replace").splitlines()]
    tops = set()
    for entry in record if record is not None else names:
        parts = entry.split("/")
        first = parts[0]
        if not first or first.endswith((".dist-info", ".data")) or first == "__pycache__":
            continue
        if len(parts) > 1:
            tops.add(first)
        elif first.endswith(".py"):
            tops.add(first[:-3])
    return sorted(tops) or [_dist(filename)]


def _scan(filename):
    import zipfile
    _state["scanned"].add(filename)
    path = _state["write"](filename)
    if not path:
        return
    try:
        with zipfile.ZipFile(path) as zf:
            for top in _top_levels(zf, filename):
                _state["index"].setdefault(top, filename)
    except Exception as e:
        _state["broken"][filename] = type(e).__name__ + ": " + str(e)[:200]


def _lookup(name):
    index = _state["index"]
    if name not in index:
        todo = [w for w in _state["wheels"] if w not in _state["scanned"] and _pure(w)]
        want = _norm(name)
        first = [w for w in todo if _dist(w) == want]
        # A private name (a probe for an optional C module) never costs a scan of every wheel.
        rest = [] if name.startswith("_") else [w for w in todo if _dist(w) != want]
        for w in first + rest:
            _scan(w)
            if name in index:
                break
    return index.get(name)


def _install(filename):
    import zipfile
    if filename in _state["installed"]:
        return
    try:
        with zipfile.ZipFile(_WHEEL_DIR + "/" + filename) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            for i in infos:
                base = i.filename.rsplit("/", 1)[-1]
                if base.endswith(_NATIVE) or ".so." in base:
                    raise ImportError(
                        "the wheel " + repr(filename) + " contains native code (" + i.filename + "); run_python "
                        "loads pure-Python wheels only, because loading native libraries is refused in the sandbox"
                    )
            if sum(i.file_size for i in infos) > _MAX_UNPACKED:
                raise ImportError("the wheel " + repr(filename) + " unpacks to more than " + str(_MAX_UNPACKED) + " bytes")
            planned = []
            for i in infos:
                parts = i.filename.split("/")
                if i.filename.startswith("/") or "\\" in i.filename or any(p in ("", ".", "..") for p in parts):
                    raise ImportError("the wheel " + repr(filename) + " has an unsafe entry " + repr(i.filename))
                if parts[0].endswith(".data"):
                    if len(parts) > 2 and parts[1] in ("purelib", "platlib"):
                        parts = parts[2:]
                    else:
                        continue
                planned.append((i, os.path.join(_SITE, *parts)))
            for i, dest in planned:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with open(dest, "wb") as f:
                    f.write(zf.read(i))
    except zipfile.BadZipFile as e:
        raise ImportError("the wheel " + repr(filename) + " is damaged: " + str(e)[:200]) from None
    _state["installed"].add(filename)
    importlib.invalidate_caches()


def _by_import_statement():
    # find_spec <- _find_spec <- _find_and_load_unlocked: an import statement or import_module().
    # importlib.util.find_spec calls _find_spec itself: a probe, which must get None, not an error.
    try:
        return _getframe(3).f_code.co_name == "_find_and_load_unlocked"
    except ValueError:
        return False


def _hint(name):
    wheels = _state["wheels"]
    msg = "No module named " + repr(name) + ". "
    native = [w for w in wheels if not _pure(w) and _dist(w) == _norm(name)]
    if native:
        return msg + ("The wheel " + repr(native[0]) + " in " + _HOW + " is built for a platform (native code); "
                      "run_python loads pure-Python wheels only (tagged 'none-any').")
    broken = [w + " (" + why + ")" for w, why in _state["broken"].items()]
    if wheels:
        return msg + ("None of the " + str(len(wheels)) + " wheels in " + _HOW + " provides it"
                      + ("; unreadable: " + ", ".join(broken) if broken else "")
                      + ". Nothing is ever downloaded: add a pure-Python wheel that provides " + repr(name) + " to that directory.")
    return msg + ("run_python has the standard library only and never downloads packages. To use " + repr(name)
                  + ", put a pure-Python wheel (.whl) that provides it in a directory on the server and name "
                  "that directory as python.packagesDir in the server's policy.")


class _WheelFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if path is not None or "." in fullname:
            return None
        wheel = _lookup(fullname) if _state["wheels"] else None
        if wheel is None:
            if _by_import_statement():
                raise ModuleNotFoundError(_hint(fullname), name=fullname)
            return None
        _install(wheel)
        return _PathFinder.find_spec(fullname, [_SITE])


def install(write):
    _state["write"] = write
    sys.meta_path.append(_WheelFinder())


{"install": install, "set_wheels": set_wheels}
`;

interface PyCallable {
  (...args: unknown[]): unknown;
  destroy(): void;
}

/**
 * The adapter's half: holds the current run's wheels and copies one into MEMFS when the finder asks
 * (each at most once per interpreter). Nothing else crosses: the finder gets a path or nothing.
 */
export class WheelShelf {
  private current = new Map<string, Uint8Array>();
  private readonly written = new Set<string>();
  private announced = '[]';

  constructor(
    private readonly tree: GuestTree,
    private readonly setWheels: PyCallable,
  ) {}

  /** Before each run: the wheels this run's capsule lists. */
  beginRun(packages: readonly PythonPackage[] | undefined): void {
    this.current = new Map((packages ?? []).map((p) => [p.filename, p.data]));
    const names = JSON.stringify([...this.current.keys()]);
    if (names !== this.announced) {
      this.setWheels(names);
      this.announced = names;
    }
  }

  /** Called by the finder (inside Python): the wheel's MEMFS path, or undefined. Never throws. */
  readonly write = (filename: unknown): string | undefined => {
    try {
      if (typeof filename !== 'string') return undefined;
      const data = this.current.get(filename);
      if (data === undefined) return undefined;
      const path = `${WHEEL_DIR}/${filename}`;
      if (!this.written.has(filename)) {
        this.tree.privileged(() => {
          if (this.tree.lstat(WHEEL_DIR)?.kind !== 'dir') this.tree.mkdir(WHEEL_DIR, 0o755);
          this.tree.write(path, data, 0o444, undefined);
        });
        this.written.add(filename);
      }
      return path;
    } catch {
      return undefined;
    }
  };
}

/**
 * Installs the finder in a loaded interpreter (before any guest code) and returns the shelf that
 * feeds it. `runPython` runs source in a private namespace and returns the last expression.
 */
export function installWheelFinder(
  runPython: (code: string, globals: unknown) => unknown,
  freshNamespace: () => { get(key: string): unknown; destroy(): void },
  tree: GuestTree,
): WheelShelf {
  const ns = freshNamespace();
  const fns = runPython(PACKAGES_SOURCE, ns) as { get(key: string): unknown; destroy(): void };
  const install = fns.get('install') as PyCallable;
  const shelf = new WheelShelf(tree, fns.get('set_wheels') as PyCallable);
  install(shelf.write);
  install.destroy();
  fns.destroy();
  ns.destroy();
  return shelf;
}
