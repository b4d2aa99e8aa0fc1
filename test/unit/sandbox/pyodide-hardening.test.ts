/**
 * The escape suite of run_python. Each hardening layer of the Pyodide adapter is proven on its own
 * (the others switched off with the test-only `unsafeDisableLayers`), so that removing a layer fails
 * its tests; then everything together under Node's permission model in a child process, like the
 * sandbox host runs it. Every attack asserts that the host was not touched — a canary file not read,
 * no file written, no process spawned, no connection accepted on a loopback listener owned by the
 * test — and that the runtime answers the next call.
 */
import { spawn as spawnProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPyodideAdapter, type HardeningLayer } from '../../../src/sandbox/runtimes/pyodide.js';
import type { RunOutcome, RuntimeInstance } from '../../../src/sandbox/runtimes/types.js';
import { buildAdapter, PROJECT_ROOT, testSnapshot, type BuiltAdapter } from './pyodide/build.js';
import { PyWorker, type PyOutcome } from './pyodide/controller.mjs';
import { Listener, Stopper, runIn } from './pyodide/helpers.js';

const SANDBOX_REFUSAL = 'not available in this sandbox';
const STDIN_SECRET = `HOST-STDIN-${crypto.randomBytes(6).toString('hex')}`;

let built: BuiltAdapter;
let snapshot: Uint8Array;
let wasmModule: object;
let listener: Listener;
let port = 0;
let hostDir: string;
let canary: string;
let secret: string;
let seq = 0;

/** A fresh host path the guest will try to create (by a spawned process or a write). */
const target = (label: string) => path.join(hostDir, `${label}-${++seq}`);
const py = (s: string) => JSON.stringify(s);

interface Seen {
  outcome: RunOutcome | PyOutcome;
  stdout: string;
  stderr: string;
}

/** The host was not touched: nothing leaked, nothing created in the host directory, no connection. */
function expectHostUntouched(seen: Seen, created: string[] = []): void {
  const text = JSON.stringify(seen);
  expect(text).not.toContain(secret);
  expect(text).not.toContain(STDIN_SECRET);
  for (const p of created) expect(fs.existsSync(p), `${p} must not exist`).toBe(false);
  expect(fs.readdirSync(hostDir)).toEqual(['secret.txt']);
  expect(listener.connections).toBe(0);
}

function errorOf(outcome: RunOutcome | PyOutcome): { type: string; message: string } {
  expect(outcome.status).toBe('error');
  const e = (outcome as { error?: { type: string; message: string } }).error;
  return { type: e?.type ?? '', message: e?.message ?? '' };
}

beforeAll(async () => {
  built = buildAdapter();
  const maker = createPyodideAdapter({ unsafeDisableLayers: ['realm'] });
  snapshot = (await testSnapshot(() => maker.makeSnapshot())).snapshot;
  wasmModule = await maker.compileWasm();
  listener = new Listener();
  port = await listener.listen();
  hostDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pyodide-canary-')));
  secret = `CANARY-${crypto.randomBytes(8).toString('hex')}`;
  canary = path.join(hostDir, 'secret.txt');
  fs.writeFileSync(canary, secret);
});

afterAll(async () => {
  await listener?.close();
  built?.cleanup();
  if (hostDir) fs.rmSync(hostDir, { recursive: true, force: true });
});

/** An interpreter in this thread, with some layers off (never `realm`: it would harden the test runner). */
async function inProcess(disable: HardeningLayer[]): Promise<{ run: (code: string) => Promise<Seen>; close: () => Promise<void> }> {
  const stopper = new Stopper();
  const adapter = createPyodideAdapter({ unsafeDisableLayers: [...disable, 'realm'] });
  await adapter.load({ snapshot, wasmModule });
  const instance: RuntimeInstance = await adapter.createInstance({ memMb: 256, control: stopper.control });
  return {
    run: async (code) => {
      const r = await runIn(instance, stopper, code, { limits: { timeoutMs: 20_000 } });
      return { outcome: r.outcome, stdout: r.stdout, stderr: r.stderr };
    },
    close: async () => {
      instance.dispose();
      await stopper.close();
    },
  };
}

