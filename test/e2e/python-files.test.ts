/**
 * run_python's files end to end, through the built server: the `files` input read with open(),
 * files written under /output returned, session files shared and isolated, and the way-out rules
 * (only writable prefixes, no symlinks, the limits) holding against a guest that owns its MEMFS.
 * Every test that provokes a refusal also checks the server answers the next call.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, warmUpPython, type TestServer } from '../helpers/server.js';
import { tinyPng } from '../helpers/png.js';

let srv: TestServer;
/** A server whose policy has a small quota and a read-only prefix. */
let small: TestServer;
let policyDir: string;

const py = (code: string, extra: Record<string, unknown> = {}, on: TestServer = srv) =>
  on.call('run_python', { code, ...extra }, { timeout: 120_000 });
const js = (code: string, extra: Record<string, unknown> = {}, on: TestServer = srv) => on.call('run_js', { code, ...extra });
const stillAnswers = async (on: TestServer = srv) => {
  const r = await py('6 * 7', {}, on);
  expect(r.structuredContent.result).toBe(42);
};


beforeAll(async () => {
  policyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-pyfiles-policy-'));
  const policyFile = path.join(policyDir, 'small.json');
  fs.writeFileSync(
    policyFile,
    JSON.stringify({ filesystem: { writable: ['/tmp', '/output'], readonly: ['/ref'], quotaBytes: 1024, maxFileBytes: 800, maxFiles: 5 } }),
  );
  [srv, small] = await Promise.all([
    startServer(['--timeout', '20000', '--max-memory', '256']),
    startServer(['--policy', policyFile, '--timeout', '20000', '--max-memory', '256']),
  ]);
  // The first Python call of a server waits for the interpreter snapshot.
  await Promise.all([warmUpPython(srv), warmUpPython(small)]);
}, 600_000);

afterAll(async () => {
  await Promise.all([srv?.close(), small?.close()]);
  fs.rmSync(policyDir, { recursive: true, force: true });
});

