/**
 * run_python end to end through the built server: the same pipeline as run_js, Pyodide behind it.
 * One server for the file: its first Python call pays for the snapshot, later ones are warm.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let canaryDir: string;
let canary: string;
let listener: http.Server;
let listenerPort = 0;
let connections = 0;
const py = (code: string, extra: Record<string, unknown> = {}) => srv.call('run_python', { code, ...extra }, { timeout: 120_000 });
const stillAnswers = async () => {
  const r = await py('6 * 7');
  expect(r.structuredContent.result).toBe(42);
};

beforeAll(async () => {
  canaryDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-pycanary-'));
  canary = path.join(canaryDir, 'canary.txt');
  fs.writeFileSync(canary, 'host secret');
  listener = http.createServer((_req, res) => res.end('reached'));
  listener.on('connection', () => connections++);
  listenerPort = await new Promise<number>((r) => listener.listen(0, '127.0.0.1', () => r((listener.address() as AddressInfo).port)));
  srv = await startServer(['--timeout', '4000', '--max-memory', '256']);
  // Warm-up: the first call waits for the interpreter snapshot.
  await py('1');
}, 180_000);

afterAll(async () => {
  await srv.close();
  listener.closeAllConnections();
  await new Promise((r) => listener.close(r));
  fs.rmSync(canaryDir, { recursive: true, force: true });
});

describe('run_python', () => {
  it('captures print and the last expression, like a notebook', async () => {
    const r = await py('print("hello")\nx = [i * i for i in range(4)]\nx');
    expect(r.structuredContent).toMatchObject({ exitCode: 0, stdout: 'hello\n', result: [0, 1, 4, 9] });
    expect(r.structuredContent.capsule.id).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keeps globals within a session and isolates sessions and sessionless runs', async () => {
    await py('counter = 10', { session: 'pa' });
    const r = await py('counter += 1\ncounter', { session: 'pa' });
    expect(r.structuredContent.result).toBe(11);
    const other = await py("'counter' in globals()", { session: 'pb' });
    expect(other.structuredContent.result).toBe(false);
    await py('import math\nmath.tau = 1');
    const fresh = await py('import math\nmath.tau');
    expect(fresh.structuredContent.result).toBeCloseTo(6.283185307179586);
  });

  it('reset_session during a session\'s first run stops it (130) and the name starts fresh', async () => {
    const running = py('SECRET = "old"\nopen("/home/pyodide/left", "w").write("x")\nimport time\ntime.sleep(3)', { session: 'py-reset-mid' });
    await new Promise((r) => setTimeout(r, 1000));
    const reset = await srv.call('reset_session', { session: 'py-reset-mid' });
    expect(reset.structuredContent.existed).toBe(true);
    expect((await running).structuredContent).toMatchObject({ exitCode: 130, error: { code: 'E_CANCELLED' } });
    const after = await py('import os\n["SECRET" in globals(), os.path.exists("/home/pyodide/left")]', { session: 'py-reset-mid' });
    expect(after.structuredContent.result).toEqual([false, false]);
  });

  it('a fresh interpreter has an empty notebook namespace and random numbers of its own', async () => {
    // The snapshot's preload once left ~55 modules and _pyodide_core in every fresh __main__, and its
    // frozen generator gave every interpreter the same random.random().
    const a = await py('import random\n[sorted(k for k in globals() if not k.startswith("__") and k != "random"), random.random()]');
    const b = await py('import random\nrandom.random()');
    expect(a.structuredContent.result[0]).toEqual([]);
    expect(b.structuredContent.result).not.toBe(a.structuredContent.result[1]);
    const core = await py('_pyodide_core');
    expect(core.structuredContent.error).toMatchObject({ type: 'NameError' });
  });

  it('reports an exception with the user lines only', async () => {
    const r = await py('def f():\n    raise ValueError("bad value")\nf()');
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error).toMatchObject({ type: 'ValueError', message: 'bad value', code: 'E_GUEST_ERROR' });
    expect(r.structuredContent.error.traceback).toContain('line 2');
    expect(JSON.stringify(r.structuredContent)).not.toMatch(/node_modules|\/work\/|pyodide\.asm|file:\/\//);
  });

  it.each([
    ['js module', 'from js import process\nprocess.getBuiltinModule("child_process")'],
    ['pyodide_js', 'import pyodide_js\npyodide_js'],
    ['run_js', 'from pyodide.code import run_js\nrun_js("process.getBuiltinModule(\'os\').hostname()")'],
    ['os.system', 'import os\nos.system("touch /tmp/pwned")'],
    ['subprocess', 'import subprocess\nsubprocess.run(["id"])'],
    ['ctypes', 'import ctypes\nctypes.CDLL(None)'],
    ['host file', 'open("CANARY").read()'],
    ['host file via os', 'import os\nos.listdir("CANARY_DIR")'],
  ])('refuses a route to the host: %s', async (_label, code) => {
    const r = await py(code.replace('CANARY_DIR', canaryDir).replace('CANARY', canary));
    expect(r.structuredContent.exitCode).toBe(1);
    expect(JSON.stringify(r.structuredContent)).not.toContain('host secret');
    await stillAnswers();
  });

  it('opens no socket to a listener on the host', async () => {
    const r = await py(`import socket\ns = socket.socket()\ns.connect(("127.0.0.1", ${listenerPort}))`);
    expect(r.structuredContent.exitCode).toBe(1);
    expect(connections).toBe(0);
    await stillAnswers();
  });

  it('stops `while True: pass` with 124, even when KeyboardInterrupt is caught', async () => {
    const a = await py('while True: pass', { timeoutMs: 800 });
    expect(a.structuredContent.exitCode).toBe(124);
    const b = await py('while True:\n    try:\n        while True: pass\n    except KeyboardInterrupt:\n        pass', { timeoutMs: 800 });
    expect(b.structuredContent.exitCode).toBe(124);
    await stillAnswers();
  });

  it('stops a growing list at the memory limit with 137', async () => {
    const r = await py('x = []\nwhile True: x.append(bytearray(1 << 20))');
    expect(r.structuredContent.exitCode).toBe(137);
    await stillAnswers();
  });

  it('says plainly when the memory limit is too small for Python', async () => {
    const tiny = await startServer(['--max-memory', '32']);
    try {
      const r = await tiny.call('run_python', { code: '1' }, { timeout: 120_000 });
      expect(r.structuredContent.exitCode).toBe(1);
      expect(r.structuredContent.error).toMatchObject({ code: 'E_RUNTIME_UNAVAILABLE' });
      expect(r.structuredContent.error.message).toMatch(/Python needs a memory limit of at least \d+ MB; the policy allows 32 MB/);
      expect((await tiny.call('run_js', { code: '6 * 7' })).structuredContent.result).toBe(42);
    } finally {
      await tiny.close();
    }
  });

  it('leaves the host untouched', () => {
    expect(fs.readFileSync(canary, 'utf8')).toBe('host secret');
    expect(fs.existsSync('/tmp/pwned')).toBe(false);
    expect(srv.assertStdoutIsJsonRpc()).toBeGreaterThan(5);
  });
});