describe('layer `python` alone: convenience blocks with a clear error', () => {
  let guest: Awaited<ReturnType<typeof inProcess>>;
  beforeAll(async () => {
    guest = await inProcess(['wasm-imports']);
  });
  afterAll(async () => guest?.close());

  const refused: Array<[string, (t: string) => string]> = [
    ['import js', () => 'import js'],
    ['import pyodide_js', () => 'import pyodide_js'],
    ['pyodide.code.run_js', () => 'from pyodide.code import run_js\nrun_js("1")'],
    ['pyodide.ffi', () => 'from pyodide.ffi import create_proxy, to_js, JsProxy'],
    ['_pyodide_core', () => 'import _pyodide_core'],
    ['_pyodide internals', () => 'import _pyodide._importhook'],
    ['__import__', () => '__import__("js")'],
    ['importlib re-import', () => 'import importlib\nimportlib.import_module("pyodide_js")'],
    ['importlib.util.find_spec', () => 'import importlib.util\nimportlib.util.find_spec("pyodide_js")'],
    ['gc.get_objects scan', () => 'import gc\n[o for o in gc.get_objects() if "JsProxy" in type(o).__name__]'],
    ['gc.get_referents', () => 'import gc, sys\ngc.get_referents(sys.modules)'],
    ['import ctypes', () => 'import ctypes'],
    ['import cffi', () => 'import cffi'],
    ['os.system', (t) => `import os\nos.system(${py(`touch ${t}`)})`],
    ['os.popen', (t) => `import os\nos.popen(${py(`touch ${t}`)}).read()`],
    ['subprocess.run', (t) => `import subprocess\nsubprocess.run(["touch", ${py(t)}])`],
    ['socket.create_connection', () => `import socket\nsocket.create_connection(("127.0.0.1", ${port}), timeout=2)`],
    ['socket.socket().connect', () => `import socket\ns = socket.socket()\ns.connect(("127.0.0.1", ${port}))`],
    ['asyncio.open_connection', () => `import asyncio\nawait asyncio.open_connection("127.0.0.1", ${port})`],
  ];

  it.each(refused)('refuses %s', async (_name, code) => {
    const t = target('spawned');
    const r = await guest.run(code(t));
    expect(errorOf(r.outcome).message).toContain(SANDBOX_REFUSAL);
    expectHostUntouched(r, [t]);
    expect((await guest.run('6 * 7')).outcome).toEqual({ status: 'ok', result: 42 });
  });

  it('leaves no JavaScript module in sys.modules and `js` empty', async () => {
    // `pyodide` and `pyodide.http` may be there: the sandbox's own pure-Python network module.
    const r = await guest.run(
      'import sys\nsorted(m for m in sys.modules if m.split(".")[0] in ("js", "pyodide_js", "pyodide", "_pyodide", "_pyodide_core") and m not in ("pyodide", "pyodide.http"))',
    );
    expect(r.outcome).toEqual({ status: 'ok', result: [] });
    const own = await guest.run('import sys, pyodide\n[sorted(n for n in vars(pyodide) if not n.startswith("__")), pyodide.__path__, pyodide is sys.modules["pyodide"]]');
    expect(own.outcome).toEqual({ status: 'ok', result: [['http'], [], true] });
    const k = await guest.run('import sys\nsys.modules["pyodide_js"]');
    expect(errorOf(k.outcome).type).toBe('KeyError');
  });
});

describe('layer `wasm-imports` alone: the interpreter cannot reach the host through its imports', () => {
  let guest: Awaited<ReturnType<typeof inProcess>>;
  beforeAll(async () => {
    guest = await inProcess(['python']);
  });
  afterAll(async () => guest?.close());

  it('os.system() runs no shell', async () => {
    const t = target('spawned');
    const r = await guest.run(`import os\nos.system(${py(`touch ${t}`)})`);
    expect(r.outcome).toMatchObject({ status: 'ok' });
    expect((r.outcome as { result?: unknown }).result).not.toBe(0);
    expectHostUntouched(r, [t]);
  });

  it('ctypes reaches no libc system() and loads no library', async () => {
    const t = target('spawned');
    const r = await guest.run(`import ctypes\ntry:\n    ctypes.CDLL(None).system(${py(`touch ${t}`)}.encode())\nexcept OSError as e:\n    print(type(e).__name__)\nctypes.CDLL("/tmp/evil.so")`);
    expect(r.outcome.status).toBe('error');
    expectHostUntouched(r, [t]);
  });

  it('opens no socket: connect(), asyncio and the Pyodide socket layer fail', async () => {
    const r1 = await guest.run(`import socket\ns = socket.socket()\ns.connect(("127.0.0.1", ${port}))`);
    expect(errorOf(r1.outcome).type).toBe('PermissionError');
    const r2 = await guest.run(`import asyncio\nawait asyncio.open_connection("127.0.0.1", ${port})`);
    expect(r2.outcome.status).toBe('error');
    await new Promise((r) => setTimeout(r, 200));
    expectHostUntouched(r2);
    expect((await guest.run('6 * 7')).outcome).toEqual({ status: 'ok', result: 42 });
  });
});

