/**
 * run_python's network API on the Pyodide adapter, in this test's own thread, against a fake front
 * (the run's `fetchSync`): what pyfetch and urlopen send, how answers and refusals come back, and
 * that nothing is sent without a network in the policy. The real path (worker, host, broker) is
 * proven end to end in test/e2e/network.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPyodideAdapter } from '../../../src/sandbox/runtimes/pyodide.js';
import type { GuestFetchRequest, GuestFetchResult, RuntimeInstance } from '../../../src/sandbox/runtimes/types.js';
import { LIMITS, Stopper, runIn, summary } from './pyodide/helpers.js';

let instance: RuntimeInstance;
let stopper: Stopper;
let seen: Array<{ request: GuestFetchRequest; waitMs: number | undefined }>;

const okAnswer = (body: Uint8Array, over: Partial<{ status: number; statusText: string; headers: Array<[string, string]>; url: string; redirected: boolean }> = {}): GuestFetchResult => ({
  ok: true,
  response: { status: 200, statusText: 'OK', headers: [['content-type', 'text/plain']], body, url: 'http://example.com/x', redirected: false, ...over },
});

/** Run with a fake front that records each request and answers with `reply`. */
async function withFront(code: string, reply: (r: GuestFetchRequest) => GuestFetchResult) {
  seen = [];
  const r = await runIn(instance, stopper, code, {
    fetchSync: (request, waitMs) => {
      seen.push({ request, waitMs });
      return reply(request);
    },
  });
  return summary(r);
}

beforeAll(async () => {
  stopper = new Stopper();
  const adapter = createPyodideAdapter({ unsafeDisableLayers: ['realm'] });
  await adapter.load();
  instance = await adapter.createInstance({ memMb: LIMITS.memMb, control: stopper.control });
});

afterAll(async () => {
  instance?.dispose();
  await stopper?.close();
});

describe('urlopen', () => {
  it('sends the method, the headers and the body exactly; ignores a proxy; returns a file-like response', async () => {
    const out = await withFront(
      `import urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": "http://proxy.invalid:3128"}))
req = urllib.request.Request("http://example.com/x?q=1", data=bytes(range(256)), method="PUT", headers={"X-Token": "t", "Content-Type": "application/octet-stream"})
with opener.open(req, timeout=2.5) as r:
    out = [r.status, r.getcode(), r.reason, r.geturl(), r.getheader("Content-Type"), r.read(3), r.read()]
out[5:] = [list(out[5]), list(out[6])]
out`,
      () => okAnswer(new Uint8Array([0, 255, 10, 13, 128])),
    );
    expect(out).toEqual({ status: 'ok', result: [200, 200, 'OK', 'http://example.com/x', 'text/plain', [0, 255, 10], [13, 128]] });
    expect(seen).toHaveLength(1);
    const { request, waitMs } = seen[0]!;
    expect(request.url).toBe('http://example.com/x?q=1');
    expect(request.method).toBe('PUT');
    expect(Array.from(request.body ?? [])).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect(request.headers).toEqual(expect.arrayContaining([['X-Token', 't'], ['Content-Type', 'application/octet-stream']]));
    expect(waitMs).toBe(2500);
  });

  it("raises URLError with the policy's reason, and URLError(TimeoutError) for a timeout", async () => {
    const out = await withFront(
      `import urllib.request, urllib.error
out = []
for u in ("http://a.example/", "http://b.example/"):
    try:
        urllib.request.urlopen(u)
    except urllib.error.URLError as e:
        out.append([type(e).__name__, type(e.reason).__name__, str(e.reason), hasattr(e, "code")])
out`,
      (r) =>
        r.url.startsWith('http://a.')
          ? { ok: false, code: 'E_POLICY_DENIED', message: 'host "a.example" is not in network.allowedDomains' }
          : { ok: false, code: 'E_TIMEOUT', message: 'the request timed out' },
    );
    expect(out).toEqual({
      status: 'ok',
      result: [
        ['URLError', 'str', 'host "a.example" is not in network.allowedDomains', false],
        ['URLError', 'TimeoutError', 'the request timed out', false],
      ],
    });
  });

  it('https goes the same way (the broker speaks TLS)', async () => {
    const out = await withFront('import urllib.request\nurllib.request.urlopen("https://example.com/").read().decode()', () => okAnswer(new TextEncoder().encode('héllo')));
    expect(out).toEqual({ status: 'ok', result: 'héllo' });
    expect(seen[0]?.request.url).toBe('https://example.com/');
  });
});

