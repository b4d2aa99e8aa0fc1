/**
 * The guest's network, end to end in both languages: run_js's fetch, run_python's pyfetch and
 * urlopen. The guest asks, the front's broker decides and performs it. Servers listen on 127.0.0.1
 * only, count their connections, and close at the end.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let offline: TestServer;
let api: http.Server;
let forbidden: http.Server;
let apiPort = 0;
let forbiddenPort = 0;
let forbiddenConnections = 0;
let apiConnections = 0;
let dir: string;

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

beforeAll(async () => {
  api = http.createServer((req, res) => {
    if (req.url === '/json') {
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-test', 'yes');
      res.end(JSON.stringify({ hello: 'world', method: req.method }));
    } else if (req.url === '/echo') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => res.end(JSON.stringify({ body, host: req.headers.host, auth: req.headers.authorization ?? null })));
    } else if (req.url === '/echo-raw') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/octet-stream');
        res.setHeader('x-method', req.method ?? '');
        res.setHeader('x-seen-type', req.headers['content-type'] ?? '');
        res.end(Buffer.concat(chunks));
      });
    } else if (req.url === '/bytes') {
      res.setHeader('content-type', 'application/octet-stream');
      res.end(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
    } else if (req.url === '/teapot') {
      res.writeHead(418, 'I am a teapot', { 'x-why': 'short and stout' }).end('no coffee');
    } else if (req.url === '/redirect-json') {
      res.writeHead(302, { location: '/json' }).end();
    } else if (req.url === '/to-forbidden') {
      res.writeHead(302, { location: `http://127.0.0.1:${forbiddenPort}/` }).end();
    } else if (req.url === '/endless') {
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = () => {
        while (res.write(chunk)) if (res.destroyed) return;
        res.once('drain', pump);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
    } else if (req.url === '/drop') {
      req.socket.destroy();
    } else if (req.url === '/slow') {
      // never answers; the broker's deadline must fire
    } else res.writeHead(404).end('nope');
  });
  forbidden = http.createServer((_req, res) => res.end('should never be reached'));
  forbidden.on('connection', () => forbiddenConnections++);
  api.on('connection', () => apiConnections++);
  [apiPort, forbiddenPort] = await Promise.all([listen(api), listen(forbidden)]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-net-'));
  const policy = path.join(dir, 'net.json');
  fs.writeFileSync(
    policy,
    JSON.stringify({
      network: {
        enabled: true,
        allowedDomains: ['127.0.0.1'],
        allowPrivateRanges: ['127.0.0.1/32'],
        allowedPorts: [apiPort],
        maxResponseBodyBytes: 65536,
        requestTimeoutMs: 1500,
        maxRequestsPerRun: 5,
      },
    }),
  );
  [srv, offline] = await Promise.all([startServer(['--policy', policy, '--timeout', '8000']), startServer()]);
});

afterAll(async () => {
  await Promise.all([srv.close(), offline.close()]);
  api.closeAllConnections();
  forbidden.closeAllConnections();
  await Promise.all([new Promise((r) => api.close(r)), new Promise((r) => forbidden.close(r))]);
  fs.rmSync(dir, { recursive: true, force: true });
});

const js = (code: string) => srv.call('run_js', { code });

describe('fetch in run_js', () => {
  it('is absent without a network policy', async () => {
    const r = await offline.call('run_js', { code: 'typeof fetch' });
    expect(r.structuredContent.result).toBe('undefined');
  });

  it('performs an allowed request and records it', async () => {
    const r = await js(`const res = await fetch('http://127.0.0.1:${apiPort}/json');
      const body = await res.json();
      [res.status, res.ok, res.headers.get('X-Test'), body]`);
    expect(r.structuredContent.exitCode).toBe(0);
    expect(r.structuredContent.result).toEqual([200, true, 'yes', { hello: 'world', method: 'GET' }]);
    expect(r.structuredContent.network).toEqual([{ url: `http://127.0.0.1:${apiPort}/json`, method: 'GET', status: 200 }]);
  });

  it('sends a body and drops a guest Host header', async () => {
    const r = await js(`const res = await fetch('http://127.0.0.1:${apiPort}/echo', { method: 'POST', body: 'ping', headers: { Host: 'evil.example', 'X-A': '1' } });
      await res.json()`);
    expect(r.structuredContent.result).toMatchObject({ body: 'ping', host: `127.0.0.1:${apiPort}` });
  });

  it('refuses a host that is not allowed before any connection, and says why', async () => {
    const before = forbiddenConnections;
    const r = await js(`let out; try { await fetch('http://127.0.0.1:${forbiddenPort}/'); out = 'fetched' } catch (e) { out = e.name + ': ' + e.message }; out`);
    expect(r.structuredContent.result).toMatch(/^TypeError: fetch failed/);
    expect(r.structuredContent.network[0]).toMatchObject({ method: 'GET' });
    expect(r.structuredContent.network[0].blocked).toBeTruthy();
    expect(forbiddenConnections).toBe(before);
  });

  it('refuses metadata and loopback addresses outside the opt-in', async () => {
    const r = await js(`const out = [];
      for (const u of ['http://169.254.169.254/latest/meta-data/', 'http://127.0.0.2:${apiPort}/json', 'http://localhost:${apiPort}/json', 'http://[::1]:${apiPort}/json', 'http://0x7f.0.0.2:${apiPort}/json'])
        try { await fetch(u); out.push('fetched ' + u) } catch (e) { out.push('blocked') }
      out`);
    expect(r.structuredContent.result).toEqual(['blocked', 'blocked', 'blocked', 'blocked', 'blocked']);
    expect(r.structuredContent.network.every((n: any) => n.blocked)).toBe(true);
  });

  it('refuses a redirect to a blocked address; the second listener is never touched', async () => {
    const before = forbiddenConnections;
    const r = await js(`let out; try { await fetch('http://127.0.0.1:${apiPort}/to-forbidden'); out = 'followed' } catch (e) { out = 'refused' }; out`);
    expect(r.structuredContent.result).toBe('refused');
    expect(forbiddenConnections).toBe(before);
    expect(r.structuredContent.network.some((n: any) => n.blocked)).toBe(true);
  });

  it('cuts an endless body at the cap', async () => {
    const r = await js(`let out; try { const res = await fetch('http://127.0.0.1:${apiPort}/endless'); out = (await res.text()).length } catch (e) { out = e.code }; out`);
    expect(r.structuredContent.result).toBe('E_RESPONSE_TOO_LARGE');
  });

  it('gives up on a slow server at the request deadline', async () => {
    const r = await js(`let out; try { await fetch('http://127.0.0.1:${apiPort}/slow'); out = 'answered' } catch (e) { out = e.code }; out`);
    expect(r.structuredContent.result).toBe('E_TIMEOUT');
  });

  it('a connection the server drops is an E_NETWORK error, and the log says what failed', async () => {
    const r = await js(`let out; try { await fetch('http://127.0.0.1:${apiPort}/drop'); out = 'answered' } catch (e) { out = e.code }; out`);
    expect(r.structuredContent.result).toBe('E_NETWORK');
    expect(r.structuredContent.network).toEqual([{ url: `http://127.0.0.1:${apiPort}/drop`, method: 'GET', error: expect.stringMatching(/\S/) }]);
  });

  it('a request too malformed to leave the sandbox host is still refused by name and logged', async () => {
    const r = await js(`const headers = {}; for (let i = 0; i < 300; i++) headers['x-h' + i] = 'v';
      let out; try { await fetch('http://127.0.0.1:${apiPort}/json', { headers }); out = 'sent' } catch (e) { out = e.code + ': ' + e.message }; out`);
    expect(r.structuredContent.result).toMatch(/^E_POLICY_DENIED: .*invalid request: the headers/);
    expect(r.structuredContent.network).toEqual([{ url: `http://127.0.0.1:${apiPort}/json`, method: 'GET', blocked: expect.stringContaining('the headers') }]);
  });

  it('keeps to the per-run request budget', async () => {
    const r = await js(`const out = [];
      for (let i = 0; i < 7; i++) try { await fetch('http://127.0.0.1:${apiPort}/json'); out.push('ok') } catch (e) { out.push(e.code) }
      out`);
    expect(r.structuredContent.result).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'E_TOO_MANY_REQUESTS', 'E_TOO_MANY_REQUESTS']);
  });

  it('a timeout while a request is in flight still stops the run, and the server answers after', async () => {
    const r = await srv.call('run_js', { code: `await fetch('http://127.0.0.1:${apiPort}/slow')`, timeoutMs: 400 });
    expect(r.structuredContent.exitCode).toBe(124);
    const next = await js('1 + 1');
    expect(next.structuredContent.result).toBe(2);
  });
});

describe('pyfetch and urlopen in run_python', () => {
  const py = (code: string, timeoutMs?: number) => srv.call('run_python', timeoutMs === undefined ? { code } : { code, timeoutMs });
  const base = () => `http://127.0.0.1:${apiPort}`;

  it('pyfetch performs an allowed request: status, headers, JSON, and records it', async () => {
    const r = await py(`from pyodide.http import pyfetch
res = await pyfetch("${base()}/json")
[res.status, res.ok, res.headers["x-test"], res.url, res.redirected, await res.json()]`);
    expect(r.structuredContent.error).toBeUndefined();
    expect(r.structuredContent.result).toEqual([200, true, 'yes', `${base()}/json`, false, { hello: 'world', method: 'GET' }]);
    expect(r.structuredContent.network).toEqual([{ url: `${base()}/json`, method: 'GET', status: 200 }]);
  });

  it('pyfetch sends a method, headers and a binary body; bytes come back unchanged', async () => {
    const r = await py(`from pyodide.http import pyfetch
sent = bytes(range(256))
res = await pyfetch("${base()}/echo-raw", method="PUT", headers={"Content-Type": "application/x-test"}, body=sent)
got = await res.bytes()
raw = await (await pyfetch("${base()}/bytes")).bytes()
[got == sent, res.headers["x-method"], res.headers["x-seen-type"], raw == bytes(range(256)), res.body_used]`);
    expect(r.structuredContent.result).toEqual([true, 'PUT', 'application/x-test', true, true]);
  });

  it('urlopen reads body, status and headers, as a context manager; text and JSON', async () => {
    const r = await py(`import json, urllib.request
with urllib.request.urlopen("${base()}/json", timeout=5) as res:
    out = [res.status, res.getcode(), res.headers["X-Test"], res.geturl(), json.loads(res.read())]
req = urllib.request.Request("${base()}/echo", data=b"ping", method="POST", headers={"Authorization": "Bearer t"})
with urllib.request.urlopen(req) as res:
    out.append(json.loads(res.read().decode()))
out`);
    expect(r.structuredContent.exitCode).toBe(0);
    const [status, code, xTest, url, body, echo] = r.structuredContent.result;
    expect([status, code, xTest, url, body]).toEqual([200, 200, 'yes', `${base()}/json`, { hello: 'world', method: 'GET' }]);
    expect(echo).toMatchObject({ body: 'ping', host: `127.0.0.1:${apiPort}`, auth: 'Bearer t' });
    expect(r.structuredContent.network.map((n: any) => [n.method, n.status])).toEqual([['GET', 200], ['POST', 200]]);
  });

  it('urlopen raises HTTPError for 4xx with status, reason, headers and body; pyfetch does not', async () => {
    const r = await py(`import urllib.request, urllib.error
from pyodide.http import pyfetch, HttpStatusError
try:
    urllib.request.urlopen("${base()}/teapot")
    out = ["no error"]
except urllib.error.HTTPError as e:
    out = [e.code, e.reason, e.headers["x-why"], e.read().decode()]
res = await pyfetch("${base()}/teapot")
try:
    res.raise_for_status()
except HttpStatusError as e:
    out += [res.status, res.ok, str(e)]
out`);
    expect(r.structuredContent.error).toBeUndefined();
    expect(r.structuredContent.result).toEqual([418, 'I am a teapot', 'short and stout', 'no coffee', 418, false, `418 Client Error: I am a teapot for url: ${base()}/teapot`]);
  });

  it('follows a redirect through the broker, which re-checks the hop', async () => {
    const r = await py(`import urllib.request
from pyodide.http import pyfetch
res = await pyfetch("${base()}/redirect-json")
u = urllib.request.urlopen("${base()}/redirect-json")
[res.redirected, res.url, u.geturl(), u.read().decode()]`);
    expect(r.structuredContent.result).toEqual([true, `${base()}/json`, `${base()}/json`, JSON.stringify({ hello: 'world', method: 'GET' })]);
    expect(r.structuredContent.network.map((n: any) => n.status)).toEqual([302, 200, 302, 200]);
  });

  it('refuses blocked addresses with the reason, before any connection', async () => {
    const before = forbiddenConnections;
    const apiBefore = apiConnections;
    const r = await py(`import urllib.request, urllib.error
from pyodide.http import pyfetch, FetchError
out = []
for u in ["http://127.0.0.1:${forbiddenPort}/", "http://169.254.169.254:${apiPort}/latest/meta-data/", "http://127.0.0.2:${apiPort}/json",
          "http://localhost:${apiPort}/json", "http://[::1]:${apiPort}/json", "http://2130706434:${apiPort}/json", "http://example.com/"]:
    try:
        urllib.request.urlopen(u)
        out.append("fetched " + u)
    except urllib.error.URLError as e:
        out.append(type(e).__name__ + ": " + str(e.reason))
try:
    await pyfetch("http://169.254.169.254/")
except FetchError as e:
    out.append([e.code, isinstance(e, OSError), str(e)[:13]])
out`);
    expect(r.structuredContent.exitCode).toBe(0);
    const out = r.structuredContent.result as unknown[];
    expect(out).toHaveLength(8);
    for (const line of out.slice(0, 7)) expect(line).toMatch(/^URLError: \S/);
    expect(out[1]).toMatch(/link-local|169\.254/);
    expect(out[7]).toEqual(['E_POLICY_DENIED', true, 'fetch failed:']);
    expect(r.structuredContent.network).toHaveLength(8);
    expect(r.structuredContent.network.every((n: any) => typeof n.blocked === 'string' && n.blocked.length > 0)).toBe(true);
    expect(forbiddenConnections).toBe(before);
    expect(apiConnections).toBe(apiBefore);
  });

  it('refuses a redirect to a blocked address; the second listener is never touched', async () => {
    const before = forbiddenConnections;
    const r = await py(`import urllib.request, urllib.error
try:
    urllib.request.urlopen("${base()}/to-forbidden")
    out = "followed"
except urllib.error.URLError as e:
    out = "refused: " + str(e.reason)
out`);
    expect(r.structuredContent.result).toMatch(/^refused: /);
    expect(forbiddenConnections).toBe(before);
    expect(r.structuredContent.network).toMatchObject([{ status: 302 }, { url: `http://127.0.0.1:${forbiddenPort}/` }]);
    expect(r.structuredContent.network[1].blocked).toBeTruthy();
  });

  it('cuts an endless body at the cap', async () => {
    const r = await py(`import urllib.request, urllib.error
from pyodide.http import pyfetch, FetchError
out = []
try:
    out.append(len(urllib.request.urlopen("${base()}/endless").read()))
except urllib.error.URLError as e:
    out.append(str(e.reason))
try:
    out.append(len(await (await pyfetch("${base()}/endless")).bytes()))
except FetchError as e:
    out.append(e.code)
out`);
    expect(r.structuredContent.result[0]).toBe('the response body is larger than network.maxResponseBodyBytes (65536 bytes)');
    expect(r.structuredContent.result[1]).toBe('E_RESPONSE_TOO_LARGE');
  });

  it('gives up on a slow server at the request deadline; the run goes on', async () => {
    const t0 = Date.now();
    const r = await py(`import urllib.request, urllib.error
try:
    urllib.request.urlopen("${base()}/slow")
    out = "answered"
except urllib.error.URLError as e:
    out = [type(e.reason).__name__, str(e.reason)]
out`);
    expect(r.structuredContent.exitCode).toBe(0);
    expect(r.structuredContent.result[0]).toBe('TimeoutError');
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(r.structuredContent.network[0].blocked ?? r.structuredContent.network[0].error).toBeTruthy();
  });

  it("honours urlopen's own timeout", async () => {
    const r = await py(`import urllib.request, urllib.error, time
t = time.monotonic()
try:
    urllib.request.urlopen("${base()}/slow", timeout=0.3)
    out = "answered"
except urllib.error.URLError as e:
    out = [type(e.reason).__name__, time.monotonic() - t < 1.2]
out`);
    expect(r.structuredContent.result).toEqual(['TimeoutError', true]);
  });

  it('a timeout while blocked in urlopen gives exit 124, and the server answers the next call', async () => {
    const t0 = Date.now();
    const r = await py(`import urllib.request\nurllib.request.urlopen("${base()}/slow")`, 600);
    expect(r.structuredContent.exitCode).toBe(124);
    expect(Date.now() - t0).toBeLessThan(5000);
    const next = await py(`import urllib.request\nurllib.request.urlopen("${base()}/json").status`);
    expect(next.structuredContent.result).toBe(200);
  });

  it('http.client opens no socket; a listener sees no connection', async () => {
    const before = apiConnections;
    const r = await py(`import http.client
c = http.client.HTTPConnection("127.0.0.1", ${apiPort}, timeout=2)
try:
    c.request("GET", "/json")
    out = c.getresponse().status
except OSError as e:
    out = type(e).__name__ + ": " + str(e)
out`);
    expect(r.structuredContent.result).toMatch(/^PermissionError: .*not available in this sandbox/);
    expect(apiConnections).toBe(before);
    expect(r.structuredContent.network).toEqual([]);
  });
});

describe('run_python without a network policy', () => {
  it('pyfetch and urlopen fail, saying the policy disables the network; nothing is recorded', async () => {
    const r = await offline.call('run_python', {
      code: `import urllib.request, urllib.error
from pyodide.http import pyfetch, FetchError
out = []
try:
    urllib.request.urlopen("http://127.0.0.1:${apiPort}/json")
except urllib.error.URLError as e:
    out.append(str(e.reason))
try:
    await pyfetch("http://127.0.0.1:${apiPort}/json")
except FetchError as e:
    out.append(str(e))
out`,
    });
    expect(r.structuredContent.result).toEqual(['network access is disabled by the policy', 'fetch failed: network access is disabled by the policy']);
    expect(r.structuredContent.network).toEqual([]);
  });
});
