/**
 * Files end to end: the `files` input, run_js's `fs`, and files returned from /output, through the
 * built server over stdio. Every test that provokes a refusal also checks the server answers the
 * next call.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SDK_CLIENT_LINE_LIMIT, longestLineDuring, startServer, type TestServer } from '../helpers/server.js';
import { tinyPng } from '../helpers/png.js';

let srv: TestServer;
/** A server whose policy has a small quota and a read-only prefix. */
let small: TestServer;
let policyDir: string;

const js = (code: string, extra: Record<string, unknown> = {}, on: TestServer = srv) => on.call('run_js', { code, ...extra });
const stillAnswers = async (on: TestServer = srv) => {
  const r = await js('6 * 7', {}, on);
  expect(r.structuredContent.result).toBe(42);
};


beforeAll(async () => {
  policyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-files-policy-'));
  const policyFile = path.join(policyDir, 'small.json');
  fs.writeFileSync(
    policyFile,
    JSON.stringify({ filesystem: { writable: ['/tmp', '/output'], readonly: ['/ref'], quotaBytes: 1024, maxFileBytes: 800 } }),
  );
  [srv, small] = await Promise.all([
    startServer(['--timeout', '8000', '--max-memory', '64']),
    startServer(['--policy', policyFile, '--timeout', '8000', '--max-memory', '64']),
  ]);
});

afterAll(async () => {
  await Promise.all([srv?.close(), small?.close()]);
  fs.rmSync(policyDir, { recursive: true, force: true });
});

describe('the files input', () => {
  it('is described in the tool schema', async () => {
    const { tools } = await srv.client.listTools();
    const files = (tools.find((t) => t.name === 'run_js')!.inputSchema.properties as any).files;
    expect(files.type).toBe('array');
    expect(files.description).toMatch(/before the code runs/);
    expect(files.maxItems).toBe(1000);
    expect(files.items.properties.encoding.enum).toEqual(['utf8', 'base64']);
    expect(files.items.properties.path.description).toBeTruthy();
  });

  it('is readable by the code, as text (utf8) and as bytes (base64)', async () => {
    const r = await js(
      `const text = fs.readFileSync('/tmp/in.txt', 'utf8');
       const bytes = fs.readFileSync('/tmp/in.bin');
       [text, fs.readFileSync('/tmp/in.txt', { encoding: 'utf-8' }), bytes instanceof Uint8Array, Array.from(bytes)]`,
      {
        files: [
          { path: '/tmp/in.txt', content: 'héllo ✓' },
          { path: '/tmp/in.bin', content: Buffer.from([0, 1, 254, 255]).toString('base64'), encoding: 'base64' },
        ],
      },
    );
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: ['héllo ✓', 'héllo ✓', true, [0, 1, 254, 255]] });
    // Input files are not "written by the run": nothing comes back.
    expect(r.structuredContent.files).toEqual([]);
  });

  it("takes a file the policy allows even when its request line is over the MCP SDK's 10 MiB", async () => {
    // 12 MiB of bytes are a 16 MiB line in base64; the default policy allows 16 MiB per file.
    const content = Buffer.alloc(12 * 1024 * 1024, 7).toString('base64');
    const r = await js("const b = fs.readFileSync('/tmp/big.bin'); [b.length, b[0], b[b.length - 1]]", {
      files: [{ path: '/tmp/big.bin', content, encoding: 'base64' }],
    });
    expect(r.structuredContent.error).toBeUndefined();
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: [12 * 1024 * 1024, 7, 7] });
    await stillAnswers();
  });

  it('a run at every default output cap still reaches the client: the answer stays within one readable message', async () => {
    // 1 MiB of stdout, 2 MiB of stderr and five 1000 KiB files made a 12.5 MiB line, past the
    // SDK client's 10 MiB: its transport closed and the session with the server ended.
    const { value: r, longest } = await longestLineDuring(srv, () =>
      js("console.log('o'.repeat(1024 * 1024 - 1)); console.error('e'.repeat(2 * 1024 * 1024 - 1)); for (let i = 0; i < 5; i++) fs.writeFileSync('/output/f' + i + '.bin', new Uint8Array(1000 * 1024)); 1"),
    );
    expect(longest).toBeLessThanOrEqual(SDK_CLIENT_LINE_LIMIT);
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: 1, stdoutTruncated: false, stderrTruncated: false });
    expect(r.structuredContent.files).toHaveLength(5);
    const notes = (r.content as Array<{ type: string; text?: string }>).filter((b) => b.type === 'text' && b.text!.startsWith('[/output/'));
    expect(notes.length).toBeGreaterThan(0);
    await stillAnswers();
  });

  it('refuses a path outside the writable prefixes with a clear error, and writes nothing', async () => {
    const r = await js('1', {
      session: 'refused-input',
      files: [
        { path: '/tmp/ok.txt', content: 'would be fine' },
        { path: '/etc/passwd', content: 'root::0:0::/:/bin/sh' },
      ],
    });
    expect(r.isError).toBe(true);
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error.code).toBe('E_POLICY_DENIED');
    expect(r.structuredContent.error.message).toContain('"/etc/passwd"');
    expect(r.structuredContent.error.message).toContain('writable: /tmp, /output');
    const after = await js('fs.existsSync("/tmp/ok.txt")', { session: 'refused-input' });
    expect(after.structuredContent.result).toBe(false);
  });

  it('refuses traversal and malformed input before anything runs', async () => {
    const traversal = await js('1', { files: [{ path: '/output/../etc/passwd', content: 'x' }] });
    expect(traversal.structuredContent.error).toMatchObject({ code: 'E_POLICY_DENIED' });
    expect(traversal.structuredContent.error.message).toContain('"/etc/passwd"');
    const nul = await js('1', { files: [{ path: '/tmp/a\u0000b', content: 'x' }] });
    expect(nul.structuredContent.error.code).toBe('E_INVALID_INPUT');
    const b64 = await js('1', { files: [{ path: '/tmp/a', content: 'not base64!', encoding: 'base64' }] });
    expect(b64.structuredContent.error.code).toBe('E_INVALID_INPUT');
    expect(b64.structuredContent.error.message).toContain('"/tmp/a"');
    await stillAnswers();
  });
});

