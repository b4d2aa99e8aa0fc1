/**
 * The sandbox's own Python sources, compiled once into the memory snapshot instead of at every load.
 *
 * Every interpreter runs the runner, the wheel finder, the hardening and the network layer (~1,500
 * lines) before its first guest code. Compiling them cost ~0.16 s in a process's first interpreter
 * (Python's parser and compiler were still cold there) and ~20 ms in every later one, on the path of
 * a server's first run_python and of every sessionless one. The snapshot maker compiles them with
 * Pyodide's own `CodeRunner` (exactly what `runPython` does, so the last expression's value and the
 * `<sandbox>` filename are unchanged) and leaves the compiled runners in a private module of the
 * snapshot.
 *
 * The code is keyed by its exact source text: a source that differs from the one baked in is compiled
 * afresh, never replaced by stale code. An interpreter booted without a snapshot compiles everything.
 * `takePrecompiled` removes the module from `sys.modules` before any guest code exists, and each
 * compiled runner is handed out once, so nothing of it outlives the load.
 */

/** The private module the snapshot carries (absent from any interpreter after its load). */
const MODULE_NAME = '_sandbox_precompiled';

/** Defines `bake(sources, filename)`, which the snapshot maker calls before taking the snapshot. */
const BAKE_SOURCE = String.raw`
import sys, types
from pyodide.code import CodeRunner

def bake(sources, filename):
    compiled = {}
    for source in sources:
        runner = CodeRunner(source, filename=filename).compile()
        runner.ast = None  # only needed to compile; the snapshot need not carry it
        compiled[source] = runner

    def run(source, globals):
        runner = compiled.pop(source, None)
        if runner is None:
            runner = CodeRunner(source, filename=filename).compile()
        return runner.run(globals)

    module = types.ModuleType(${JSON.stringify(MODULE_NAME)})
    module.run = run
    sys.modules[module.__name__] = module

bake
`;

/** Takes the module out of `sys.modules` and answers its `run`, or None without a (baked) snapshot. */
const TAKE_SOURCE = String.raw`
import sys
_m = sys.modules.pop(${JSON.stringify(MODULE_NAME)}, None)
None if _m is None else _m.run
`;

type RunPython = (code: string, options?: { globals?: unknown; filename?: string }) => unknown;
interface PyCallable {
  (...args: unknown[]): unknown;
  destroy(): void;
}

/** Run `code` in a fresh private namespace and answer its last expression's value. */
function runPrivately(runPython: RunPython, code: string, filename: string): unknown {
  const globals = runPython('dict()') as { destroy(): void };
  try {
    return runPython(code, { globals, filename });
  } finally {
    globals.destroy();
  }
}

interface ToPy {
  toPy(value: unknown): { destroy(): void };
}

/** In the snapshot maker: compile `sources` into the interpreter about to be snapshotted. */
export function bakeSources(pyodide: ToPy & { runPython: RunPython }, sources: readonly string[], filename: string): void {
  const bake = runPrivately(pyodide.runPython.bind(pyodide), BAKE_SOURCE, filename) as PyCallable;
  // A Python list, not a JsProxy: a snapshot must hold no reference to a JavaScript object.
  const list = pyodide.toPy([...sources]);
  try {
    bake(list, filename);
  } finally {
    list.destroy();
    bake.destroy();
  }
}

/** Runs one of the sandbox's sources, from the snapshot's compiled code when it has it. */
export interface SourceRunner {
  run(source: string, globals: unknown): unknown;
  /** Release the compiled code; call once the load has run every source. */
  close(): void;
}

/** At load, before any guest code: the snapshot's compiled sources, or plain `runPython` without them. */
export function takePrecompiled(runPython: RunPython, filename: string): SourceRunner {
  let baked = runPrivately(runPython, TAKE_SOURCE, filename) as PyCallable | undefined;
  return {
    run: (source, globals) => (baked ? baked(source, globals) : runPython(source, { globals, filename })),
    close: () => {
      baked?.destroy();
      baked = undefined;
    },
  };
}
