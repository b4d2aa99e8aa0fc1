/**
 * Packaging: `npm pack` gives a small tarball with what the server needs (one bundled file per
 * process: scripts/bundle.mjs) and nothing of the repo's development files; installed into an empty
 * project (offline-first, from the npm cache the project's own install warmed), it brings only the
 * runtimes as dependencies, and its bin serves run_js, TypeScript and run_python over stdio.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startServer } from '../helpers/server.js';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPM_TIMEOUT_MS = 240_000;

let dir: string;
let packed: { filename: string; size: number; entryCount: number; files: Array<{ path: string }> };
let bin: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-pack-'));
  // --ignore-scripts: pack the dist/ the test run already built (`prepare` would rebuild it under
  // the other test files' feet).
  const out = execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: NPM_TIMEOUT_MS,
  });
  packed = (JSON.parse(out) as Array<typeof packed>)[0]!;
  const project = path.join(dir, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  execFileSync(npm, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error', path.join(dir, packed.filename)], {
    cwd: project,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: NPM_TIMEOUT_MS,
  });
  bin = path.join(project, 'node_modules', '.bin', 'wasm-sandbox-mcp');
}, 2 * NPM_TIMEOUT_MS + 30_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('packs the built server, policies and capsules, and no development files', () => {
    const paths = packed.files.map((f) => f.path);
    for (const needed of ['dist/cli/main.js', 'dist/sandbox/host.js', 'dist/sandbox/worker.js', 'dist/sandbox/snapshot-maker.js', 'policies/default.json', 'policies/strict.json', 'capsules/trusted-keys.json', 'README.md', 'package.json']) {
      expect(paths).toContain(needed);
    }
    // The bundles only, not tsc's module-per-file output besides them.
    const dist = paths.filter((p) => p.startsWith('dist/') && !/^dist\/(sandbox|cli)\/chunks\//.test(p));
    expect(dist.sort()).toEqual(['dist/cli/main.js', 'dist/sandbox/host.js', 'dist/sandbox/snapshot-maker.js', 'dist/sandbox/worker.js']);
    // The runtime adapters, one chunk each (a worker loads only its own).
    expect(paths.filter((p) => /^dist\/sandbox\/chunks\/(quickjs|pyodide)-\w+\.js$/.test(p))).toHaveLength(2);
    // The front's network broker (undici) is a chunk of its own, loaded only when a policy enables the network.
    expect(paths.filter((p) => /^dist\/cli\/chunks\/broker-\w+\.js$/.test(p))).toHaveLength(1);
    const dev = paths.filter((p) => /^(src|test|bench|scripts|\.ci|capsules\/src)\/|\.map$|\.d\.ts$|^tsconfig|^vitest/.test(p));
    expect(dev).toEqual([]);
    // Small: compressed size of what is ours, the bundled MCP SDK, zod, pino and undici included
    // (the runtimes come as dependencies).
    expect(packed.size).toBeLessThan(1024 * 1024);
  });

  it('installs the runtimes as its only dependencies (what it bundles is not fetched again)', () => {
    const modules = path.join(dir, 'project', 'node_modules');
    const installed = fs.readdirSync(modules).flatMap((n) => (n.startsWith('@') ? fs.readdirSync(path.join(modules, n)).map((m) => `${n}/${m}`) : [n]));
    for (const runtime of ['pyodide', 'quickjs-emscripten-core', 'amaro']) expect(installed).toContain(runtime);
    for (const bundled of ['@modelcontextprotocol/sdk', 'zod', 'pino', 'undici', 'ipaddr.js', '@noble/ed25519', 'acorn']) expect(installed).not.toContain(bundled);
  });

  it('installs into an empty project and its bin serves run_js, TypeScript and run_python over stdio', async () => {
    expect(fs.existsSync(bin)).toBe(true);
    const home = path.join(dir, 'home');
    fs.mkdirSync(home);
    // Its own snapshot cache: the package's build differs from the repository's dist, and a save
    // would prune the suite's snapshot as another build's.
    const srv = await startServer(['--audit-log', 'off'], { HOME: home, SANDBOX_CACHE_DIR: path.join(dir, 'cache') }, { main: bin });
    try {
      const { tools } = await srv.client.listTools();
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['run_js', 'run_python', 'reset_session']));
      const r = await srv.call('run_js', { code: 'console.log("from the tarball"); [1, 2, 3].reduce((a, b) => a + b)' });
      expect(r.structuredContent).toMatchObject({ exitCode: 0, stdout: 'from the tarball\n', result: 6 });
      // The installed layout grants the sandbox host its runtime packages, the TypeScript stripper included.
      const t = await srv.call('run_js', { code: 'const n: number = 6 * 7; n', typescript: true });
      expect(t.structuredContent).toMatchObject({ exitCode: 0, result: 42 });
      // Python from the installed layout: the host loads Pyodide from its package directory (no
      // snapshot cached in this home yet: the maker's bundle makes one, or the host boots Python).
      const py = await srv.call('run_python', { code: 'import sys\nsys.version_info[0] * 14' }, { timeout: 120_000 });
      expect(py.structuredContent).toMatchObject({ exitCode: 0, result: 42 });
      srv.assertStdoutIsJsonRpc();
    } finally {
      await srv.close();
    }
  }, 180_000);
});