describe('fs in run_js', () => {
  it('round-trips text and bytes, and appends', async () => {
    const r = await js(`
      fs.writeFileSync('/tmp/t.txt', 'line 1\\n');
      fs.appendFileSync('/tmp/t.txt', 'line 2\\n');
      fs.writeFileSync('/tmp/b.bin', new Uint8Array([1, 2, 3, 250]));
      fs.writeFileSync('/tmp/view.bin', new Uint16Array([1, 2]).subarray(1));
      fs.writeFileSync('/tmp/ab.bin', new Uint8Array([9, 8]).buffer);
      fs.writeFileSync('/tmp/hex.txt', '4142', 'hex');
      [
        fs.readFileSync('/tmp/t.txt', 'utf8'),
        Array.from(fs.readFileSync('/tmp/b.bin')),
        Array.from(fs.readFileSync('/tmp/view.bin')),
        Array.from(fs.readFileSync('/tmp/ab.bin')),
        fs.readFileSync('/tmp/hex.txt', 'utf8'),
        fs.readFileSync('/tmp/b.bin', 'base64'),
      ]`);
    expect(r.structuredContent).toMatchObject({
      exitCode: 0,
      result: ['line 1\nline 2\n', [1, 2, 3, 250], [2, 0], [9, 8], 'AB', 'AQID+g=='],
    });
  });

  it('keeps NUL characters, lone surrogates and emoji intact, and never truncates a path at a NUL', async () => {
    const r = await js(`
      const text = 'a\\u0000b \\ud83d\\ude00 \\ud800!';
      fs.writeFileSync('/tmp/nul.txt', text, 'utf16le');
      fs.writeFileSync('/tmp/u8.txt', 'x\\u0000y');
      const out = [fs.readFileSync('/tmp/nul.txt', 'utf16le') === text, fs.readFileSync('/tmp/u8.txt', 'utf8'), Array.from(fs.readFileSync('/tmp/u8.txt'))];
      for (const p of ['/tmp/u8.txt\\u0000.png', '/tmp/\\ud800']) {
        try { fs.readFileSync(p); out.push('read'); } catch (e) { out.push(e.code); }
      }
      out.push(fs.existsSync('/tmp/u8.txt\\u0000'));
      out`);
    expect(r.structuredContent.result).toEqual([true, 'x\u0000y', [120, 0, 121], 'EINVAL', 'EINVAL', false]);
  });

  it('moves bytes with helpers captured before guest code ran (poisoned built-ins change nothing)', async () => {
    const r = await js(`
      const TA = Object.getPrototypeOf(Uint8Array.prototype);
      Object.defineProperty(TA, 'byteLength', { get() { return 1; }, configurable: true });
      Object.defineProperty(TA, 'byteOffset', { get() { return 0; }, configurable: true });
      ArrayBuffer.prototype.slice = () => new ArrayBuffer(0);
      JSON.parse = () => ['pwned'];
      JSON.stringify = () => '"pwned"';
      fs.writeFileSync('/tmp/p.bin', new Uint8Array([5, 6, 7]).subarray(1));
      [Array.from(fs.readFileSync('/tmp/p.bin')), fs.readdirSync('/tmp'), fs.statSync('/tmp/p.bin').size]`);
    expect(r.structuredContent.result).toEqual([[6, 7], ['p.bin'], 2]);
  });

  it('offers readdirSync, statSync, existsSync, mkdirSync and rmSync', async () => {
    const r = await js(`
      const made = fs.mkdirSync('/tmp/a/b', { recursive: true });
      fs.writeFileSync('/tmp/a/b/c.txt', 'hello');
      const st = fs.statSync('/tmp/a/b/c.txt');
      const dir = fs.statSync('/tmp/a');
      const out = {
        made,
        root: fs.readdirSync('/'),
        list: fs.readdirSync('/tmp/a/b').sort(),
        size: st.size, isFile: st.isFile(), isDir: st.isDirectory(), dirIsDir: dir.isDirectory(),
        mtime: typeof st.mtimeMs === 'number' && st.mtimeMs > 0,
        before: fs.existsSync('/tmp/a/b/c.txt'),
      };
      let code;
      try { fs.rmSync('/tmp/a'); } catch (e) { code = e.code; }
      fs.rmSync('/tmp/a', { recursive: true });
      fs.rmSync('/tmp/nothing', { force: true });
      out.rmDirCode = code;
      out.after = fs.existsSync('/tmp/a');
      try { fs.readFileSync('/tmp/a/b/c.txt'); } catch (e) { out.readCode = e.code; out.readMessage = e.message; out.isError = e instanceof Error; }
      out`);
    expect(r.structuredContent.result).toEqual({
      made: '/tmp/a',
      root: ['output', 'tmp'],
      list: ['c.txt'],
      size: 5,
      isFile: true,
      isDir: false,
      dirIsDir: true,
      mtime: true,
      before: true,
      rmDirCode: 'EISDIR',
      after: false,
      readCode: 'ENOENT',
      readMessage: "ENOENT: no such file or directory, open '/tmp/a/b/c.txt'",
      isError: true,
    });
  });

  it('refuses a write to /etc/x with EACCES and keeps answering', async () => {
    const r = await js(`fs.writeFileSync('/etc/x', 'pwned')`);
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error).toMatchObject({ type: 'Error', code: 'E_GUEST_ERROR' });
    expect(r.structuredContent.error.message).toMatch(/^EACCES: permission denied, open '\/etc\/x'/);
    expect(JSON.stringify(r.structuredContent)).not.toMatch(/\/work\/|node_modules|dist\//);
    const caught = await js(`try { fs.writeFileSync('/etc/x', 'a'); } catch (e) { [e.code, e.syscall, e.path, e.errno] }`);
    expect(caught.structuredContent.result).toEqual(['EACCES', 'open', '/etc/x', -13]);
    await stillAnswers();
  });

  it('refuses a write to a read-only prefix with EACCES', async () => {
    const r = await js(
      `const out = [fs.existsSync('/ref'), fs.readdirSync('/').sort()];
       try { fs.writeFileSync('/ref/x.txt', 'no'); } catch (e) { out.push(e.code, e.message); }
       try { fs.mkdirSync('/ref/sub'); } catch (e) { out.push(e.code); }
       out`,
      {},
      small,
    );
    expect(r.structuredContent.result).toEqual([
      true,
      ['output', 'ref', 'tmp'],
      'EACCES',
      "EACCES: permission denied, open '/ref/x.txt' (read-only; writable: /tmp, /output)",
      'EACCES',
    ]);
    await stillAnswers(small);
  });

  it('cannot escape with traversal, look-alike slashes or control characters', async () => {
    const r = await js(`
      const codes = [];
      for (const p of ['/output/../etc/passwd', '../../etc/passwd', '/tmp/../../../etc/shadow', '/etc\u2215passwd', '/output/\\u0000x', '/output\\\\..\\\\etc']) {
        try { fs.readFileSync(p); codes.push('read'); } catch (e) { codes.push(e.code); }
        try { fs.writeFileSync(p, 'x'); codes.push('wrote'); } catch (e) { codes.push(e.code); }
      }
      codes`);
    expect(r.structuredContent.result).toEqual([
      'EACCES', 'EACCES',
      'EACCES', 'EACCES',
      'EACCES', 'EACCES',
      'EACCES', 'EACCES',
      'EINVAL', 'EINVAL',
      'EINVAL', 'EINVAL',
    ]);
    expect(r.structuredContent.files).toEqual([]);
  });

  it('rejects bad arguments with TypeErrors, not crashes', async () => {
    const r = await js(`
      const out = [];
      for (const f of [() => fs.readFileSync(42), () => fs.writeFileSync('/tmp/x', {}), () => fs.readFileSync('/tmp/x', 'klingon'), () => fs.mkdirSync('/tmp/q', { recursive: 'yes' })]) {
        try { f(); out.push('ok'); } catch (e) { out.push(e.name + ':' + e.code); }
      }
      out`);
    expect(r.structuredContent.result).toEqual([
      'TypeError:ERR_INVALID_ARG_TYPE',
      'TypeError:ERR_INVALID_ARG_TYPE',
      'TypeError:ERR_INVALID_ARG_VALUE',
      'TypeError:ERR_INVALID_ARG_TYPE',
    ]);
  });
});