describe('pyfetch', () => {
  it('sends method, headers and a text body; the response has the async body methods', async () => {
    const out = await withFront(
      `from pyodide.http import pyfetch
r = await pyfetch("http://example.com/api", method="post", headers={"Accept": "application/json"}, body="é")
c = r.clone()
[r.status, r.ok, r.status_text, r.headers, r.url, r.redirected, await r.json(), r.body_used, await c.text()]`,
      () => okAnswer(new TextEncoder().encode('{"a": [1, 2]}'), { headers: [['Set-Cookie', 'a=1'], ['set-cookie', 'b=2']], url: 'http://example.com/final', redirected: true }),
    );
    expect(out).toEqual({
      status: 'ok',
      result: [200, true, 'OK', { 'set-cookie': 'a=1, b=2' }, 'http://example.com/final', true, { a: [1, 2] }, true, '{"a": [1, 2]}'],
    });
    expect(seen[0]?.request).toMatchObject({ url: 'http://example.com/api', method: 'POST', headers: [['Accept', 'application/json']] });
    expect(Array.from(seen[0]?.request.body ?? [])).toEqual([0xc3, 0xa9]);
  });

  it('a used body cannot be read twice; a refusal is an OSError with the code', async () => {
    const out = await withFront(
      `from pyodide.http import pyfetch, BodyUsedError, FetchError, AbortError
r = await pyfetch("http://example.com/")
await r.bytes()
out = []
try:
    await r.text()
except BodyUsedError as e:
    out.append(str(e))
try:
    await pyfetch("http://blocked.example/")
except FetchError as e:
    out.append([e.code, str(e), isinstance(e, AbortError), isinstance(e, OSError)])
out`,
      (r) => (r.url.includes('blocked') ? { ok: false, code: 'E_POLICY_DENIED', message: 'not allowed' } : okAnswer(new Uint8Array([1]))),
    );
    expect(out).toEqual({ status: 'ok', result: ['Response body is already used', ['E_POLICY_DENIED', 'fetch failed: not allowed', true, true]] });
  });

  it('only pyodide.http is served from the pyodide package', async () => {
    const out = await withFront(
      `import pyodide, pyodide.http
out = [sorted(n for n in dir(pyodide) if not n.startswith("_"))]
try:
    import pyodide.ffi
except ModuleNotFoundError as e:
    out.append("refused")
out`,
      () => okAnswer(new Uint8Array()),
    );
    expect(out).toEqual({ status: 'ok', result: [['http'], 'refused'] });
  });
});

describe('without a network in the policy', () => {
  it('pyfetch, open_url and urlopen refuse, saying so, and nothing is sent', async () => {
    const r = await runIn(
      instance,
      stopper,
      `import urllib.request, urllib.error
from pyodide.http import pyfetch, open_url, FetchError
out = []
try:
    urllib.request.urlopen("http://example.com/")
except urllib.error.URLError as e:
    out.append(str(e.reason))
for call in (lambda: open_url("http://example.com/"),):
    try:
        call()
    except FetchError as e:
        out.append(str(e))
try:
    await pyfetch("http://example.com/")
except FetchError as e:
    out.append(e.code)
out`,
    );
    expect(summary(r)).toEqual({
      status: 'ok',
      result: ['network access is disabled by the policy', 'fetch failed: network access is disabled by the policy', 'E_POLICY_DENIED'],
    });
  });
});

describe('the bridge itself', () => {
  it('answers malformed calls from a guest that found it, and never calls the front for them', async () => {
    const out = await withFront(
      `from pyodide.http import pyfetch
bridge = pyfetch.__globals__["_state"]["bridge"]
[bridge(1, None), bridge("{", None), bridge('{"url": "http://x/", "method": "GET", "headers": [[1, 2]]}', None),
 bridge('{"url": "http://x/", "method": "GET", "headers": []}', "\\u0100")]`,
      () => okAnswer(new Uint8Array()),
    );
    expect(out.status).toBe('ok');
    for (const answer of (out as { result: string[] }).result) expect(JSON.parse(answer)).toMatchObject({ ok: false, code: 'E_POLICY_DENIED' });
    expect(seen).toEqual([]);
  });

  it('a stop while a request is out ends the run as stopped', async () => {
    seen = [];
    const r = await runIn(instance, stopper, 'import urllib.request\ntry:\n    urllib.request.urlopen("http://example.com/")\nexcept Exception:\n    pass\n"went on"', {
      fetchSync: () => ({ ok: false, code: 'E_STOPPED', message: 'stopped' }),
    });
    expect(r.outcome.status).toBe('error');
    expect(summary(r).type).toBe('KeyboardInterrupt');
  });
});