describe('files in run_python', () => {
  it('returns an output file a later cell writes again with the same bytes, in both languages', async () => {
    // A re-run that saves the same chart must show it again; a cell that leaves it alone does not.
    for (const [tool, write] of [
      ['run_python', "open('/output/again.txt', 'w').write('same')"],
      ['run_js', "fs.writeFileSync('/output/again.txt', 'same')"],
    ] as const) {
      await srv.call(tool, { code: write, session: 'again' }, { timeout: 120_000 });
      const again = await srv.call(tool, { code: write, session: 'again' }, { timeout: 120_000 });
      expect(again.structuredContent.files, tool).toEqual([{ path: '/output/again.txt', size: 4, mimeType: 'text/plain' }]);
      const untouched = await srv.call(tool, { code: '1', session: 'again' }, { timeout: 120_000 });
      expect(untouched.structuredContent.files, tool).toEqual([]);
    }
  });

  it('starts in /tmp: a relative path is a session file, seen by run_js and kept', async () => {
    // Pyodide's own cwd, /home/pyodide, was kept by nothing and counted by no quota.
    const r = await srv.call('run_python', { code: 'import os\nopen("rel.txt", "w").write("relative")\nos.getcwd()', session: 'py-cwd' }, { timeout: 120_000 });
    expect(r.structuredContent.result).toBe('/tmp');
    const js = await srv.call('run_js', { code: "fs.readFileSync('/tmp/rel.txt', 'utf8')", session: 'py-cwd' });
    expect(js.structuredContent.result).toBe('relative');
  });

  it('reads the files input with open(), os and pathlib, as text and as bytes', async () => {
    const r = await py(
      `import os, pathlib
[open('/tmp/in.txt', encoding='utf-8').read(), list(open('/tmp/in.bin', 'rb').read()),
 sorted(os.listdir('/tmp')), pathlib.Path('/tmp/in.txt').stat().st_size, os.path.isdir('/output')]`,
      {
        files: [
          { path: '/tmp/in.txt', content: 'héllo ✓' },
          { path: '/tmp/in.bin', content: Buffer.from([0, 1, 254, 255]).toString('base64'), encoding: 'base64' },
        ],
      },
    );
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: ['héllo ✓', [0, 1, 254, 255], ['in.bin', 'in.txt'], 10, true] });
    // Input files are not "written by the run": nothing comes back.
    expect(r.structuredContent.files).toEqual([]);
  });

  it('returns a file written to /output, a PNG as image content and text as an embedded resource', async () => {
    const png = tinyPng();
    const r = await py(
      `import base64, pathlib
pathlib.Path('/output/plot.png').write_bytes(base64.b64decode('${png.toString('base64')}'))
with open('/output/table.csv', 'w') as f:
    f.write('a,b\\n1,2\\n')
open('/tmp/scratch.txt', 'w').write('not returned')
'drawn'`,
      { session: 'py-out' },
    );
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: 'drawn' });
    expect(r.structuredContent.files).toEqual([
      { path: '/output/plot.png', size: png.length, mimeType: 'image/png' },
      { path: '/output/table.csv', size: 8, mimeType: 'text/csv' },
    ]);
    const content = r.content as any[];
    expect(content.find((c) => c.type === 'image')).toEqual({ type: 'image', mimeType: 'image/png', data: png.toString('base64') });
    expect(content.find((c) => c.type === 'resource')).toEqual({
      type: 'resource',
      resource: { uri: 'sandbox://py-out/output/table.csv', mimeType: 'text/csv', text: 'a,b\n1,2\n' },
    });
    // Files the cell leaves alone are not returned again (one it writes again is: see below).
    const again = await py(`open('/output/table.csv').read()`, { session: 'py-out' });
    expect(again.structuredContent.files).toEqual([]);
  });

  it('keeps session files across calls, shares them with run_js of the same session, and hides them from others', async () => {
    await py(`import os\nos.makedirs('/output/d')\nopen('/output/d/x.txt', 'w').write('x')\nopen('/tmp/secret.txt', 'w').write('alice only')`, {
      session: 'py-alice',
    });
    const again = await py(`[open('/tmp/secret.txt').read(), __import__('os').listdir('/output/d')]`, { session: 'py-alice' });
    expect(again.structuredContent.result).toEqual(['alice only', ['x.txt']]);
    const sameSessionJs = await js(`fs.readFileSync('/tmp/secret.txt', 'utf8')`, { session: 'py-alice' });
    expect(sameSessionJs.structuredContent.result).toBe('alice only');

    const bob = await py(`import os\n[os.path.exists('/tmp/secret.txt'), os.listdir('/tmp'), os.listdir('/output')]`, { session: 'py-bob' });
    expect(bob.structuredContent.result).toEqual([false, [], []]);
    const otherJs = await js(`[fs.existsSync('/tmp/secret.txt'), fs.readdirSync('/tmp')]`, { session: 'js-carol' });
    expect(otherJs.structuredContent.result).toEqual([false, []]);
    const none = await py(`__import__('os').path.exists('/tmp/secret.txt')`);
    expect(none.structuredContent.result).toBe(false);
  });

  it('deletes in the session a file Python deleted, and sees files run_js wrote', async () => {
    await py('1', { session: 'py-del', files: [{ path: '/tmp/a.txt', content: 'a' }, { path: '/output/b.txt', content: 'b' }] });
    const r = await py(`import os\nos.remove('/tmp/a.txt')\nos.remove('/output/b.txt')`, { session: 'py-del' });
    expect(r.structuredContent.exitCode).toBe(0);
    const after = await js(`[fs.existsSync('/tmp/a.txt'), fs.existsSync('/output/b.txt')]`, { session: 'py-del' });
    expect(after.structuredContent.result).toEqual([false, false]);
    await js(`fs.writeFileSync('/tmp/from-js.txt', 'js wrote this')`, { session: 'py-del' });
    const seen = await py(`[open('/tmp/from-js.txt').read(), sorted(__import__('os').listdir('/tmp'))]`, { session: 'py-del' });
    expect(seen.structuredContent.result).toEqual(['js wrote this', ['from-js.txt']]);
  });

  it('shows a session exactly its stored files each run: what the front refused does not linger in the interpreter', async () => {
    // A symlink is refused by the front; the next run of the same interpreter must not see it.
    const r = await py(`import os\nos.symlink('/lib', '/tmp/lib-link')\nopen('/tmp/kept.txt', 'w').write('k')`, { session: 'py-exact' });
    expect(r.structuredContent.exitCode).toBe(0);
    expect(r.structuredContent.stderr).toMatch(/\/tmp\/lib-link.*symlink/);
    const next = await py(`sorted(__import__('os').listdir('/tmp'))`, { session: 'py-exact' });
    expect(next.structuredContent.result).toEqual(['kept.txt']);
  });

  it('reads back files the guest made unreadable (chmod 000), and restores the modes next run', async () => {
    const r = await py(`import os\nopen('/output/locked.txt', 'w').write('mine')\nos.chmod('/output/locked.txt', 0)\nos.chmod('/output', 0)`, { session: 'py-chmod' });
    expect(r.structuredContent.files).toEqual([{ path: '/output/locked.txt', size: 4, mimeType: 'text/plain' }]);
    const next = await py(`open('/output/locked.txt').read()`, { session: 'py-chmod' });
    expect(next.structuredContent.result).toBe('mine');
  });

  it('keeps what a run wrote before it timed out or failed', async () => {
    const slow = await py(`open('/output/before-timeout.txt', 'w').write('saved')\nwhile True: pass`, { session: 'py-slow', timeoutMs: 500 });
    expect(slow.structuredContent.exitCode).toBe(124);
    expect(slow.structuredContent.files).toEqual([{ path: '/output/before-timeout.txt', size: 5, mimeType: 'text/plain' }]);
    const failing = await py(`open('/output/partial.txt', 'w').write('half')\nraise ValueError('boom')`, { session: 'py-slow' });
    expect(failing.structuredContent.exitCode).toBe(1);
    expect(failing.structuredContent.files).toEqual([{ path: '/output/partial.txt', size: 4, mimeType: 'text/plain' }]);
    const after = await py(`[open('/output/before-timeout.txt').read(), open('/output/partial.txt').read()]`, { session: 'py-slow' });
    expect(after.structuredContent.result).toEqual(['saved', 'half']);
  });
});