describe('files returned from /output', () => {
  it('returns a PNG written to /output as image content, and lists it', async () => {
    const png = tinyPng();
    const r = await js(`fs.writeFileSync('/output/plot.png', new Uint8Array(${JSON.stringify([...png])})); 'drawn'`);
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: 'drawn' });
    expect(r.structuredContent.files).toEqual([{ path: '/output/plot.png', size: png.length, mimeType: 'image/png' }]);
    const image = (r.content as any[]).find((c) => c.type === 'image');
    expect(image).toEqual({ type: 'image', mimeType: 'image/png', data: png.toString('base64') });
    expect((r.content as any[])[0].type).toBe('text');
  });

  it('returns a text file as an embedded resource, and only files under /output', async () => {
    const r = await js(
      `fs.writeFileSync('/output/report.csv', 'a,b\\n1,2\\n'); fs.writeFileSync('/tmp/scratch.txt', 'not returned');`,
      { session: 'report' },
    );
    expect(r.structuredContent.files).toEqual([{ path: '/output/report.csv', size: 8, mimeType: 'text/csv' }]);
    const resources = (r.content as any[]).filter((c) => c.type === 'resource');
    expect(resources).toEqual([
      { type: 'resource', resource: { uri: 'sandbox://report/output/report.csv', mimeType: 'text/csv', text: 'a,b\n1,2\n' } },
    ]);
    // Files the cell leaves alone are not returned again; one it writes again, even with the same bytes, is.
    const again = await js(`fs.readFileSync('/output/report.csv', 'utf8'); 1`, { session: 'report' });
    expect(again.structuredContent.files).toEqual([]);
    expect(again.content).toHaveLength(1);
    const rewritten = await js(`fs.writeFileSync('/output/report.csv', 'a,b\\n1,2\\n'); 1`, { session: 'report' });
    expect(rewritten.structuredContent.files).toEqual([{ path: '/output/report.csv', size: 8, mimeType: 'text/csv' }]);
  });

  it('lists a file over the 1 MiB content cap but leaves it out of the content, with a note naming it', async () => {
    const r = await js(`fs.writeFileSync('/output/big.bin', new Uint8Array(1200 * 1024)); fs.writeFileSync('/output/small.json', '{"ok":true}')`);
    expect(r.structuredContent.files).toEqual([
      { path: '/output/big.bin', size: 1200 * 1024, mimeType: 'application/octet-stream' },
      { path: '/output/small.json', size: 11, mimeType: 'application/json' },
    ]);
    const [, note, resource] = r.content as any[];
    expect(note.type).toBe('text');
    expect(note.text).toContain('/output/big.bin (1.2 MiB) is not attached');
    expect(resource).toEqual({ type: 'resource', resource: { uri: 'sandbox://sessionless.run/output/small.json', mimeType: 'application/json', text: '{"ok":true}' } });
  });

  it('keeps what a run wrote before it timed out', async () => {
    const r = await js(`fs.writeFileSync('/output/before-timeout.txt', 'saved'); while (true) {}`, { session: 'slow', timeoutMs: 1500 });
    expect(r.structuredContent.exitCode).toBe(124);
    expect(r.structuredContent.files).toEqual([{ path: '/output/before-timeout.txt', size: 5, mimeType: 'text/plain' }]);
    const after = await js(`fs.readFileSync('/output/before-timeout.txt', 'utf8')`, { session: 'slow' });
    expect(after.structuredContent.result).toBe('saved');
  });

  it('keeps what a run wrote when its time runs out inside a long fs call (the hard stop waits for it)', async () => {
    // Reading 10 MiB as hex takes ~0.9 s inside the host function (more under load), past the 200 ms
    // grace: the worker used to be terminated there, and the run's writes went with it.
    await js(`fs.writeFileSync('/tmp/big', new Uint8Array(10 << 20)); 0`, { session: 'slow-fs' });
    const r = await js(`fs.writeFileSync('/output/during.txt', 'kept'); for (;;) fs.readFileSync('/tmp/big', 'hex')`, { session: 'slow-fs', timeoutMs: 2000 });
    expect(r.structuredContent.exitCode).toBe(124);
    expect(r.structuredContent.files).toEqual([{ path: '/output/during.txt', size: 4, mimeType: 'text/plain' }]);
    const after = await js(`[fs.readFileSync('/output/during.txt', 'utf8'), fs.statSync('/tmp/big').size]`, { session: 'slow-fs' });
    expect(after.structuredContent.result).toEqual(['kept', 10 << 20]);
    expect(after.structuredContent.stderr).not.toContain('earlier state was lost');
  }, 60_000);

  it('keeps what a failing run wrote before its error', async () => {
    const r = await js(`fs.writeFileSync('/output/partial.txt', 'half'); throw new Error('boom')`, { session: 'fails' });
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.files).toEqual([{ path: '/output/partial.txt', size: 4, mimeType: 'text/plain' }]);
    const after = await js(`fs.readFileSync('/output/partial.txt', 'utf8')`, { session: 'fails' });
    expect(after.structuredContent.result).toBe('half');
  });
});

