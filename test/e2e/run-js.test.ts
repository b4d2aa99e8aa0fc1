/**
 * run_js end to end: the built server over stdio, driven by the SDK client.
 * Every test that provokes a failure also checks that the server answers the next call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
const js = (code: string, extra: Record<string, unknown> = {}) => srv.call('run_js', { code, ...extra });
const stillAnswers = async () => {
  const r = await js('6 * 7');
  expect(r.structuredContent.result).toBe(42);
};

beforeAll(async () => {
  srv = await startServer(['--timeout', '8000', '--max-stdout', '4096', '--max-memory', '64']);
});
afterAll(async () => {
  await srv.close();
});

describe('tools/list', () => {
  it('lists run_js, run_python and reset_session with schemas and annotations', async () => {
    const { tools } = await srv.client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(Object.keys(byName)).toEqual(expect.arrayContaining(['run_js', 'run_python', 'reset_session']));
    const runJs = byName.run_js!;
    expect(runJs.inputSchema.properties).toHaveProperty('code');
    expect((runJs.inputSchema.properties as any).code.description).toBeTruthy();
    expect(runJs.outputSchema?.properties).toHaveProperty('exitCode');
    expect(runJs.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false, openWorldHint: false });
    expect(byName.reset_session!.annotations).toMatchObject({ destructiveHint: true });
  });
});

describe('run_js basics', () => {
  it('captures stdout, stderr and the last expression', async () => {
    const r = await js('console.log("hello", 1, {a: [1, 2]}); console.error("oops"); const x = 20; x + 22');
    expect(r.isError).toBe(false);
    expect(r.structuredContent).toMatchObject({ exitCode: 0, stdout: 'hello 1 {"a":[1,2]}\n', stderr: 'oops\n', result: 42 });
    expect(r.structuredContent.capsule.id).toMatch(/^[0-9a-f]{64}$/);
    expect(r.structuredContent.capsule.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.parse((r.content as any)[0].text)).toEqual(r.structuredContent);
  });

  it('has the console methods agents use: info, debug, trace, dir and table print as log does; warn as error', async () => {
    const r = await js('console.info("i"); console.debug("d"); console.trace("t"); console.dir({a: 1}); console.table([1, 2]); console.warn("w"); 1');
    expect(r.structuredContent).toMatchObject({ exitCode: 0, stdout: 'i\nd\nt\n{"a":1}\n[1,2]\n', stderr: 'w\n', result: 1 });
  });

  it('has no result when the last statement is not an expression', async () => {
    const r = await js('let y = 1;');
    expect(r.structuredContent.exitCode).toBe(0);
    expect(r.structuredContent).not.toHaveProperty('result');
  });

  it('supports top-level await with the awaited value as result', async () => {
    const r = await js('const v = await new Promise((res) => setTimeout(() => res(41), 20)); v + 1');
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: 42 });
  });

  it('reports an uncaught error with its type, message and a traceback of the user lines only', async () => {
    const r = await js('function f() {\n  throw new TypeError("bad thing");\n}\nf();');
    expect(r.isError).toBe(true);
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error).toMatchObject({ type: 'TypeError', message: 'bad thing', code: 'E_GUEST_ERROR' });
    expect(r.structuredContent.error.traceback).toContain('main.js:2');
    const text = JSON.stringify(r.structuredContent);
    expect(text).not.toMatch(/node_modules|\/work\/|dist\/|file:\/\//);
    await stillAnswers();
  });

  it('reports a syntax error as exit 1', async () => {
    const r = await js('let = ;');
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error.type).toBe('SyntaxError');
  });

  it('exposes no host objects to the guest', async () => {
    const r = await js('[typeof process, typeof require, typeof fetch, typeof globalThis.Deno, typeof WebAssembly]');
    expect(r.structuredContent.result).toEqual(['undefined', 'undefined', 'undefined', 'undefined', 'undefined']);
  });
});

describe('limits', () => {
  it('stops while(true){} with 124 within timeout + 1 s, and answers the next call', async () => {
    const t0 = Date.now();
    const r = await js('while (true) {}', { timeoutMs: 1000 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(r.structuredContent.exitCode).toBe(124);
    expect(r.structuredContent.error.code).toBe('E_TIMEOUT');
    await stillAnswers();
  });

  it('cannot catch its way past the interrupt', async () => {
    const r = await js('for (;;) { try { while (true) {} } catch (e) {} }', { timeoutMs: 500 });
    expect(r.structuredContent.exitCode).toBe(124);
    await stillAnswers();
  });

  it('keeps output printed before a timeout', async () => {
    const r = await js('console.log("before"); while (true) {}', { timeoutMs: 500 });
    expect(r.structuredContent).toMatchObject({ exitCode: 124, stdout: 'before\n' });
  });

  it('stops an allocation loop with 137 and discards the runtime', async () => {
    const r = await js('const keep = []; for (let i = 0; ; i++) keep.push(new Uint8Array(1 << 20).fill(i));');
    expect(r.structuredContent.exitCode).toBe(137);
    expect(r.structuredContent.error.code).toBe('E_MEMORY_LIMIT');
    await stillAnswers();
  });

  it('caps an output flood even when the guest catches errors in a loop', async () => {
    const r = await js('const s = "x".repeat(1000); for (let i = 0; i < 100000; i++) { try { console.log(s); } catch (e) {} } "done"');
    expect(r.structuredContent.stdoutTruncated).toBe(true);
    expect(Buffer.byteLength(r.structuredContent.stdout)).toBeLessThanOrEqual(4096);
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: 'done' });
    await stillAnswers();
  });

  it('does not let the call raise the policy timeout', async () => {
    const r = await js('while (true) {}', { timeoutMs: 10_000_000 });
    expect(r.structuredContent.exitCode).toBe(124);
    expect(r.structuredContent.error.message).toContain('8000 ms');
  }, 30_000);

  it('refuses bad arguments with a clear message and keeps serving', async () => {
    const r = await srv.call('run_js', { code: 42 });
    expect(r.isError).toBe(true);
    expect(JSON.stringify(r.content)).toMatch(/code/);
    const bad = await srv.call('run_js', { code: '1', session: '../etc' });
    expect(bad.isError).toBe(true);
    await stillAnswers();
  });

  it('refuses a misspelt field by name instead of running without it (the schemas say additionalProperties: false)', async () => {
    const typo = await srv.call('run_js', { code: 'globalThis.ran = true; 1', sesion: 'typo' });
    expect(typo.isError).toBe(true);
    expect(JSON.stringify(typo.content)).toContain('sesion');
    const py = await srv.call('run_python', { code: '1', typescript: true });
    expect(py.isError).toBe(true);
    expect(JSON.stringify(py.content)).toContain('typescript');
    const nested = await srv.call('run_js', { code: '1', files: [{ path: '/tmp/a', content: 'x', mode: 'rw' }] });
    expect(nested.isError).toBe(true);
    const { tools } = await srv.client.listTools();
    for (const name of ['run_js', 'run_python', 'reset_session']) expect(tools.find((t) => t.name === name)!.inputSchema.additionalProperties).toBe(false);
  });
});

describe('results are converted without running guest code', () => {
  it('ignores toJSON and getters, and survives poisoned built-ins', async () => {
    await js('globalThis.touched = false;', { session: 'conv' });
    const r = await js(
      `Object.defineProperty(Array.prototype, '0', { set() { touched = true; }, configurable: true });
       Object.defineProperty(Object.prototype, 'value', { get() { touched = true; return 'pwn'; }, configurable: true });
       JSON.stringify = () => { touched = true; return '"pwn"'; };
       ({ toJSON() { touched = true; return 'pwn'; }, get g() { touched = true; return 1; }, list: [1, 'two', null], n: NaN })`,
      { session: 'conv' },
    );
    expect(r.structuredContent.result).toEqual({ list: [1, 'two', null], n: null });
    const after = await js('touched', { session: 'conv' });
    expect(after.structuredContent.result).toBe(false);
  });

  it('omits a result that is too large, with a note', async () => {
    const r = await js('"y".repeat(10000)');
    expect(r.structuredContent).not.toHaveProperty('result');
    expect(r.structuredContent.stderr).toContain('result omitted');
  });

  it('says why the result is missing even when the code filled stderr to its cap', async () => {
    const r = await js('console.error("e".repeat(3 << 20)); "y".repeat(10000)');
    expect(r.structuredContent).not.toHaveProperty('result');
    expect(r.structuredContent.stderrTruncated).toBe(true);
    expect(r.structuredContent.stderr).toMatch(/e\n?\[result omitted: [^\]]*\]\n$/);
  });
});

describe('sessions', () => {
  it('keeps state within a session, like notebook cells, including re-declared consts', async () => {
    await js('var counter = 1; const fixed = "a";', { session: 'nb' });
    const r = await js('counter += 1; const fixed = "b"; [counter, fixed]', { session: 'nb' });
    expect(r.structuredContent).toMatchObject({ exitCode: 0, result: [2, 'b'], session: 'nb' });
  });

  it('isolates sessions from each other and sessionless runs from everything', async () => {
    await js('globalThis.secret = 123', { session: 'alice' });
    const bob = await js('typeof secret', { session: 'bob' });
    expect(bob.structuredContent.result).toBe('undefined');
    await js('globalThis.leak = 1');
    const fresh = await js('typeof leak');
    expect(fresh.structuredContent.result).toBe('undefined');
  });

  it('reset_session drops the state', async () => {
    await js('globalThis.kept = 1', { session: 'temp' });
    const reset = await srv.call('reset_session', { session: 'temp' });
    expect(reset.structuredContent).toEqual({ session: 'temp', existed: true });
    const r = await js('typeof kept', { session: 'temp' });
    expect(r.structuredContent.result).toBe('undefined');
    const again = await srv.call('reset_session', { session: 'never-existed' });
    expect(again.structuredContent.existed).toBe(false);
  });

  it('reset_session during a session\'s first run stops it (130); a call queued behind it never runs; the name starts fresh', async () => {
    // Before the fix, the first run's runtime outlived the reset: the next call of the name saw "old".
    const running = js('globalThis.secret = "old"; await new Promise((r) => setTimeout(r, 3000)); 1', { session: 'reset-mid' });
    const queued = js('globalThis.queued = true; fs.writeFileSync("/tmp/queued", "x"); 2', { session: 'reset-mid' });
    await new Promise((r) => setTimeout(r, 500));
    const reset = await srv.call('reset_session', { session: 'reset-mid' });
    expect(reset.structuredContent.existed).toBe(true);
    for (const r of await Promise.all([running, queued])) {
      expect(r.structuredContent).toMatchObject({ exitCode: 130, error: { code: 'E_CANCELLED', message: expect.stringContaining('reset') } });
    }
    const after = await js('[typeof secret, typeof queued, fs.existsSync("/tmp/queued")]', { session: 'reset-mid' });
    expect(after.structuredContent.result).toEqual(['undefined', 'undefined', false]);
  });

  it('keeps the session usable after a timeout (the interrupt is clean)', async () => {
    await js('globalThis.survivor = "yes"', { session: 'tmo' });
    const r = await js('while (true) {}', { session: 'tmo', timeoutMs: 300 });
    expect(r.structuredContent.exitCode).toBe(124);
    const after = await js('survivor', { session: 'tmo' });
    expect(after.structuredContent.result).toBe('yes');
  });

  it('runs different sessions concurrently', async () => {
    // Each run reports when it started and ended; concurrent runs have overlapping windows.
    // (No wall-clock threshold: speed lives in the benchmark.) Both sessions are warmed first, so
    // neither window waits for a worker to start.
    await Promise.all(['c1', 'c2'].map((s) => js('0', { session: s })));
    const results = await Promise.all(
      ['c1', 'c2'].map((s) => js('const start = Date.now(); const end = start + 600; while (Date.now() < end) {} [start, Date.now()]', { session: s })),
    );
    const windows = results.map((r) => r.structuredContent.result as [number, number]);
    expect(Math.max(...windows.map((w) => w[0]))).toBeLessThan(Math.min(...windows.map((w) => w[1])));
  });
});

describe('cancellation', () => {
  it('stops a running call when the client cancels, and the server keeps answering', async () => {
    const controller = new AbortController();
    const pending = srv.call('run_js', { code: 'while (true) {}', session: 'cancelme' }, { signal: controller.signal });
    setTimeout(() => controller.abort('user cancelled'), 300);
    await expect(pending).rejects.toThrow();
    // The session's worker was freed: the next call in the same session runs promptly.
    const t0 = Date.now();
    const r = await js('"next"', { session: 'cancelme' });
    expect(r.structuredContent.result).toBe('next');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("a call cancelled while it waits behind its session's running call never runs", async () => {
    const busy = js('const t = Date.now(); while (Date.now() - t < 1500) {} "busy"', { session: 'cancel-queued' });
    const controller = new AbortController();
    const queued = srv.call('run_js', { code: 'globalThis.ranQueued = true; 1', session: 'cancel-queued' }, { signal: controller.signal });
    setTimeout(() => controller.abort('user cancelled'), 300);
    await expect(queued).rejects.toThrow();
    expect((await busy).structuredContent.result).toBe('busy');
    const r = await js('typeof ranQueued', { session: 'cancel-queued' });
    expect(r.structuredContent.result).toBe('undefined');
  });
});

describe('progress', () => {
  it('sends progress notifications for a long run when the client asks for them', async () => {
    const seen: Array<{ progress: number; total?: number; message?: string }> = [];
    const r = (await srv.client.callTool(
      { name: 'run_js', arguments: { code: 'const end = Date.now() + 2500; while (Date.now() < end) {} "done"' } },
      undefined,
      { onprogress: (p) => seen.push(p), timeout: 30_000 },
    )) as any;
    expect(r.structuredContent.result).toBe('done');
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen[0]!.total).toBe(8000);
    expect(seen[1]!.progress).toBeGreaterThan(seen[0]!.progress);
    expect(seen[0]!.message).toMatch(/running for \d+ s/);
  });

  it('never reports progress past its total (a call that waited behind its session\'s running call)', async () => {
    const busy = js('const end = Date.now() + 2600; while (Date.now() < end) {} 1', { session: 'prog' });
    const seen: Array<{ progress: number; total?: number }> = [];
    await srv.client.callTool({ name: 'run_js', arguments: { code: '2', session: 'prog', timeoutMs: 1000 } }, undefined, { onprogress: (p) => seen.push(p), timeout: 30_000 });
    await busy;
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const p of seen) if (p.total !== undefined) expect(p.progress).toBeLessThan(p.total);
  });
});

describe('the sandbox host', () => {
  it('is restarted when it dies mid-run; the call gets a clear error and the next call works', async () => {
    const pids = srv.hostPids();
    expect(pids.length).toBe(1);
    const pending = js('while (true) {}', { timeoutMs: 15000 });
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pids[0]!, 'SIGKILL');
    const r = await pending;
    expect(r.structuredContent.exitCode).toBe(1);
    expect(r.structuredContent.error.code).toBe('E_SANDBOX_CRASHED');
    await stillAnswers();
    expect(srv.hostPids()).not.toContain(pids[0]);
  });
});

describe('stdout purity', () => {
  it('every byte the server wrote to stdout is JSON-RPC', () => {
    expect(srv.assertStdoutIsJsonRpc()).toBeGreaterThan(10);
  });
});