describe('layer `realm` alone: a guest holding JsProxies to Pyodide itself gets nothing', () => {
  let w: PyWorker;
  const runRealm = async (code: string): Promise<Seen> => {
    if (!w?.alive) {
      w = new PyWorker({ workerUrl: built.workerUrl, adapterUrl: built.adapterUrl, snapshot, wasmModule, disable: ['python', 'wasm-imports'] });
      await w.ready;
    }
    const r = await w.run(code, { timeoutMs: 20_000 });
    if (r.outcome.fatal) await w.close();
    return r;
  };
  const nextAnswers = async () => expect((await runRealm('6 * 7')).outcome).toEqual({ status: 'ok', result: 42 });
  afterAll(async () => w?.close());

  it('the internal API object a module loader still holds keeps no reference to the shared snapshot', async () => {
    // A probe wrote config._loadSnapshot (the SharedArrayBuffer every later interpreter loads from)
    // through the loader of pyodide_js._api, found with gc: every later interpreter got its bytes.
    const r = await runRealm(
      [
        'import gc',
        'from _pyodide._importhook import JsLoader',
        'apis = [l.jsproxy for l in gc.get_objects() if type(l) is JsLoader and l.jsproxy is not None and hasattr(l.jsproxy, "config")]',
        '[len(apis) > 0, [getattr(a.config, "_loadSnapshot", None) is None for a in apis]]',
      ].join('\n'),
    );
    expect(r.outcome).toEqual({ status: 'ok', result: [true, [true]] });
    await nextAnswers();
  });

  it('hides _api, _module and FS of the Pyodide API object', async () => {
    const r = await runRealm('import pyodide_js\n[getattr(pyodide_js, k, None) is None for k in ("_api", "_module", "FS", "PATH")]');
    expect(r.outcome).toEqual({ status: 'ok', result: [true, true, true, true] });
  });

  it.each([
    ['mountNodeFS of a host directory', () => `import pyodide_js\npyodide_js.mountNodeFS("/mnt", ${py(hostDir)})\nopen("/mnt/secret.txt").read()`],
    ['useNodeSockFS (real TCP)', () => 'import pyodide_js\nawait pyodide_js.useNodeSockFS()'],
    ['loadPackage (network download)', () => 'import pyodide_js\nawait pyodide_js.loadPackage("micropip")'],
    ['setStdin() back to the host fd 0', () => 'import pyodide_js\npyodide_js.setStdin()\ninput()'],
    ['setStdout() around the output caps', () => 'import pyodide_js\npyodide_js.setStdout()'],
    ['setInterruptBuffer(None) to ignore stops', () => 'import pyodide_js\npyodide_js.setInterruptBuffer(None)'],
    ['Function from .constructor.constructor', () => 'import pyodide_js\npyodide_js.constructor.constructor("return globalThis.process")()'],
    ['AsyncFunction from an async JS function', () => 'import pyodide_js\nf = pyodide_js.loadPackage\nf.constructor.constructor("return 1")()'],
    ['run_js (eval)', () => 'from pyodide.code import run_js\nrun_js("globalThis.process.getBuiltinModule(\'child_process\')")'],
    ['poisoning Object.prototype', () => 'from pyodide.ffi import to_js\nto_js({}).constructor.prototype.polluted = "yes"'],
    ['poisoning Array.prototype.push', () => 'from pyodide.ffi import to_js\nto_js([]).constructor.prototype.push = None'],
    ['poisoning JSON.parse through a prototype chain', () => 'from pyodide.ffi import to_js\no = to_js({})\no.constructor.assign = None'],
  ])('refuses %s', async (_name, code) => {
    const r = await runRealm(code());
    expect(r.outcome.status).toBe('error');
    expectHostUntouched(r);
    await nextAnswers();
  });

  it('prototypes stayed clean', async () => {
    const r = await runRealm('from pyodide.ffi import to_js\n[hasattr(to_js({}), "polluted"), to_js([1]).constructor.prototype.push is None]');
    expect(r.outcome).toEqual({ status: 'ok', result: [false, false] });
  });

  it('without the wasm layer, system() and sockets still reach nothing: Node modules are cut', async () => {
    const t = target('spawned');
    const r1 = await runRealm(`import os\nos.system(${py(`touch ${t}`)})`);
    expectHostUntouched(r1, [t]);
    const r2 = await runRealm(`import socket\ns = socket.socket()\ns.connect(("127.0.0.1", ${port}))`);
    expect(r2.outcome.status).toBe('error');
    await new Promise((r) => setTimeout(r, 300));
    expectHostUntouched(r2);
    await nextAnswers();
  });

  it('every JsProxy the guest can find through gc is harmless', async () => {
    const code = [
      'import gc',
      'from pyodide.ffi import JsProxy',
      'found = {}',
      'for o in gc.get_objects():',
      '    vals = list(o.values()) if type(o) is dict else (o if type(o) in (list, tuple) else ())',
      '    for v in vals:',
      '        if isinstance(v, JsProxy):',
      '            found[id(v)] = v',
      'bad = []',
      'for v in found.values():',
      '    for name in ("_module", "_api", "FS", "process", "require"):',
      '        try:',
      '            if getattr(v, name, None) is not None:',
      '                bad.append(name)',
      '        except Exception:',
      '            pass',
      '    try:',
      '        v.constructor.constructor("return 1")()',
      '        bad.append("Function")',
      '    except Exception:',
      '        pass',
      '[len(found) > 0, bad]',
    ].join('\n');
    const r = await runRealm(code);
    expect(r.outcome).toEqual({ status: 'ok', result: [true, []] });
  });
});