describe('session files', () => {
  it('persist across calls of one session, are invisible to another and to sessionless runs, and go with reset_session', async () => {
    await js(`fs.writeFileSync('/tmp/secret.txt', 'alice only'); fs.mkdirSync('/output/d'); fs.writeFileSync('/output/d/x.txt', 'x')`, {
      session: 'files-alice',
    });
    const again = await js(`[fs.readFileSync('/tmp/secret.txt', 'utf8'), fs.readdirSync('/output/d')]`, { session: 'files-alice' });
    expect(again.structuredContent.result).toEqual(['alice only', ['x.txt']]);

    const bob = await js(`[fs.existsSync('/tmp/secret.txt'), fs.readdirSync('/tmp'), fs.readdirSync('/output')]`, { session: 'files-bob' });
    expect(bob.structuredContent.result).toEqual([false, [], []]);
    const none = await js(`fs.existsSync('/tmp/secret.txt')`);
    expect(none.structuredContent.result).toBe(false);

    const reset = await srv.call('reset_session', { session: 'files-alice' });
    expect(reset.structuredContent.existed).toBe(true);
    const gone = await js(`[fs.existsSync('/tmp/secret.txt'), fs.existsSync('/output/d/x.txt')]`, { session: 'files-alice' });
    expect(gone.structuredContent.result).toEqual([false, false]);
  });

  it('sessionless runs keep nothing between calls', async () => {
    await js(`fs.writeFileSync('/tmp/left.txt', 'x')`);
    const r = await js(`fs.existsSync('/tmp/left.txt')`);
    expect(r.structuredContent.result).toBe(false);
  });

  it('are shared with files written through the input of a later call', async () => {
    await js(`fs.writeFileSync('/tmp/one.txt', '1')`, { session: 'mixed' });
    const r = await js(`fs.readdirSync('/tmp')`, { session: 'mixed', files: [{ path: 'tmp/two.txt', content: '2' }] });
    expect(r.structuredContent.result).toEqual(['one.txt', 'two.txt']);
  });
});

