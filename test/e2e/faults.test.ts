/**
 * Fault injection through the built server over stdio. Each case breaks something the server
 * depends on — the sandbox host process, a runtime worker, the capsule store, the key file, the
 * session's file quota, the audit log, the process itself — and asserts: a clear error (stable
 * code / exit status), that other sessions keep what they can keep, that the server answers the
 * next call, and that no process is left behind once the server is gone.
 *
 * What "keep" means differs by fault: a session's files live in the front and survive anything short
 * of the front's death; a session's variables live in its runtime worker inside the sandbox host, so
 * they survive a sibling worker's crash but not the host's death — there the loss is reported to
 * the session's next call, never hidden.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childPids, isAlive, runCli, startServer, type TestServer } from '../helpers/server.js';

const STATE_LOST = /earlier state was lost/;
const tmpDirs: string[] = [];
const tmp = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `wsm-faults-${prefix}-`));
  tmpDirs.push(dir);
  return dir;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every sandbox host pid a server had, so shutdown can be checked for orphans. */
const hostsOf = new WeakMap<TestServer, Set<number>>();
function track(srv: TestServer): number[] {
  const pids = srv.hostPids();
  let seen = hostsOf.get(srv);
  if (!seen) hostsOf.set(srv, (seen = new Set()));
  for (const p of pids) seen.add(p);
  return pids;
}

