/**
 * The sandbox's own Python sources travel compiled in the memory snapshot (pyodide/precompiled.ts).
 * An interpreter booted from the snapshot in this thread: the compiled code is there, is used instead
 * of compiling, is handed out once and only for its exact source, and leaves no trace a guest could
 * find. (Booting without a snapshot, where everything is compiled as before, is what
 * pyodide-runtime.test.ts does for its whole file.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createPyodideAdapter } from '../../../src/sandbox/runtimes/pyodide.js';
import { bootPyodide, pyodideDir } from '../../../src/sandbox/runtimes/pyodide/boot.js';
import { NETWORK_SOURCE } from '../../../src/sandbox/runtimes/pyodide/network.js';
import { takePrecompiled } from '../../../src/sandbox/runtimes/pyodide/precompiled.js';
import { PY_HARDEN_SOURCE, RUNNER_SOURCE, SANDBOX_FILENAME } from '../../../src/sandbox/runtimes/pyodide/python.js';
import { testSnapshot } from './pyodide/build.js';
import { LIMITS, Stopper, runIn } from './pyodide/helpers.js';

interface Py {
  runPython(code: string, options?: { globals?: unknown; filename?: string }): unknown;
}
interface PyDict {
  get(key: string): unknown;
  has(key: string): boolean;
  destroy(): void;
}

let snapshot: Uint8Array;
let wasmModule: object;

/**
 * A fresh interpreter from the test snapshot that counts the Python sources it parses: every
 * runPython, and every compile of a source, calls the builtin `compile` once with the source text.
 * `parsed()` answers the count since its last call, not counting its own read.
 */
async function bootCounting(): Promise<{ runPython: Py['runPython']; parsed: () => number }> {
  const b = await bootPyodide({ dir: pyodideDir(), snapshot, wasmModule, denyHostImports: true, print: () => undefined });
  const py = b.pyodide as unknown as Py;
  const runPython = py.runPython.bind(py);
  runPython(`
import builtins
_compile = builtins.compile
builtins.parsed_sources = 0
def _counting(source, *args, **kwargs):
    if isinstance(source, str):
        builtins.parsed_sources += 1
    return _compile(source, *args, **kwargs)
builtins.compile = _counting
`);
  const read = () => runPython('import builtins\nbuiltins.parsed_sources') as number;
  let last = read();
  const parsed = () => {
    const now = read();
    const n = now - last - 1;
    last = now;
    return n;
  };
  return { runPython, parsed };
}

const fresh = (runPython: Py['runPython']) => runPython('dict()') as PyDict;

beforeAll(async () => {
  const maker = createPyodideAdapter({ unsafeDisableLayers: ['realm'] });
  snapshot = (await testSnapshot(() => maker.makeSnapshot())).snapshot;
  wasmModule = await maker.compileWasm();
});

describe('sources compiled into the snapshot', () => {
  it('are run without compiling, with runPython’s result: the value of the last expression', async () => {
    const { runPython, parsed } = await bootCounting();
    expect(runPython('import sys\n"_sandbox_precompiled" in sys.modules')).toBe(true);
    parsed();
    const sources = takePrecompiled(runPython, SANDBOX_FILENAME);
    expect(parsed()).toBe(2); // the take itself and its namespace, through runPython
    const ns = fresh(runPython);
    const fns = sources.run(RUNNER_SOURCE, ns) as PyDict;
    expect(parsed()).toBe(1); // only fresh()'s "dict()": the runner's source was not compiled
    expect(typeof fns.get('start')).toBe('function');
    expect(fns.has('end_run')).toBe(true);
    sources.run(PY_HARDEN_SOURCE, fresh(runPython));
    expect(sources.run(NETWORK_SOURCE, fresh(runPython))).toBeTypeOf('function');
    expect(parsed()).toBe(2); // the two fresh() namespaces
    sources.close();
  });

  it('are handed out once, and only for their exact source text', async () => {
    const { runPython, parsed } = await bootCounting();
    const sources = takePrecompiled(runPython, SANDBOX_FILENAME);
    parsed();
    const ns = fresh(runPython);
    sources.run(RUNNER_SOURCE, ns);
    expect(parsed()).toBe(1);
    // The same source a second time: compiled afresh, same result.
    expect(typeof (sources.run(RUNNER_SOURCE, fresh(runPython)) as PyDict).get('start')).toBe('function');
    expect(parsed()).toBeGreaterThan(1);
    // A source that differs from a baked one by a single character is compiled, never swapped.
    const changed = `${PY_HARDEN_SOURCE}\nharden_variant = 42\nharden_variant`;
    expect(sources.run(changed, fresh(runPython))).toBe(42);
    expect(parsed()).toBeGreaterThan(1);
    expect(sources.run('x = 6\nx * 7', fresh(runPython))).toBe(42);
    sources.close();
    // After close: plain runPython, still in the given namespace and with the sandbox's filename.
    const after = fresh(runPython);
    expect(sources.run('import sys\ny = sys._getframe().f_code.co_filename\ny', after)).toBe(SANDBOX_FILENAME);
    expect(after.get('y')).toBe(SANDBOX_FILENAME);
  });

  it('leave nothing a guest can find once the interpreter is loaded', async () => {
    const stopper = new Stopper();
    const adapter = createPyodideAdapter({ unsafeDisableLayers: ['realm'] });
    await adapter.load({ snapshot, wasmModule });
    const instance = await adapter.createInstance({ memMb: LIMITS.memMb, control: stopper.control });
    try {
      const r = await runIn(instance, stopper, 'import sys\n[m for m in sys.modules if "precompiled" in m]');
      expect(r.outcome).toEqual({ status: 'ok', result: [] });
      const next = await runIn(instance, stopper, '6 * 7');
      expect(next.outcome).toEqual({ status: 'ok', result: 42 });
    } finally {
      instance.dispose();
      await stopper.close();
    }
  });
});
