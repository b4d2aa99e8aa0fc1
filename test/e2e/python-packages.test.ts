/**
 * Python packages from a local directory (policy `python.packagesDir`), end to end: wheels built
 * here with python3's zipfile, imported through the built server; missing and native packages give
 * errors that say what to do; nothing is downloaded; a broad or missing directory stops start-up
 * with exit 2; the sandbox host refuses wheel bytes that do not match the signed capsule.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServer, warmUpPython, type TestServer } from '../helpers/server.js';
import { buildWheel } from '../helpers/wheels.js';
// The built modules, for the host-level test (SandboxClient spawns the built host next to itself).
import type * as ClientModule from '../../src/front/sandbox-client.js';
import type * as SignerModule from '../../src/front/capsule/signer.js';
import type * as LoggerModule from '../../src/front/logger.js';
import type * as CapsuleModule from '../../src/protocol/capsule.js';

const dist = (p: string) => new URL(`../../dist/${p}`, import.meta.url).href;

let tmp: string;
let wheelDir: string;
let srv: TestServer;
/** The default policy: no packagesDir. */
let plain: TestServer;

const py = (code: string, extra: Record<string, unknown> = {}, on: TestServer = srv) =>
  on.call('run_python', { code, ...extra }, { timeout: 120_000 });

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-pypkg-'));
  wheelDir = path.join(tmp, 'wheels');
  fs.mkdirSync(wheelDir);
  buildWheel(wheelDir, {
    name: 'demo_pkg',
    version: '1.2.3',
    topLevel: ['demopkg'],
    files: {
      'demopkg/__init__.py': 'from .util import shout\nVERSION = "1.2.3"\ndef greet(name):\n    return "hello " + shout(name)\n',
      'demopkg/util.py': 'def shout(s):\n    return s.upper()\n',
    },
  });
  // No top_level.txt, and a distribution name unlike the module's: found through RECORD.
  buildWheel(wheelDir, { name: 'other_dist', files: { 'othermod.py': 'ANSWER = 42\n' } });
  buildWheel(wheelDir, { name: 'natpkg', tag: 'cp314-cp314-pyodide_2025_0_wasm32', files: { 'natpkg/__init__.py': '', 'natpkg/_speed.so': 'ELF' } });
  buildWheel(wheelDir, { name: 'sneaky', topLevel: ['sneaky'], files: { 'sneaky/__init__.py': 'from . import _c\n', 'sneaky/_c.cpython-314-wasm32-emscripten.so': 'ELF' } });
  fs.writeFileSync(path.join(wheelDir, 'README.txt'), 'not a wheel: ignored');
  const policy = path.join(tmp, 'policy.json');
  fs.writeFileSync(policy, JSON.stringify({ python: { packagesDir: wheelDir } }));
  [srv, plain] = await Promise.all([
    startServer(['--policy', policy, '--timeout', '8000', '--max-memory', '256']),
    startServer(['--timeout', '8000', '--max-memory', '256']),
  ]);
  await Promise.all([warmUpPython(srv), warmUpPython(plain)]);
}, 600_000);