async function waitUntil(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Close the server and prove it left nothing behind: the front and every host it ever had are gone. */
async function closeWithoutOrphans(srv: TestServer): Promise<void> {
  track(srv);
  const front = srv.child.pid!;
  const hosts = [...(hostsOf.get(srv) ?? [])];
  await srv.close();
  await waitUntil('the front and its sandbox hosts to exit', () => !isAlive(front) && hosts.every((p) => !isAlive(p)));
  expect(childPids(front)).toEqual([]);
}

afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

const call = (srv: TestServer, tool: 'run_js' | 'run_python', code: string, extra: Record<string, unknown> = {}) =>
  srv.call(tool, { code, ...extra }, { timeout: 180_000 });

async function answersNextCall(srv: TestServer): Promise<void> {
  const r = await call(srv, 'run_js', '6 * 7');
  expect(r.structuredContent.result).toBe(42);
}

describe('sandbox host and runtime worker faults', () => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startServer(['--timeout', '20000']);
    track(srv);
    // Python's first call pays for the interpreter snapshot; later ones are warm.
    await call(srv, 'run_python', '1');
  }, 180_000);

  afterAll(async () => {
    await closeWithoutOrphans(srv);
  });

  /** Sibling sessions in both languages with a variable each, and a file in the front's store. */
  async function seedSiblings(): Promise<void> {
    const js = await call(srv, 'run_js', `globalThis.kept = 'js-state'; fs.writeFileSync('/tmp/kept.txt', 'file-state'); kept`, { session: 'sib-js' });
    expect(js.structuredContent.result).toBe('js-state');
    const py = await call(srv, 'run_python', `kept = 'py-state'\nkept`, { session: 'sib-py' });
    expect(py.structuredContent.result).toBe('py-state');
  }

  const JS_SIBLING = `[typeof kept === 'undefined' ? null : kept, fs.readFileSync('/tmp/kept.txt', 'utf8')]`;
  const PY_SIBLING = `globals().get('kept')`;

  it.each([
    ['run_js', 'while (true) {}'],
    ['run_python', 'while True:\n    pass'],
  ] as const)('%s: SIGKILL of the sandbox host mid-run fails that call with E_SANDBOX_CRASHED; a new host serves the next call', async (tool, spin) => {
    await seedSiblings();
    // The crashed call's own session had state too: its next call must be told it is gone.
    await call(srv, tool, tool === 'run_js' ? 'globalThis.mine = 1' : 'mine = 1', { session: 'victim' });
    const [host] = track(srv);
    expect(host).toBeDefined();
    const pending = call(srv, tool, spin, { session: 'victim', timeoutMs: 20_000 });
    await sleep(1500);
    process.kill(host!, 'SIGKILL');
    const r = await pending;
    expect(r.isError).toBe(true);
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error).toMatchObject({ code: 'E_SANDBOX_CRASHED', message: expect.stringMatching(/sandbox host stopped during the run/) });

    await answersNextCall(srv);
    const [next] = track(srv);
    expect(next).toBeDefined();
    expect(next).not.toBe(host);
    expect(isAlive(host!)).toBe(false);

    // Files live in the front: they survive. Variables lived in the dead host: the loss is said, not hidden.
    const js = await call(srv, 'run_js', JS_SIBLING, { session: 'sib-js' });
    expect(js.structuredContent.result).toEqual([null, 'file-state']);
    expect(js.structuredContent.stderr).toMatch(STATE_LOST);
    const py = await call(srv, 'run_python', PY_SIBLING, { session: 'sib-py' });
    expect(py.structuredContent).toMatchObject({ exitCode: 0 });
    expect(py.structuredContent).not.toHaveProperty('result');
    expect(py.structuredContent.stderr).toMatch(STATE_LOST);
    const victim = await call(srv, tool, tool === 'run_js' ? 'typeof mine' : "'mine' in globals()", { session: 'victim' });
    expect(victim.structuredContent.result).toBe(tool === 'run_js' ? 'undefined' : false);
    expect(victim.structuredContent.stderr).toMatch(STATE_LOST);
  }, 240_000);

  it.each([
    {
      what: 'Python recursion past the native stack (interpreter fatally broken)',
      tool: 'run_python' as const,
      setup: 'marker = 1',
      crash: 'import sys\nsys.setrecursionlimit(10**7)\ndef f(n): return f(n + 1)\nf(0)',
      probe: `'marker' in globals()`,
      exitCode: 137,
      code: 'E_MEMORY_LIMIT',
    },
    {
      what: 'Python MemoryError at the WebAssembly memory cap',
      tool: 'run_python' as const,
      setup: 'marker = 1',
      crash: 'b = bytearray(400 * 1024 * 1024)',
      probe: `'marker' in globals()`,
      exitCode: 137,
      code: 'E_MEMORY_LIMIT',
    },
    {
      what: 'Python swallowing KeyboardInterrupt until the worker thread is terminated',
      tool: 'run_python' as const,
      setup: 'marker = 1',
      crash: 'while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass',
      probe: `'marker' in globals()`,
      exitCode: 124,
      code: 'E_TIMEOUT',
      timeoutMs: 1500,
    },
    {
      what: 'QuickJS allocation loop at its memory cap',
      tool: 'run_js' as const,
      setup: 'globalThis.marker = 1',
      crash: 'const keep = []; for (;;) keep.push(new Uint8Array(1 << 22).fill(1));',
      probe: `typeof marker !== 'undefined'`,
      exitCode: 137,
      code: 'E_MEMORY_LIMIT',
    },
  ])('runtime crash — $what: the session gets a new runtime and is told; siblings and the host are untouched', async (c) => {
    await seedSiblings();
    const [host] = track(srv);
    const set = await call(srv, c.tool, c.setup, { session: 'crashy' });
    expect(set.structuredContent.exitCode).toBe(0);

    const r = await call(srv, c.tool, c.crash, { session: 'crashy', ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}) });
    expect(r.isError).toBe(true);
    expect(r.structuredContent.exitCode).toBe(c.exitCode);
    expect(r.structuredContent.error.code).toBe(c.code);

    // The session works again, from a fresh runtime, and says so.
    const after = await call(srv, c.tool, c.probe, { session: 'crashy' });
    expect(after.structuredContent).toMatchObject({ exitCode: 0, result: false });
    expect(after.structuredContent.stderr).toMatch(STATE_LOST);
    const again = await call(srv, c.tool, c.probe, { session: 'crashy' });
    expect(again.structuredContent.stderr).not.toMatch(STATE_LOST);

    // Only that worker was replaced: same host, siblings keep variables and files.
    expect(track(srv)).toEqual([host]);
    const js = await call(srv, 'run_js', JS_SIBLING, { session: 'sib-js' });
    expect(js.structuredContent).toMatchObject({ exitCode: 0, result: ['js-state', 'file-state'] });
    expect(js.structuredContent.stderr).not.toMatch(STATE_LOST);
    const py = await call(srv, 'run_python', PY_SIBLING, { session: 'sib-py' });
    expect(py.structuredContent).toMatchObject({ exitCode: 0, result: 'py-state' });
    await answersNextCall(srv);
  }, 180_000);
});

