/**
 * Host mounts (copied in by the front, never opened by the sandbox host) and session files as MCP
 * resources, end to end through the built server.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SDK_CLIENT_LINE_LIMIT, longestLineDuring, runCli, startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let dir: string;
let hostDir: string;
let rwDir: string;
let refDir: string;
let secret: string;
const js = (code: string, extra: Record<string, unknown> = {}) => srv.call('run_js', { code, ...extra });

function policy(name: string, filesystem: object): string {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify({ name, filesystem }));
  return file;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-mounts-'));
  hostDir = path.join(dir, 'dataset');
  rwDir = path.join(dir, 'scratch');
  fs.mkdirSync(path.join(hostDir, 'sub'), { recursive: true });
  fs.mkdirSync(rwDir);
  fs.writeFileSync(path.join(hostDir, 'a.txt'), 'alpha');
  fs.writeFileSync(path.join(hostDir, 'sub', 'b.csv'), 'x,y\n1,2\n');
  // A name that starts with two dots is an ordinary entry, not a way up.
  fs.mkdirSync(path.join(hostDir, '..notes'));
  fs.writeFileSync(path.join(hostDir, '..notes', 'n.txt'), 'dots');
  refDir = path.join(dir, 'reference');
  fs.mkdirSync(refDir);
  fs.writeFileSync(path.join(refDir, 'ref.txt'), 'reference');
  fs.writeFileSync(path.join(rwDir, 'notes.txt'), 'original');
  secret = path.join(dir, 'secret.txt');
  fs.writeFileSync(secret, 'host secret');
  // Links out of the mount: never followed, never copied.
  fs.symlinkSync(secret, path.join(hostDir, 'link-to-secret'));
  fs.symlinkSync(dir, path.join(hostDir, 'link-to-parent'));
  const file = policy('mounted', {
    writable: ['/tmp', '/output'],
    mounts: [
      { host: hostDir, guest: '/data' },
      { host: rwDir, guest: '/scratch', mode: 'rw' },
      // Read-only inside the writable /tmp: the deepest prefix decides.
      { host: refDir, guest: '/tmp/ref' },
    ],
  });
  srv = await startServer(['--policy', file, '--timeout', '8000', '--max-memory', '64']);
}, 120_000);

afterAll(async () => {
  await srv?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('host mounts', () => {
  it('shows the mounted directory read-only, without the links that lead out of it', async () => {
    const r = await js(`[fs.readFileSync('/data/a.txt', 'utf8'), fs.readFileSync('/data/sub/b.csv', 'utf8'), fs.readdirSync('/data').sort(),
      fs.existsSync('/data/link-to-secret'), fs.existsSync('/data/link-to-parent/secret.txt')]`);
    expect(r.structuredContent.result).toEqual(['alpha', 'x,y\n1,2\n', ['..notes', 'a.txt', 'sub'], false, false]);
    expect((await js(`fs.readFileSync('/data/..notes/n.txt', 'utf8')`)).structuredContent.result).toBe('dots');
    const w = await js(`try { fs.writeFileSync('/data/a.txt', 'changed'); 'written' } catch (e) { e.code }`);
    expect(w.structuredContent.result).toBe('EACCES');
    expect(fs.readFileSync(path.join(hostDir, 'a.txt'), 'utf8')).toBe('alpha');
  });

  it('keeps a read-only mount inside a writable prefix read-only, in both languages and for input files', async () => {
    const w = await js(`try { fs.writeFileSync('/tmp/ref/ref.txt', 'changed'); 'written' } catch (e) { e.code }`, { session: 'ro-nest' });
    expect(w.structuredContent.result).toBe('EACCES');
    const input = await srv.call('run_js', { code: '1', session: 'ro-nest', files: [{ path: '/tmp/ref/new.txt', content: 'x' }] });
    expect(input.structuredContent).toMatchObject({ exitCode: 1, error: { code: 'E_POLICY_DENIED' } });
    const py = await srv.call(
      'run_python',
      { code: "import os\ntry:\n    os.chmod('/tmp/ref/ref.txt', 0o666)\n    open('/tmp/ref/ref.txt', 'w').write('changed')\nexcept OSError as e:\n    print(e.errno)", session: 'ro-nest' },
      { timeout: 120_000 },
    );
    expect(py.structuredContent.exitCode).toBe(0);
    const after = await js(`[fs.readFileSync('/tmp/ref/ref.txt', 'utf8'), fs.existsSync('/tmp/ref/new.txt')]`, { session: 'ro-nest' });
    expect(after.structuredContent.result).toEqual(['reference', false]);
    expect(fs.readFileSync(path.join(refDir, 'ref.txt'), 'utf8')).toBe('reference');
  });

  it('lets the guest change a rw mount inside its session only: the host directory is never written', async () => {
    const r = await js(`fs.writeFileSync('/scratch/notes.txt', 'edited'); fs.writeFileSync('/scratch/new.txt', 'n'); fs.readFileSync('/scratch/notes.txt', 'utf8')`, { session: 'rw' });
    expect(r.structuredContent.result).toBe('edited');
    expect((await js(`fs.readFileSync('/scratch/notes.txt', 'utf8')`, { session: 'rw' })).structuredContent.result).toBe('edited');
    expect(fs.readFileSync(path.join(rwDir, 'notes.txt'), 'utf8')).toBe('original');
    expect(fs.existsSync(path.join(rwDir, 'new.txt'))).toBe(false);
  });

  it('copies the directory as it is when a session starts; a running session keeps its copy', async () => {
    await js(`1`, { session: 'early' });
    fs.writeFileSync(path.join(hostDir, 'a.txt'), 'beta');
    try {
      expect((await js(`fs.readFileSync('/data/a.txt', 'utf8')`, { session: 'early' })).structuredContent.result).toBe('alpha');
      expect((await js(`fs.readFileSync('/data/a.txt', 'utf8')`, { session: 'late' })).structuredContent.result).toBe('beta');
      expect((await js(`fs.readFileSync('/data/a.txt', 'utf8')`)).structuredContent.result).toBe('beta');
    } finally {
      fs.writeFileSync(path.join(hostDir, 'a.txt'), 'alpha');
    }
  });

  it('refuses at start-up (exit 2, naming the mount) a mount of the home directory, a missing directory, or one over the quota', () => {
    const home = fs.mkdtempSync(path.join(dir, 'home-'));
    const cases: Array<[object, RegExp]> = [
      [{ mounts: [{ host: home, guest: '/h' }] }, /filesystem\.mounts\[0\].*home directory/],
      [{ mounts: [{ host: path.join(dir, 'missing'), guest: '/m' }] }, /filesystem\.mounts\[0\].*does not exist/],
      [{ mounts: [{ host: hostDir, guest: '/d' }], quotaBytes: 4 }, /mount \/d: .*quota of 4 bytes/],
      [{ mounts: [{ host: hostDir, guest: '/d' }], maxFileBytes: 3 }, /mount file \/d\/.* limit per file is 3 bytes/],
    ];
    const script = path.join(dir, 'x.js');
    fs.writeFileSync(script, '1');
    for (const [i, [fsPolicy, message]] of cases.entries()) {
      const file = policy(`bad-${i}`, fsPolicy);
      const r = runCli(['run', script, '--policy', file], { HOME: home });
      expect(r.status, JSON.stringify(fsPolicy)).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });
});

describe('session files as MCP resources', () => {
  it('lists and reads a session’s files; other sessions’ files stay separate', async () => {
    await js(`fs.writeFileSync('/output/report.txt', 'héllo'); fs.writeFileSync('/tmp/raw.bin', new Uint8Array([0, 255, 7]))`, { session: 'res-a' });
    await js(`fs.writeFileSync('/tmp/other.txt', 'b')`, { session: 'res-b' });
    const { resources } = await srv.client.listResources();
    const uris = resources.map((r) => r.uri);
    expect(uris).toContain('sandbox://sessions/res-a/files/output/report.txt');
    expect(uris).toContain('sandbox://sessions/res-a/files/tmp/raw.bin');
    expect(uris).toContain('sandbox://sessions/res-b/files/tmp/other.txt');
    expect(resources.find((r) => r.uri.endsWith('/res-a/files/output/report.txt'))).toMatchObject({ mimeType: 'text/plain', size: 6 });

    const text = await srv.client.readResource({ uri: 'sandbox://sessions/res-a/files/output/report.txt' });
    expect(text.contents[0]).toMatchObject({ text: 'héllo', mimeType: 'text/plain' });
    const bin = await srv.client.readResource({ uri: 'sandbox://sessions/res-a/files/tmp/raw.bin' });
    expect(Buffer.from((bin.contents[0] as { blob: string }).blob, 'base64')).toEqual(Buffer.from([0, 255, 7]));
  });

  it('refuses a file too large for one message, naming its size, and the connection survives', async () => {
    // 12 MiB is 16 MiB in base64: past the SDK client's 10 MiB line, whose transport would close.
    await js(`fs.writeFileSync('/tmp/big.bin', new Uint8Array(12 * 1024 * 1024)); fs.writeFileSync('/tmp/ok.bin', new Uint8Array(6 * 1024 * 1024))`, { session: 'res-big' });
    const uri = 'sandbox://sessions/res-big/files/tmp/big.bin';
    await expect(srv.client.readResource({ uri })).rejects.toMatchObject({ code: -32602, message: expect.stringMatching(/\/tmp\/big\.bin is 12\.0 MiB, 16\.0 MiB encoded: more than the 9\.0 MiB .* in session "res-big"/) });
    const { value: ok, longest } = await longestLineDuring(srv, () => srv.client.readResource({ uri: 'sandbox://sessions/res-big/files/tmp/ok.bin' }));
    expect(Buffer.from((ok.contents[0] as { blob: string }).blob, 'base64')).toHaveLength(6 * 1024 * 1024);
    expect(longest).toBeLessThanOrEqual(SDK_CLIENT_LINE_LIMIT);
    expect((await js('6 * 7')).structuredContent.result).toBe(42);
  });

  // A URI whose template matches but names no file is -32002 (the MCP spec's "Resource not found");
  // one the SDK's URL parsing turns into a non-matching URI (dot segments) is its -32602 "not found".
  it('answers "Resource not found" for another session’s path, traversal, an unknown session, and after reset', async () => {
    await js(`fs.writeFileSync('/tmp/mine.txt', 'm')`, { session: 'res-c' });
    const missing = [
      'sandbox://sessions/res-b/files/tmp/mine.txt',
      'sandbox://sessions/res-c/files/tmp/../../tmp/../etc/passwd',
      'sandbox://sessions/res-c/files/tmp/%2E%2E/%2E%2E/etc/passwd',
      'sandbox://sessions/nobody/files/tmp/mine.txt',
      'sandbox://sessions/res-c/files/tmp/mine.txt%00',
    ];
    for (const uri of missing) {
      await expect(srv.client.readResource({ uri }), uri).rejects.toThrow(/not found/i);
    }
    await expect(srv.client.readResource({ uri: missing[0]! })).rejects.toMatchObject({ code: -32002 });
    await srv.call('reset_session', { session: 'res-c' });
    await expect(srv.client.readResource({ uri: 'sandbox://sessions/res-c/files/tmp/mine.txt' })).rejects.toMatchObject({ code: -32002 });
    expect((await srv.client.listResources()).resources.some((r) => r.uri.includes('/res-c/'))).toBe(false);
    expect((await js('6 * 7')).structuredContent.result).toBe(42);
  });
});