afterAll(async () => {
  await Promise.all([srv?.close(), plain?.close()]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('wheels from python.packagesDir', () => {
  it('imports a pure-Python package from a wheel, with its submodules and metadata', async () => {
    const r = await py(`import demopkg, importlib.metadata
from demopkg import util
[demopkg.greet("world"), util.shout("x"), demopkg.VERSION, importlib.metadata.version("demo_pkg")]`);
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: ['hello WORLD', 'X', '1.2.3', '1.2.3'], network: [] });
  });

  it('finds a module named only in the RECORD, whatever the distribution is called', async () => {
    const r = await py('import othermod\nothermod.ANSWER');
    expect(r.structuredContent.result).toBe(42);
  });

  it('keeps the package imported across a session, and a fresh run imports it again', async () => {
    await py('import demopkg\ndemopkg.marker = "session"', { session: 'pkgs' });
    const again = await py('import demopkg\ndemopkg.marker', { session: 'pkgs' });
    expect(again.structuredContent.result).toBe('session');
    const fresh = await py('import demopkg\nhasattr(demopkg, "marker")');
    expect(fresh.structuredContent.result).toBe(false);
  });

  it('says how to provide a package no wheel provides, and a probe with find_spec still answers None', async () => {
    const r = await py('import requests');
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error.type).toBe('ModuleNotFoundError');
    expect(r.structuredContent.error.message).toMatch(/^No module named 'requests'\. None of the 4 wheels in the policy's python\.packagesDir provides it.*Nothing is ever downloaded/);
    expect(r.structuredContent.network).toEqual([]);
    const probe = await py(`import importlib.util
try:
    import requests
    caught = None
except ImportError as e:
    caught = type(e).__name__
[importlib.util.find_spec("requests") is None, caught]`);
    expect(probe.structuredContent.result).toEqual([true, 'ModuleNotFoundError']);
  });

  it('refuses wheels with native code, naming the wheel', async () => {
    const nat = await py('import natpkg');
    expect(nat.structuredContent.error.type).toBe('ModuleNotFoundError');
    expect(nat.structuredContent.error.message).toContain("'natpkg-1.0-cp314-cp314-pyodide_2025_0_wasm32.whl' in the policy's python.packagesDir is built for a platform (native code)");
    const sneaky = await py('import sneaky');
    expect(sneaky.structuredContent.error.type).toBe('ImportError');
    expect(sneaky.structuredContent.error.message).toContain("the wheel 'sneaky-1.0-py3-none-any.whl' contains native code");
    const still = await py('import demopkg\ndemopkg.greet("ok")');
    expect(still.structuredContent.result).toBe('hello OK');
  });

  it('offers no other way to get packages: micropip and Pyodide package loading stay unusable', async () => {
    const r = await py('import micropip');
    expect(r.structuredContent.error.message).toContain('is not available in this sandbox');
    const p = await py('import pyodide_js');
    expect(p.structuredContent.error.type).toBe('ModuleNotFoundError');
  });

  it('never exports the unpacked package or the wheel', async () => {
    const r = await py('import demopkg, os\nos.path.isdir("/lib/wheels")', { session: 'pkg-files' });
    expect(r.structuredContent).toMatchObject({ result: true, files: [] });
  });
});

describe('without python.packagesDir', () => {
  it('a missing package says to set python.packagesDir', async () => {
    const r = await py('import numpy', {}, plain);
    expect(r.structuredContent.error.type).toBe('ModuleNotFoundError');
    expect(r.structuredContent.error.message).toMatch(/^No module named 'numpy'\. run_python has the standard library only and never downloads packages\. .*python\.packagesDir/);
    const stdlib = await py('import json, decimal\njson.dumps({"a": 1})', {}, plain);
    expect(stdlib.structuredContent.result).toBe('{"a": 1}');
  });
});

describe('python.packagesDir is checked at start-up', () => {
  const refused = (dir: string, env: Record<string, string> = {}) => {
    const file = path.join(tmp, `p-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, JSON.stringify({ python: { packagesDir: dir } }));
    return runCli(['--policy', file, '--key-dir', path.join(tmp, 'keys')], env);
  };

  it('refuses the filesystem root, the home directory and a directory containing it, with exit 2', () => {
    const root = refused('/');
    expect(root.status).toBe(2);
    expect(root.stderr).toMatch(/python\.packagesDir "\/" refused: it is a filesystem root/);
    const home = fs.mkdtempSync(path.join(tmp, 'home-'));
    const h = refused(home, { HOME: home });
    expect(h.status).toBe(2);
    expect(h.stderr).toContain('it is or contains the home directory');
    const parent = refused(tmp, { HOME: home });
    expect(parent.stderr).toContain('it is or contains the home directory');
  });

  it('refuses a missing directory, a file, and a relative path, with exit 2', () => {
    expect(refused(path.join(tmp, 'nope')).stderr).toContain('the host directory does not exist');
    const file = path.join(tmp, 'file.txt');
    fs.writeFileSync(file, 'x');
    const f = refused(file);
    expect(f.status).toBe(2);
    expect(f.stderr).toContain('not a directory');
    const rel = refused('wheels');
    expect(rel.status).toBe(2);
    expect(rel.stderr).toContain('packagesDir must be absolute');
  });
});

describe('the sandbox host checks the wheel bytes against the signed capsule', () => {
  it('runs a capsule whose wheel digests match, and refuses a tampered wheel', async () => {
    const { SandboxClient } = (await import(dist('front/sandbox-client.js'))) as typeof ClientModule;
    const { CapsuleSigner, buildCapsuleBody } = (await import(dist('front/capsule/signer.js'))) as typeof SignerModule;
    const { createLogger } = (await import(dist('front/logger.js'))) as typeof LoggerModule;
    const { sha256Hex } = (await import(dist('protocol/capsule.js'))) as typeof CapsuleModule;
    const filename = 'demo_pkg-1.2.3-py3-none-any.whl';
    const real = new Uint8Array(fs.readFileSync(path.join(wheelDir, filename)));
    const tampered = new Uint8Array(real);
    tampered[tampered.length - 30]! ^= 0xff;
    const signer = CapsuleSigner.generate();
    const capsuleFor = (bytes: Uint8Array) =>
      signer.sign(
        buildCapsuleBody({
          language: 'python',
          code: 'import demopkg\nprint("EXECUTED")\ndemopkg.greet("host")',
          session: null,
          policy: {
            limits: { timeoutMs: 8000, memMb: 256, stdoutBytes: 4096, stderrBytes: 4096 },
            python: { wheels: [{ filename, sha256: sha256Hex(bytes), size: bytes.byteLength }] },
          },
          keyId: signer.keyId,
        }),
      );
    // The host holds the tampered bytes: a capsule signed over the real wheel must be refused.
    const sandbox = new SandboxClient({ publicKeys: signer.publicKeys(), logger: createLogger('silent'), memMb: 256, spares: { js: 0, python: 0 }, wheels: [{ filename, data: tampered }],
      // The host's first Python run waits for the interpreter snapshot: slow on a loaded machine.
      frontBackstopMs: 200_000,
    });
    try {
      await sandbox.start();
      let error: any;
      try {
        const out = await sandbox.run(capsuleFor(real), [], 8000);
        expect(out.stdout).not.toContain('EXECUTED');
      } catch (e) {
        error = e;
      }
      expect(error?.code).toBe('E_CAPSULE_INVALID');
      expect(error?.message).toContain(`the Python package "${filename}" does not match its digest in the capsule`);
      // The host still answers: a capsule naming exactly the bytes it holds runs (and finds that
      // wheel damaged, which is what it is).
      const ok = await sandbox.run(capsuleFor(tampered), [], 8000);
      expect(ok.stdout).not.toContain('EXECUTED');
      expect(ok.error?.message).toMatch(/demo_pkg-1\.2\.3-py3-none-any\.whl/);
    } finally {
      await sandbox.close();
    }
  }, 240_000);
});

describe('stdout purity', () => {
  it('every byte the servers wrote to stdout is JSON-RPC', () => {
    expect(srv.assertStdoutIsJsonRpc()).toBeGreaterThan(5);
    expect(plain.assertStdoutIsJsonRpc()).toBeGreaterThan(1);
  });
});