describe('quotas', () => {
  it('refuses a files input over the quota with E_QUOTA_EXCEEDED and keeps the earlier files', async () => {
    const first = await js(`fs.writeFileSync('/tmp/keep.txt', 'k'.repeat(600)); 'ok'`, { session: 'q1' }, small);
    expect(first.structuredContent.result).toBe('ok');
    const r = await js('1', { session: 'q1', files: [{ path: '/tmp/more.txt', content: 'm'.repeat(500) }] }, small);
    expect(r.isError).toBe(true);
    expect(r.structuredContent.error.code).toBe('E_QUOTA_EXCEEDED');
    expect(r.structuredContent.error.message).toContain('"/tmp/more.txt"');
    expect(r.structuredContent.error.message).toMatch(/quota is 1024 bytes/);
    const after = await js(`[fs.readFileSync('/tmp/keep.txt', 'utf8').length, fs.existsSync('/tmp/more.txt')]`, { session: 'q1' }, small);
    expect(after.structuredContent.result).toEqual([600, false]);
  });

  it('refuses a guest write over the quota with ENOSPC, naming the quota, and keeps the earlier files', async () => {
    await js(`fs.writeFileSync('/output/keep.txt', 'k'.repeat(600))`, { session: 'q2' }, small);
    const r = await js(`fs.writeFileSync('/output/big.txt', 'b'.repeat(500))`, { session: 'q2' }, small);
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error.message).toMatch(/^ENOSPC: no space left on device, open '\/output\/big.txt' \(the session's file quota is exceeded: .*the quota is 1024 bytes\)/);
    expect(r.structuredContent.files).toEqual([]);
    const tooBig = await js(`try { fs.writeFileSync('/tmp/huge', new Uint8Array(900)) } catch (e) { e.code }`, { session: 'q2' }, small);
    expect(tooBig.structuredContent.result).toBe('EFBIG');
    const after = await js(`[fs.readFileSync('/output/keep.txt', 'utf8').length, fs.existsSync('/output/big.txt')]`, { session: 'q2' }, small);
    expect(after.structuredContent.result).toEqual([600, false]);
    await stillAnswers(small);
  });
});

describe('stdout purity', () => {
  it('every byte the servers wrote to stdout is JSON-RPC', () => {
    expect(srv.assertStdoutIsJsonRpc()).toBeGreaterThan(5);
    expect(small.assertStdoutIsJsonRpc()).toBeGreaterThan(3);
  });
});