describe('what never leaves the interpreter', () => {
  it('exports nothing written outside the writable prefixes, and sessionless runs keep nothing', async () => {
    const r = await py(`import os
open('/home/pyodide/notes.txt', 'w').write('x')
open('/lib/python3.14/site-packages/evil.py', 'w').write('pwned = True')
open('/evil.txt', 'w').write('x')
open('/tmp/left.txt', 'w').write('x')
'done'`);
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: 'done', files: [] });
    const next = await py(`import os, importlib.util
[os.path.exists(p) for p in ('/home/pyodide/notes.txt', '/lib/python3.14/site-packages/evil.py', '/evil.txt', '/tmp/left.txt')] + [importlib.util.find_spec('evil') is None]`);
    expect(next.structuredContent.result).toEqual([false, false, false, false, true]);
  });

  it('refuses symlinks out of /output, to the standard library or elsewhere, and never reads through them', async () => {
    const r = await py(`import os
os.symlink('/lib/python314.zip', '/output/stdlib.zip')
os.symlink('/home/pyodide', '/output/home')
os.makedirs('/tmp/real')
os.symlink('/tmp/real', '/output/dirlink')
open('/tmp/real/inside.txt', 'w').write('reached through a link')
[os.path.islink('/output/stdlib.zip'), len(open('/output/stdlib.zip', 'rb').read(4096)) == 4096, hasattr(os, 'link')]`);
    // The guest may read through its own links; os.link (hard links) does not exist in Pyodide.
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: [true, true, false] });
    expect(r.structuredContent.files).toEqual([]);
    expect(r.structuredContent.stderr).toContain('/output/stdlib.zip: a symlink');
    expect(r.structuredContent.stderr).toContain('a symlink; only regular files are kept');
    expect(JSON.stringify(r.content)).not.toContain('reached through a link');
    await stillAnswers();
  });

  it('refuses a plain write to a read-only prefix, and does not export one made after chmod', async () => {
    const r = await py(
      `import os
out = [os.path.isdir('/ref'), sorted(os.listdir('/'))]
try:
    open('/ref/x.txt', 'w').write('no')
except PermissionError as e:
    out.append('PermissionError')
os.chmod('/ref', 0o777)
open('/ref/x.txt', 'w').write('after chmod')
os.symlink('/ref/x.txt', '/output/ref-link')
out.append(open('/ref/x.txt').read())
out`,
      { session: 'py-ro' },
      small,
    );
    expect(r.structuredContent.result).toEqual([true, ['dev', 'home', 'lib', 'output', 'proc', 'ref', 'tmp'], 'PermissionError', 'after chmod']);
    expect(r.structuredContent.files).toEqual([]);
    const next = await py(`import os\n[os.listdir('/ref'), os.listdir('/output'), oct(os.stat('/ref').st_mode & 0o777)]`, { session: 'py-ro' }, small);
    expect(next.structuredContent.result).toEqual([[], [], '0o555']);
    await stillAnswers(small);
  });
});