describe('memory cap', () => {
  // Found by the soak: QuickJS's own limit (setMemoryLimit) does not count typed arrays, so a run
  // with a 32 MB cap grew to the 2 GB WebAssembly maximum. Each worker's WebAssembly memory now has
  // a maximum of the cap plus the engine's own room (quickjs.ts), and the worker is replaced after.
  it('a QuickJS typed-array loop is stopped near its memory cap, not at the 2 GB WebAssembly maximum', async () => {
    const srv = await startServer(['--max-memory', '32']);
    try {
      // The guest prints how far it got; output survives the stop.
      const r = await call(srv, 'run_js', 'const keep = []; for (let mb = 1; ; mb++) { keep.push(new Uint8Array(1 << 20).fill(1)); if (mb % 16 === 0) console.log(mb); }');
      expect(r.structuredContent.exitCode).toBe(137);
      const reached = Math.max(...r.structuredContent.stdout.trim().split('\n').map(Number));
      expect(reached).toBeLessThanOrEqual(4 * 32);
    } finally {
      await closeWithoutOrphans(srv);
    }
  });
});

describe('VFS quota', () => {
  let srv: TestServer;

  beforeAll(async () => {
    const policy = path.join(tmp('quota'), 'small.json');
    fs.writeFileSync(policy, JSON.stringify({ filesystem: { writable: ['/tmp', '/output'], quotaBytes: 2048, maxFileBytes: 1024 } }));
    srv = await startServer(['--policy', policy, '--timeout', '8000']);
  });
  afterAll(async () => {
    await closeWithoutOrphans(srv);
  });

  it('a guest filling its quota fails with ENOSPC naming the quota; its earlier files and a sibling session are intact', async () => {
    await call(srv, 'run_js', `fs.writeFileSync('/tmp/keep.txt', 'k'.repeat(500))`, { session: 'full' });
    await call(srv, 'run_js', `fs.writeFileSync('/tmp/other.txt', 'o'.repeat(500))`, { session: 'neighbour' });
    const r = await call(srv, 'run_js', `for (let i = 0; ; i++) fs.writeFileSync('/tmp/f' + i, 'x'.repeat(100))`, { session: 'full' });
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error.message).toMatch(/^ENOSPC: .*the session's file quota is exceeded.*the quota is 2048 bytes/);

    const after = await call(srv, 'run_js', `[fs.readFileSync('/tmp/keep.txt', 'utf8').length, fs.readdirSync('/tmp').length]`, { session: 'full' });
    expect(after.structuredContent.result[0]).toBe(500);
    // The quota holds across runs: nothing the session kept exceeds it.
    const used = await call(srv, 'run_js', `fs.readdirSync('/tmp').reduce((n, f) => n + fs.statSync('/tmp/' + f).size, 0)`, { session: 'full' });
    expect(used.structuredContent.result).toBeLessThanOrEqual(2048);

    // The quota is per session: the neighbour can still use all of its own.
    const n = await call(srv, 'run_js', `fs.writeFileSync('/tmp/more.txt', 'm'.repeat(1000)); fs.readFileSync('/tmp/other.txt', 'utf8').length`, { session: 'neighbour' });
    expect(n.structuredContent).toMatchObject({ exitCode: 0, result: 500 });
    await answersNextCall(srv);
  });

  it.each(['run_js', 'run_python'] as const)('%s: a files input over the quota is refused whole with E_QUOTA_EXCEEDED; the session keeps its files', async (tool) => {
    const session = `input-${tool}`;
    await call(srv, 'run_js', `fs.writeFileSync('/tmp/keep.txt', 'k'.repeat(1000))`, { session });
    const r = await call(srv, tool, '1', {
      session,
      files: [
        { path: '/tmp/a.txt', content: 'a'.repeat(600) },
        { path: '/tmp/b.txt', content: 'b'.repeat(600) },
      ],
    });
    expect(r.isError).toBe(true);
    expect(r.structuredContent.error.code).toBe('E_QUOTA_EXCEEDED');
    expect(r.structuredContent.error.message).toMatch(/no file was written/);
    const after = await call(srv, 'run_js', `[fs.readFileSync('/tmp/keep.txt', 'utf8').length, fs.existsSync('/tmp/a.txt'), fs.existsSync('/tmp/b.txt')]`, { session });
    expect(after.structuredContent.result).toEqual([1000, false, false]);
  }, 120_000);
});

