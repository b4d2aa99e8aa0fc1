/**
 * run_js's fetch, end to end: the guest asks, the front's broker decides and performs it.
 * Servers listen on 127.0.0.1 only, count their connections, and close at the end.
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
    } else if (req.url === '/slow') {
      // never answers; the broker's deadline must fire
    } else res.writeHead(404).end('nope');
  });
  forbidden = http.createServer((_req, res) => res.end('should never be reached'));
  forbidden.on('connection', () => forbiddenConnections++);
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