describe('all layers under the permission model, in a child process like the sandbox host', () => {
  interface ChildReport {
    environment: { permission: boolean; fsWrite: boolean; child: boolean; envKeys: number; codegen: boolean };
    loadMs: number[];
    results: Array<{ name: string; outcome: PyOutcome; stdout: string; stderr: string; terminated: boolean; next: PyOutcome }>;
  }
  let report: ChildReport;
  const spawned: string[] = [];
  const attack = (name: string, code: string, disable: HardeningLayer[] = []) => ({ name, code, disable });

  beforeAll(async () => {
    const snapshotPath = path.join(built.dir, 'snapshot.bin');
    fs.writeFileSync(snapshotPath, snapshot);
    const t = (label: string) => {
      const p = target(label);
      spawned.push(p);
      return p;
    };
    const frameWalk = [
      'import asyncio',
      'g = type(asyncio.get_event_loop()).call_soon.__globals__',
      'proxy = g["create_once_callable"](lambda: 0)',
      'proxy.constructor.constructor("return globalThis.process")()',
    ].join('\n');
    const attacks = [
      attack('import js', 'import js'),
      attack('run_js', 'from pyodide.code import run_js\nrun_js("process.getBuiltinModule(\'os\').hostname()")'),
      attack('os.system', `import os\nos.system(${py(`touch ${t('spawned')}`)})`),
      attack('socket', `import socket\nsocket.create_connection(("127.0.0.1", ${port}), timeout=2)`),
      attack('asyncio.open_connection', `import asyncio\nawait asyncio.open_connection("127.0.0.1", ${port})`),
      attack('read the canary by path', `open(${py(canary)}).read()`),
      attack('write a host file by path', `import os\nos.makedirs(${py(hostDir)}, exist_ok=True)\nopen(${py(t('written'))}, "w").write("x")\nos.listdir(${py(hostDir)})`),
      attack('/dev/tty and stdin', 'import sys\n[open("/dev/tty").read(), sys.stdin.read(), input()]'),
      attack('JsProxy via frame walking', frameWalk),
      // Without the Python layer the guest holds the Pyodide API directly:
      attack('pyodide_js.mountNodeFS', `import pyodide_js\npyodide_js.mountNodeFS("/mnt", ${py(hostDir)})\nopen("/mnt/secret.txt").read()`, ['python']),
      attack('pyodide_js Function', 'import pyodide_js\npyodide_js.constructor.constructor("return globalThis.process")()', ['python']),
      attack('pyodide_js.useNodeSockFS', 'import pyodide_js\nawait pyodide_js.useNodeSockFS()', ['python']),
      attack('pyodide_js.loadPackage', 'import pyodide_js\nawait pyodide_js.loadPackage("numpy")', ['python']),
      attack('pyodide_js.setStdin', 'import pyodide_js\npyodide_js.setStdin()\ninput()', ['python']),
      attack('ctypes system()', `import ctypes\nctypes.CDLL(None).system(${py(`touch ${t('spawned')}`)}.encode())`, ['python']),
      attack('raw socket', `import socket\ns = socket.socket()\ns.connect(("127.0.0.1", ${port}))`, ['python']),
      attack(
        'gc scan for JsProxies',
        'import gc\nfrom pyodide.ffi import JsProxy\nn = 0\nfor o in gc.get_objects():\n    for v in (list(o.values()) if type(o) is dict else ()):\n        if isinstance(v, JsProxy):\n            try:\n                v.constructor.constructor("return globalThis.process")()\n                n += 1\n            except Exception:\n                pass\nn',
        ['python'],
      ),
      // And with only the realm layer and the permission model left:
      attack('os.system, realm + permission only', `import os\nos.system(${py(`touch ${t('spawned')}`)})`, ['python', 'wasm-imports']),
      attack('raw socket, realm + permission only', `import socket\ns = socket.socket()\ns.connect(("127.0.0.1", ${port}))`, ['python', 'wasm-imports']),
    ];
    const permissionFlag = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
    const args = [
      permissionFlag,
      '--allow-worker',
      `--allow-fs-read=${built.dir}/*`,
      `--allow-fs-read=${path.join(PROJECT_ROOT, 'node_modules', 'pyodide')}/*`,
      '--disallow-code-generation-from-strings',
      built.permissionHostPath,
      JSON.stringify({ snapshotPath, attacks }),
    ];
    const child = spawnProcess(process.execPath, args, { env: {}, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.write(`${STDIN_SECRET}\n`);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.stdin.destroy();
    if (code !== 0) throw new Error(`permission host failed (${code}): ${stderr.slice(-2000)}`);
    report = JSON.parse(stdout) as ChildReport;
    console.info('[pyodide permission host] worker load (ms):', report.loadMs.map(Math.round));
  }, 180_000);

  it('runs with the restrictions in force', () => {
    expect(report.environment).toEqual({ permission: true, fsWrite: false, child: false, envKeys: 0, codegen: false });
  });

  it('every attack failed, left the host untouched, and the runtime answered the next call', () => {
    expect(report.results.length).toBeGreaterThanOrEqual(19);
    for (const r of report.results) {
      const where = `attack ${r.name}: ${JSON.stringify(r).slice(0, 600)}`;
      expect(JSON.stringify(r), where).not.toContain(secret);
      expect(JSON.stringify(r), where).not.toContain(STDIN_SECRET);
      expect(r.next, where).toEqual({ status: 'ok', result: 42 });
      if (r.name === 'gc scan for JsProxies') expect(r.outcome, where).toEqual({ status: 'ok', result: 0 });
      else if (r.name === '/dev/tty and stdin') expect(r.outcome.error?.type, where).toBe('EOFError');
      else if (r.name === 'write a host file by path') expect(r.outcome.result, where).toEqual([expect.stringMatching(/^written-/)]);
      else if (r.name === 'ctypes system()') expect(r.outcome, where).toEqual({ status: 'ok', result: -1 });
      else if (r.name === 'os.system') expect(r.outcome.error?.message, where).toContain(SANDBOX_REFUSAL);
      else if (r.name === 'os.system, realm + permission only') expect(r.outcome.status === 'error' || r.outcome.result !== 0, where).toBe(true);
      else expect(r.outcome.status, where).toBe('error');
    }
    for (const p of spawned) expect(fs.existsSync(p), p).toBe(false);
    expect(fs.readdirSync(hostDir)).toEqual(['secret.txt']);
    expect(listener.connections).toBe(0);
  });
});