describe('capsule store', () => {
  it('a damaged store never fails a run: a corrupted capsule is refused by verify, a store path that is a file is logged', async () => {
    const dir = tmp('store');
    const store = path.join(dir, 'capsules');
    const srv = await startServer(['--capsule-store', store]);
    const keyArgs = ['--key-dir', path.join(srv.keyDir, 'k'), '--capsule-store', store];
    const first = await call(srv, 'run_js', '1 + 1', { session: 'store-sib' });
    const id = first.structuredContent.capsule.id as string;
    const file = path.join(store, `${id}.json`);
    await waitUntil('the capsule to be stored', () => fs.existsSync(file));
    expect(runCli(['verify', id, ...keyArgs]).status).toBe(0);

    // A flipped byte inside the stored capsule: verify refuses it and says which.
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.replace(/"signature":"(.)/, (_m, c: string) => `"signature":"${c === 'A' ? 'B' : 'A'}`));
    const tampered = runCli(['verify', id, ...keyArgs]);
    expect(tampered.status).toBe(1);
    expect(tampered.stderr).toMatch(/invalid/);
    fs.writeFileSync(file, '{ not json');
    const garbled = runCli(['verify', id, ...keyArgs]);
    expect(garbled.status).toBe(1);
    expect(garbled.stderr).toContain(`no intact capsule ${id}`);

    // The whole directory replaced by a file while the server runs: runs go on, the failure is logged.
    fs.rmSync(store, { recursive: true });
    fs.writeFileSync(store, 'not a directory');
    const r = await call(srv, 'run_js', `globalThis.after = 'ok'; after`, { session: 'store-sib' });
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: 'ok' });
    await waitUntil('the store failure to be logged', () => /capsule store: .*(ENOTDIR|EEXIST)/.test(srv.stderr()));
    const sib = await call(srv, 'run_js', 'after', { session: 'store-sib' });
    expect(sib.structuredContent.result).toBe('ok');
    await closeWithoutOrphans(srv);
  });
});

describe('key file', () => {
  const keyFiles = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.key'));

  it('removed while the server runs: it keeps signing with the key in memory; the next start mints a new key, and old capsules no longer verify', async () => {
    // Our own directories: the helper deletes its key directory when the server closes.
    const dir = tmp('key-removed');
    const keyDir = path.join(dir, 'keys');
    const store = path.join(dir, 'capsules');
    const srv = await startServer(['--key-dir', keyDir, '--capsule-store', store]);
    const before = await call(srv, 'run_js', '1', { session: 'key-sib' });
    const keyId = before.structuredContent.capsule.keyId as string;
    for (const f of keyFiles(keyDir)) fs.rmSync(path.join(keyDir, f));

    const during = await call(srv, 'run_js', '2', { session: 'key-sib' });
    expect(during.structuredContent).toMatchObject({ exitCode: 0, result: 2, capsule: { keyId } });
    await closeWithoutOrphans(srv);

    // Next start: an empty key directory is a first start; a new key signs from now on.
    const again = await startServer(['--key-dir', keyDir, '--capsule-store', store]);
    const after = await call(again, 'run_js', '3');
    expect(after.structuredContent.exitCode).toBe(0);
    expect(after.structuredContent.capsule.keyId).not.toBe(keyId);
    await closeWithoutOrphans(again);
    const old = runCli(['verify', before.structuredContent.capsule.id, '--key-dir', keyDir, '--capsule-store', store]);
    expect(old.status).toBe(1);
    expect(old.stderr).toMatch(/invalid/);
  });

  it('corrupted while the server runs: runs go on with the key in memory; the next start exits 2 naming the file', async () => {
    const keyDir = path.join(tmp('key-corrupt'), 'keys');
    const srv = await startServer(['--key-dir', keyDir]);
    const first = await call(srv, 'run_js', '1', { session: 'k' });
    const keyId = first.structuredContent.capsule.keyId as string;
    const [name] = keyFiles(keyDir);
    fs.writeFileSync(path.join(keyDir, name!), 'this is not a key');

    const during = await call(srv, 'run_js', 'globalThis.x = 5; x', { session: 'k' });
    expect(during.structuredContent).toMatchObject({ exitCode: 0, result: 5, capsule: { keyId } });
    await closeWithoutOrphans(srv);
    const r = runCli(['--key-dir', keyDir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(path.join(keyDir, name!));
  });

  it.each([
    ['garbage', () => 'this is not a key'],
    ['nothing', () => ''],
    ['a seed that does not match its public key', (text: string) => text.replace(/"seed":"(.)/, (_m, c: string) => `"seed":"${c === 'a' ? 'b' : 'a'}`)],
    ['JSON with a missing field', (text: string) => JSON.stringify({ ...JSON.parse(text), seed: undefined })],
    ['a key id that does not match its name', (text: string) => text.replace(/"keyId":"(.)/, (_m, c: string) => `"keyId":"${c === 'a' ? 'b' : 'a'}`)],
  ])('a key file holding %s stops start-up with exit 2, one line naming it; nothing is replaced', (_what, corrupt) => {
    const keyDir = path.join(tmp('key-start'), 'keys');
    expect(runCli(['keygen', '--key-dir', keyDir]).status).toBe(0);
    const [name] = keyFiles(keyDir);
    const file = path.join(keyDir, name!);
    const damaged = corrupt(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, damaged);

    const r = runCli(['--key-dir', keyDir]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(file);
    // Not silently replaced: the damaged file is as it was, and no second key appeared.
    expect(fs.readFileSync(file, 'utf8')).toBe(damaged);
    expect(keyFiles(keyDir)).toEqual([name]);
  });
});

describe('audit log', () => {
  it('an audit log path that cannot be opened stops start-up with exit 2 naming it', () => {
    const dir = tmp('audit');
    const blocker = path.join(dir, 'a-file');
    fs.writeFileSync(blocker, '');
    const target = path.join(blocker, 'audit.log');
    const r = runCli(['--audit-log', target, '--key-dir', path.join(dir, 'keys')]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(`--audit-log: cannot open ${target}`)]);
  });

  it('an audit log that fails every write (/dev/full) never costs a run its result; each failure is logged', async () => {
    const srv = await startServer(['--audit-log', '/dev/full']);
    const r = await call(srv, 'run_js', 'globalThis.n = 41; n + 1', { session: 'audited' });
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: 42 });
    await waitUntil('the audit failure to be logged', () => /audit log: cannot write to \/dev\/full: ENOSPC/.test(srv.stderr()));
    const again = await call(srv, 'run_js', 'n', { session: 'audited' });
    expect(again.structuredContent.result).toBe(41);
    expect(srv.assertStdoutIsJsonRpc()).toBeGreaterThan(2);
    await closeWithoutOrphans(srv);
  });
});

describe('signals', () => {
  it('SIGTERM while runs in both languages are in flight: exit 0, the host and its workers are gone', async () => {
    const srv = await startServer(['--timeout', '30000']);
    await call(srv, 'run_python', '1');
    const [host] = track(srv);
    const runs = [call(srv, 'run_js', 'while (true) {}', { session: 's1' }), call(srv, 'run_python', 'while True:\n    pass', { session: 's2' })];
    for (const r of runs) r.catch(() => undefined);
    await sleep(1500);
    const exited = new Promise<number | null>((r) => srv.child.once('exit', (code) => r(code)));
    srv.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // The calls in flight end (the connection is gone) rather than hang.
    for (const r of await Promise.allSettled(runs)) expect(r.status).toBe('rejected');
    await waitUntil('the sandbox host to exit', () => !isAlive(host!));
    expect(srv.assertStdoutIsJsonRpc()).toBeGreaterThan(0);
    await closeWithoutOrphans(srv);
  }, 120_000);
});