describe('limits of the files in run_python', () => {
  it('bounds file contents by the memory limit: a write past it fails with ENOSPC, and the interpreter goes on', async () => {
    const r = await py(
      `import errno, os
def attempt(fn):
    try:
        fn()
        return 'no limit'
    except OSError as e:
        return errno.errorcode.get(e.errno)
def grow():
    with open('/home/pyodide/big', 'wb') as f:
        f.truncate(300 * 1024 * 1024)
chunk = b'x' * (96 * 1024 * 1024)
def write():
    with open('/tmp/big', 'wb') as f:
        for i in range(3):
            f.write(chunk)
outcome = [attempt(grow), attempt(write)]
for p in ('/home/pyodide/big', '/tmp/big'):
    if os.path.exists(p):
        os.remove(p)
open('/tmp/after.txt', 'w').write('fine')
outcome`,
      { session: 'py-mem' },
    );
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: ['ENOSPC', 'ENOSPC'] });
    expect(r.structuredContent.files).toEqual([]);
    await stillAnswers();
  });


  it('fails a run whose files exceed the quota with E_QUOTA_EXCEEDED, keeping the session files as they were', async () => {
    const first = await py(`open('/output/keep.txt', 'w').write('k' * 600)\nopen('/tmp/other.txt', 'w').write('o')\n'ok'`, { session: 'py-q' }, small);
    expect(first.structuredContent).toMatchObject({ exitCode: 0, result: 'ok' });
    const r = await py(`import os\nopen('/output/big.txt', 'w').write('b' * 500)\nos.remove('/tmp/other.txt')\nopen('/tmp/t.txt', 'w').write('t')`, { session: 'py-q' }, small);
    expect(r.isError).toBe(true);
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error.code).toBe('E_QUOTA_EXCEEDED');
    expect(r.structuredContent.error.message).toMatch(/more than 1024 bytes \(its quota\); none of the run's file changes were kept/);
    expect(r.structuredContent.files).toEqual([]);
    // Nothing of that run was kept, not even its deletion or its small file.
    const after = await py(
      `import os\n[len(open('/output/keep.txt').read()), os.path.exists('/tmp/other.txt'), os.path.exists('/output/big.txt'), os.path.exists('/tmp/t.txt')]`,
      { session: 'py-q' },
      small,
    );
    expect(after.structuredContent.result).toEqual([600, true, false, false]);
  });

  it('names the file over the per-file limit, and the file count', async () => {
    const big = await py(`open('/tmp/huge.bin', 'wb').write(bytes(900))`, {}, small);
    expect(big.structuredContent.error).toMatchObject({ code: 'E_QUOTA_EXCEEDED' });
    expect(big.structuredContent.error.message).toContain('"/tmp/huge.bin" is 900 bytes; the limit per file is 800 bytes');
    const many = await py(`for i in range(6): open(f'/tmp/f{i}', 'w').write('x')`, {}, small);
    expect(many.structuredContent.error.message).toContain('more than 5 files');
    await stillAnswers(small);
  });
});

describe('stdout purity', () => {
  it('every byte the servers wrote to stdout is JSON-RPC', () => {
    expect(srv.assertStdoutIsJsonRpc()).toBeGreaterThan(5);
    expect(small.assertStdoutIsJsonRpc()).toBeGreaterThan(3);
  });
});
