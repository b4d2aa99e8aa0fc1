/**
 * The network broker against loopback HTTP servers this file starts (127.0.0.1, port 0, bounded,
 * closing themselves). Nothing here sends traffic anywhere else: refused hosts are refused before
 * any connection, and the servers' connection counters prove it.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import zlib from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_LOG_ENTRIES, NetworkBroker, type BrokerRequest, type BrokerResult } from '../../../src/front/net/broker.js';
import type { LookupFn } from '../../../src/front/net/guarded-agent.js';
import { NetworkPolicySchema, type NetworkPolicyInput } from '../../../src/front/policy/network-schema.js';

interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface TestServer {
  port: number;
  connections: number;
  requests: SeenRequest[];
  handler: Handler;
  openSockets(): number;
  close(): Promise<void>;
}

async function startServer(): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const seen: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0) };
    state.requests.push(seen);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.body = Buffer.concat(chunks);
    });
    state.handler(req, res);
  });
  const state: TestServer = {
    port: 0,
    connections: 0,
    requests: [],
    handler: (_req, res) => res.end('hello'),
    openSockets: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket: Socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  // Never outlive the test file.
  setTimeout(() => void state.close(), 30_000).unref();
  return state;
}

async function waitFor(cond: () => boolean, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

/** Writes chunks until the peer goes away (at most 64 MiB, so it is bounded anyway). */
function endless(res: http.ServerResponse, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
  const chunk = Buffer.alloc(16 * 1024, 0x78);
  let written = 0;
  const pump = (): void => {
    while (!res.destroyed && written < 64 * 1024 * 1024) {
      written += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  pump();
}

let a: TestServer;
let b: TestServer;
let brokers: NetworkBroker[] = [];
const te = new TextEncoder();
const td = new TextDecoder();
const bomb = zlib.gzipSync(Buffer.alloc(32 * 1024 * 1024));

function policy(over: NetworkPolicyInput = {}) {
  return NetworkPolicySchema.parse({
    enabled: true,
    allowedDomains: ['127.0.0.1'],
    allowPrivateRanges: ['127.0.0.0/8'],
    allowedPorts: [a.port],
    requestTimeoutMs: 3000,
    ...over,
  });
}

function broker(over: NetworkPolicyInput = {}, options?: ConstructorParameters<typeof NetworkBroker>[1]): NetworkBroker {
  const br = new NetworkBroker(policy(over), options);
  brokers.push(br);
  return br;
}

function get(url: string, headers: Array<[string, string]> = []): BrokerRequest {
  return { url, method: 'GET', headers };
}

function go(br: NetworkBroker, req: BrokerRequest, deadlineMs = 5000, signal?: AbortSignal): Promise<BrokerResult> {
  return br.fetch(req, { deadline: Date.now() + deadlineMs, ...(signal === undefined ? {} : { signal }) });
}

function expectOk(r: BrokerResult) {
  if (!r.ok) throw new Error(`expected success, got ${r.code}: ${r.message}`);
  return r.response;
}

function expectFail(r: BrokerResult, code: string, fragment?: string): string {
  if (r.ok) throw new Error(`expected ${code}, got status ${r.response.status}`);
  expect(r.code).toBe(code);
  if (fragment !== undefined) expect(r.message).toContain(fragment);
  return r.message;
}

const A = (path = '/') => `http://127.0.0.1:${a.port}${path}`;
const B = (path = '/') => `http://127.0.0.1:${b.port}${path}`;

beforeAll(async () => {
  a = await startServer();
  b = await startServer();
});

afterAll(async () => {
  await Promise.all([a.close(), b.close()]);
});

beforeEach(() => {
  for (const s of [a, b]) {
    s.connections = 0;
    s.requests = [];
    s.handler = (_req, res) => res.end('hello');
  }
});

afterEach(async () => {
  await Promise.all(brokers.map((br) => br.close()));
  brokers = [];
});

describe('NetworkBroker: allowed requests', () => {
  it('performs a GET and logs {url, method, status}', async () => {
    const br = broker();
    const res = expectOk(await go(br, get(A('/x?y=1'))));
    expect(res.status).toBe(200);
    expect(res.statusText).toBe('OK');
    expect(td.decode(res.body)).toBe('hello');
    expect(res.url).toBe(A('/x?y=1'));
    expect(res.redirected).toBe(false);
    expect(br.log).toEqual([{ url: A('/x?y=1'), method: 'GET', status: 200 }]);
    expect(a.requests.map((r) => [r.method, r.url])).toEqual([['GET', '/x?y=1']]);
  });

  it('performs a POST with a body', async () => {
    a.handler = (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.writeHead(201, 'Made').end(`got ${Buffer.concat(chunks).toString()}`));
    };
    const br = broker();
    const res = expectOk(
      await go(br, { url: A('/p'), method: 'post', headers: [['Content-Type', 'text/plain']], body: te.encode('payload') }),
    );
    expect(res.status).toBe(201);
    expect(res.statusText).toBe('Made');
    expect(td.decode(res.body)).toBe('got payload');
    expect(a.requests[0]?.method).toBe('POST');
    expect(a.requests[0]?.headers['content-type']).toBe('text/plain');
    expect(a.requests[0]?.headers['content-length']).toBe('7');
    expect(br.log).toEqual([{ url: A('/p'), method: 'POST', status: 201 }]);
  });

  it('returns lower-case response headers and keeps every set-cookie', async () => {
    a.handler = (_req, res) => {
      res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/']);
      res.setHeader('X-Thing', 'Value');
      res.end('ok');
    };
    const res = expectOk(await go(broker(), get(A())));
    expect(res.headers.filter(([n]) => n === 'set-cookie').map(([, v]) => v)).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(res.headers).toContainEqual(['x-thing', 'Value']);
    expect(res.headers.every(([n]) => n === n.toLowerCase())).toBe(true);
  });

  it('does not send the guest Host header, hop-by-hop or proxy headers; asks for identity encoding', async () => {
    const br = broker();
    expectOk(
      await go(
        br,
        get(A(), [
          ['Host', 'evil.example'],
          ['Connection', 'x-secret'],
          ['Keep-Alive', 'timeout=5'],
          ['Proxy-Authorization', 'Basic Zm9vOmJhcg=='],
          ['Proxy-Connection', 'keep-alive'],
          ['TE', 'trailers'],
          ['Trailer', 'x-t'],
          ['Upgrade', 'websocket'],
          ['Content-Length', '999'],
          ['Accept-Encoding', 'gzip'],
          ['X-Secret', 'kept'],
        ]),
      ),
    );
    const h = a.requests[0]!.headers;
    expect(h.host).toBe(`127.0.0.1:${a.port}`);
    for (const name of ['keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'upgrade', 'content-length']) {
      expect(h[name], name).toBeUndefined();
    }
    expect(h.connection).not.toContain('x-secret');
    expect(h['accept-encoding']).toBe('identity');
    expect(h['x-secret']).toBe('kept');
  });

  it('refuses a response the sandbox could not be given (250 headers); clips a long status text', async () => {
    const br = broker();
    a.handler = (_req, res) => {
      for (let i = 0; i < 250; i++) res.setHeader(`x-h${i}`, 'v');
      res.end('x');
    };
    expectFail(await go(br, get(A())), 'E_NETWORK', 'at most 200 reach the sandbox');
    expect(br.log[0]?.error).toContain('at most 200');
    a.handler = (_req, res) => {
      res.statusMessage = 'S'.repeat(2000);
      res.end('x');
    };
    expect(expectOk(await go(br, get(A()))).statusText).toHaveLength(1024);
  });

  it('decodes a compressed body the server sends anyway and drops content-encoding/length', async () => {
    const plain = 'squeeze me '.repeat(100);
    a.handler = (_req, res) => {
      const gz = zlib.gzipSync(plain);
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': gz.length }).end(gz);
    };
    const res = expectOk(await go(broker(), get(A())));
    expect(td.decode(res.body)).toBe(plain);
    expect(res.headers.find(([n]) => n === 'content-encoding')).toBeUndefined();
    expect(res.headers.find(([n]) => n === 'content-length')).toBeUndefined();
  });
});

describe('NetworkBroker: refusals before any connection', () => {
  it('refuses everything when the network is disabled', async () => {
    const br = broker({ enabled: false });
    expectFail(await go(br, get(A())), 'E_POLICY_DENIED', 'disabled');
    expectFail(await go(br, { url: A(), method: 'POST', headers: [], body: te.encode('x') }), 'E_POLICY_DENIED', 'disabled');
    expect(br.log).toEqual([
      { url: A(), method: 'GET', blocked: 'network access is disabled by the policy' },
      { url: A(), method: 'POST', blocked: 'network access is disabled by the policy' },
    ]);
    expect(a.connections).toBe(0);
  });

  it('refuses a domain that is not allowed, without resolving it', async () => {
    const calls: string[] = [];
    const lookup: LookupFn = async (hostname) => {
      calls.push(hostname);
      return [{ address: '127.0.0.1', family: 4 }];
    };
    const br = broker({}, { lookup });
    expectFail(await go(br, get(`http://not-allowed.test:${a.port}/`)), 'E_POLICY_DENIED', 'allowedDomains');
    expectFail(await go(br, get(`http://localhost:${a.port}/`)), 'E_POLICY_DENIED', 'localhost');
    expect(calls).toEqual([]);
    expect(a.connections).toBe(0);
    expect(br.log.map((e) => e.blocked !== undefined)).toEqual([true, true]);
  });

  it('refuses URLs with userinfo and does not log the password', async () => {
    const br = broker();
    expectFail(await go(br, get(`http://user:hunter2@127.0.0.1:${a.port}/`)), 'E_POLICY_DENIED', 'credentials');
    expect(a.connections).toBe(0);
    expect(JSON.stringify(br.log)).not.toContain('hunter2');
  });

  it('refuses a port, a scheme and an address range the policy does not allow', async () => {
    const br = broker({ allowPrivateRanges: ['127.0.0.2/32'] });
    expectFail(await go(br, get(B())), 'E_POLICY_DENIED', `port ${b.port}`);
    expectFail(await go(br, get(`file:///etc/passwd`)), 'E_POLICY_DENIED', 'scheme');
    expectFail(await go(br, get(A())), 'E_POLICY_DENIED', 'loopback');
    expect(a.connections + b.connections).toBe(0);
  });

  it('refuses a name that resolves to a blocked address at connect time (DNS rebinding)', async () => {
    const lookup: LookupFn = async () => [{ address: '127.0.0.1', family: 4 }];
    const br = broker({ allowedDomains: ['rebind.test'], allowPrivateRanges: [] }, { lookup });
    expectFail(await go(br, get(`http://rebind.test:${a.port}/`)), 'E_POLICY_DENIED', 'loopback');
    expect(a.connections).toBe(0);
    expect(br.log).toHaveLength(1);
    expect(br.log[0]?.blocked).toContain('rebind.test');
    expect(br.log[0]?.status).toBeUndefined();
  });

  it('refuses a request body larger than maxRequestBodyBytes', async () => {
    const br = broker({ maxRequestBodyBytes: 10 });
    expectFail(await go(br, { url: A(), method: 'PUT', headers: [], body: new Uint8Array(11) }), 'E_REQUEST_TOO_LARGE', '10');
    expectOk(await go(br, { url: A(), method: 'PUT', headers: [], body: new Uint8Array(10) }));
    expect(a.requests).toHaveLength(1);
    expect(br.log[0]?.blocked).toContain('maxRequestBodyBytes');
  });

  it('refuses, by its size alone, a body the sandbox host kept back (unsentBodyBytes); nothing is sent', async () => {
    const br = broker({ maxRequestBodyBytes: 10 });
    expectFail(await go(br, { url: A(), method: 'POST', headers: [], unsentBodyBytes: 150 * 1024 * 1024 }), 'E_REQUEST_TOO_LARGE', '157286400 bytes');
    expect(a.connections).toBe(0);
    expect(br.log[0]).toMatchObject({ url: A(), method: 'POST', blocked: expect.stringContaining('maxRequestBodyBytes') });
  });

  it('clips a reason that quotes a huge host name, in the answer and in the log', async () => {
    const br = broker();
    const message = expectFail(await go(br, get(`http://${'a'.repeat(5000)}/`)), 'E_POLICY_DENIED');
    expect(message.length).toBeLessThanOrEqual(1024);
    expect(br.log[0]!.blocked!.length).toBeLessThanOrEqual(1024);
  });

  it('refuses a URL that percent-encoding makes longer than the limit, before any connection', async () => {
    const br = broker();
    expectFail(await go(br, get(A(`/${'é'.repeat(1500)}`))), 'E_POLICY_DENIED', 'once encoded');
    expect(a.connections).toBe(0);
  });

  it('refuses malformed methods, header names and values (CRLF injection)', async () => {
    const br = broker();
    const bad: unknown[] = [
      null,
      'http://127.0.0.1/',
      { url: 42, method: 'GET', headers: [] },
      { url: A(), method: 'GET / HTTP/1.1\r\nX-Injected: 1', headers: [] },
      { url: A(), method: '', headers: [] },
      { url: A(), method: 'CONNECT', headers: [] },
      { url: A(), method: 'trace', headers: [] },
      { url: A(), method: 'GET', headers: [['X-A', 'ok\r\nX-Injected: 1']] },
      { url: A(), method: 'GET', headers: [['X-A', 'line\nfeed']] },
      { url: A(), method: 'GET', headers: [['X-A', 'nul\0byte']] },
      { url: A(), method: 'GET', headers: [['X-A', 'snow ☃']] },
      { url: A(), method: 'GET', headers: [['Bad Name', 'v']] },
      { url: A(), method: 'GET', headers: [['X-A:', 'v']] },
      { url: A(), method: 'GET', headers: [['', 'v']] },
      { url: A(), method: 'GET', headers: [['X-A\r\nX-B', 'v']] },
      { url: A(), method: 'GET', headers: [['X-A']] },
      { url: A(), method: 'GET', headers: { 'x-a': 'v' } },
      { url: A(), method: 'GET', headers: Array.from({ length: 101 }, (_, i) => [`x-${i}`, 'v']) },
      { url: A(), method: 'POST', headers: [], body: 'not bytes' },
      { url: A(), method: 'GET', headers: [], body: new Uint8Array(3) },
      { url: `${A('/')}${'a'.repeat(9000)}`, method: 'GET', headers: [] },
    ];
    for (const req of bad) {
      const r = await br.fetch(req as BrokerRequest, { deadline: Date.now() + 5000 });
      expect(r.ok, JSON.stringify(req)?.slice(0, 80)).toBe(false);
      if (!r.ok) expect(r.code).toBe('E_POLICY_DENIED');
    }
    expect(a.connections).toBe(0);
    expect(br.log).toHaveLength(bad.length);
    expect(br.log.every((e) => typeof e.blocked === 'string')).toBe(true);
    expect(br.log.every((e) => !/[\r\n]/.test(e.url + e.method))).toBe(true);
  });

  it('refuses when the run deadline has already passed', async () => {
    const br = broker();
    expectFail(await br.fetch(get(A()), { deadline: Date.now() - 1 }), 'E_TIMEOUT');
    expect(a.connections).toBe(0);
  });
});

describe('NetworkBroker: redirects', () => {
  it('follows a same-origin redirect and logs each hop', async () => {
    a.handler = (req, res) => {
      if (req.url === '/start') res.writeHead(302, { location: '/end' }).end();
      else res.end(`at ${req.url}`);
    };
    const br = broker();
    const res = expectOk(await go(br, get(A('/start'), [['Authorization', 'Bearer t']])));
    expect(td.decode(res.body)).toBe('at /end');
    expect(res.redirected).toBe(true);
    expect(res.url).toBe(A('/end'));
    expect(br.log).toEqual([
      { url: A('/start'), method: 'GET', status: 302 },
      { url: A('/end'), method: 'GET', status: 200 },
    ]);
    expect(a.requests[1]?.headers.authorization).toBe('Bearer t');
  });

  it('refuses a redirect to a port the policy does not allow; that listener sees no connection', async () => {
    a.handler = (_req, res) => res.writeHead(302, { location: B('/x') }).end();
    const br = broker();
    expectFail(await go(br, get(A())), 'E_POLICY_DENIED', `port ${b.port}`);
    expect(b.connections).toBe(0);
    expect(br.log).toEqual([
      { url: A(), method: 'GET', status: 302 },
      { url: B('/x'), method: 'GET', blocked: expect.stringContaining('not allowed') },
    ]);
  });

  it('refuses a redirect to an address range that is not opted in', async () => {
    a.handler = (_req, res) => res.writeHead(307, { location: `http://127.0.0.2:${a.port}/` }).end();
    const br = broker({ allowedDomains: ['127.0.0.1', '127.0.0.2'], allowPrivateRanges: ['127.0.0.1/32'] });
    expectFail(await go(br, get(A())), 'E_POLICY_DENIED', 'loopback');
    expect(a.requests).toHaveLength(1);
    expect(br.log[1]).toEqual({ url: `http://127.0.0.2:${a.port}/`, method: 'GET', blocked: expect.stringContaining('127.0.0.2') });
  });

  it('refuses a redirect to a name that resolves to a blocked address (checked at connect time)', async () => {
    a.handler = (_req, res) => res.writeHead(302, { location: `http://internal.test:${b.port}/` }).end();
    const lookup: LookupFn = async () => [{ address: '10.1.2.3', family: 4 }];
    const br = broker({ allowedDomains: ['127.0.0.1', 'internal.test'], allowedPorts: [a.port, b.port] }, { lookup });
    expectFail(await go(br, get(A())), 'E_POLICY_DENIED', '10.1.2.3');
    expect(b.connections).toBe(0);
    expect(br.log[1]?.blocked).toContain('internal.test');
  });

  it('stops a chain longer than maxRedirects', async () => {
    a.handler = (req, res) => {
      const n = Number(req.url?.slice(3));
      if (n > 0) res.writeHead(301, { location: `/r/${n - 1}` }).end();
      else res.end('bottom');
    };
    const br = broker({ maxRedirects: 2 });
    expectFail(await go(br, get(A('/r/5'))), 'E_TOO_MANY_REDIRECTS', '2');
    expect(a.requests.map((r) => r.url)).toEqual(['/r/5', '/r/4', '/r/3']);
    expect(br.log.map((e) => [e.url, e.status, e.blocked !== undefined])).toEqual([
      [A('/r/5'), 301, false],
      [A('/r/4'), 301, false],
      [A('/r/3'), 301, false],
      [A('/r/2'), undefined, true],
    ]);
    const br2 = broker({ maxRedirects: 2 });
    expect(td.decode(expectOk(await go(br2, get(A('/r/2')))).body)).toBe('bottom');
  });

  it('strips credentials when the origin changes', async () => {
    a.handler = (_req, res) => res.writeHead(302, { location: B('/next') }).end();
    b.handler = (_req, res) => res.end('b');
    const br = broker({ allowedPorts: [a.port, b.port] });
    const res = expectOk(
      await go(
        br,
        get(A(), [
          ['Authorization', 'Bearer secret'],
          ['Cookie', 'sid=1'],
          ['X-Other', 'kept'],
        ]),
      ),
    );
    expect(td.decode(res.body)).toBe('b');
    expect(a.requests[0]?.headers.authorization).toBe('Bearer secret');
    expect(a.requests[0]?.headers.cookie).toBe('sid=1');
    expect(b.requests[0]?.headers.authorization).toBeUndefined();
    expect(b.requests[0]?.headers.cookie).toBeUndefined();
    expect(b.requests[0]?.headers['x-other']).toBe('kept');
  });

  it('turns 303 (and 302 after POST) into a GET without body; 307 keeps method and body', async () => {
    a.handler = (req, res) => {
      if (req.url === '/see-other') res.writeHead(303, { location: '/target' }).end();
      else if (req.url === '/found') res.writeHead(302, { location: '/target' }).end();
      else if (req.url === '/temp') res.writeHead(307, { location: '/target' }).end();
      else req.on('end', () => res.end(req.method)).resume();
    };
    const br = broker();
    const post = (path: string): BrokerRequest => ({
      url: A(path),
      method: 'POST',
      headers: [['content-type', 'text/plain']],
      body: te.encode('data'),
    });

    expect(td.decode(expectOk(await go(br, post('/see-other'))).body)).toBe('GET');
    expect(td.decode(expectOk(await go(br, post('/found'))).body)).toBe('GET');
    expect(td.decode(expectOk(await go(br, post('/temp'))).body)).toBe('POST');
    await waitFor(() => a.requests.length === 6);
    const targets = a.requests.filter((r) => r.url === '/target');
    expect(targets.map((r) => [r.method, r.body.toString(), r.headers['content-type']])).toEqual([
      ['GET', '', undefined],
      ['GET', '', undefined],
      ['POST', 'data', 'text/plain'],
    ]);
    expect(br.log.map((e) => `${e.method} ${e.status}`)).toEqual(['POST 303', 'GET 200', 'POST 302', 'GET 200', 'POST 307', 'POST 200']);
  });
});

describe('NetworkBroker: response size', () => {
  it('cuts an endless body at the cap and closes the connection', async () => {
    a.handler = (_req, res) => endless(res);
    const br = broker({ maxResponseBodyBytes: 64 * 1024 });
    expectFail(await go(br, get(A())), 'E_RESPONSE_TOO_LARGE', String(64 * 1024));
    expect(await waitFor(() => a.openSockets() === 0)).toBe(true);
    expect(br.log).toEqual([{ url: A(), method: 'GET', status: 200, blocked: expect.stringContaining('maxResponseBodyBytes') }]);
  });

  it('cuts a body without Content-Length (read until close) at the cap', async () => {
    a.handler = (req) => {
      req.socket.write(`HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n`);
      req.socket.end(Buffer.alloc(1024 * 1024, 0x79));
    };
    const br = broker({ maxResponseBodyBytes: 1000 });
    expectFail(await go(br, get(A())), 'E_RESPONSE_TOO_LARGE');
  });

  it('counts decoded bytes: a gzip bomb stops at the cap', async () => {
    a.handler = (_req, res) => res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bomb.length }).end(bomb);
    const br = broker({ maxResponseBodyBytes: 256 * 1024 });
    expect(bomb.length).toBeLessThan(256 * 1024);
    expectFail(await go(br, get(A())), 'E_RESPONSE_TOO_LARGE');
  });

  it('does not trust a huge Content-Length: no early refusal, and a small body is fine', async () => {
    // HEAD: the header announces a terabyte, there is no body at all.
    a.handler = (req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-length': String(10 ** 12) }).end();
        return;
      }
      // GET: a terabyte announced, five bytes sent, then the server hangs up.
      res.writeHead(200, { 'content-length': String(10 ** 12) });
      res.write('hello');
      setTimeout(() => res.destroy(), 20);
    };
    const br = broker({ maxResponseBodyBytes: 1024 });
    const head = expectOk(await go(br, { url: A(), method: 'HEAD', headers: [] }));
    expect(head.body.byteLength).toBe(0);
    expect(head.headers).toContainEqual(['content-length', String(10 ** 12)]);
    // A truncated body is a network error, never "too large" on the header's say-so.
    expectFail(await go(br, get(A())), 'E_NETWORK');
  });

  it('a small Content-Length with a large body yields only the declared bytes', async () => {
    a.handler = (req) => {
      req.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n`);
      req.socket.end(Buffer.alloc(1024 * 1024, 0x7a));
    };
    const br = broker({ maxResponseBodyBytes: 1024 });
    // HTTP framing ends the body after the declared bytes; the rest never reaches the guest.
    expect(td.decode(expectOk(await go(br, get(A()))).body)).toBe('zzzzz');
  });
});

describe('NetworkBroker: deadlines', () => {
  it('a server that never answers hits requestTimeoutMs; the socket is closed', async () => {
    a.handler = () => undefined;
    const br = broker({ requestTimeoutMs: 300 });
    const t0 = Date.now();
    expectFail(await go(br, get(A())), 'E_TIMEOUT', '300 ms');
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(await waitFor(() => a.openSockets() === 0)).toBe(true);
    expect(br.log).toEqual([{ url: A(), method: 'GET', blocked: expect.stringContaining('300 ms') }]);
  });

  it("the run's deadline wins over a longer requestTimeoutMs", async () => {
    a.handler = () => undefined;
    const br = broker({ requestTimeoutMs: 10_000 });
    const t0 = Date.now();
    expectFail(await go(br, get(A()), 250), 'E_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(await waitFor(() => a.openSockets() === 0)).toBe(true);
  });

  it('a body that trickles past the deadline times out', async () => {
    a.handler = (_req, res) => {
      res.writeHead(200);
      res.write('a');
    };
    const br = broker({ requestTimeoutMs: 300 });
    expectFail(await go(br, get(A())), 'E_TIMEOUT');
    expect(await waitFor(() => a.openSockets() === 0)).toBe(true);
  });

  it('an abort signal and close() stop a request in flight', async () => {
    a.handler = () => undefined;
    const br = broker();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    expectFail(await go(br, get(A()), 5000, ac.signal), 'E_NETWORK', 'aborted');

    const pending = go(br, get(A()));
    await waitFor(() => a.requests.length === 2);
    await br.close();
    expectFail(await pending, 'E_NETWORK', 'run has finished');
    expectFail(await go(br, get(A())), 'E_NETWORK', 'run has finished');
    expect(await waitFor(() => a.openSockets() === 0)).toBe(true);
  });
});

describe('NetworkBroker: request budget and errors', () => {
  it('enforces maxRequestsPerRun, counting redirect hops', async () => {
    a.handler = (req, res) => {
      if (req.url === '/hop') res.writeHead(302, { location: '/' }).end();
      else res.end('ok');
    };
    const br = broker({ maxRequestsPerRun: 3 });
    expectOk(await go(br, get(A('/hop'))));
    expectOk(await go(br, get(A())));
    expectFail(await go(br, get(A())), 'E_TOO_MANY_REQUESTS', '3');
    expect(a.requests).toHaveLength(3);
    expect(br.requestsSent).toBe(3);
    expect(br.log.map((e) => e.status ?? e.blocked?.slice(0, 12))).toEqual([302, 200, 200, 'the run has ']);

    // Refusals before dispatch do not use the budget.
    const br2 = broker({ maxRequestsPerRun: 1 });
    expectFail(await go(br2, get(`http://nope.test:${a.port}/`)), 'E_POLICY_DENIED');
    expectOk(await go(br2, get(A())));
  });

  it('a refused connection is a network error without host details', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const br = broker({ allowedPorts: [port] });
    const message = expectFail(await go(br, get(`http://127.0.0.1:${port}/`)), 'E_NETWORK');
    expect(message).toBe('the connection was refused');
    expect(br.log[0]?.error).toBe('the connection was refused');
  });

  it('keeps the log bounded', async () => {
    const br = broker({ enabled: false });
    for (let i = 0; i < MAX_LOG_ENTRIES + 5; i++) await br.fetch(get(A()), { deadline: Date.now() + 1000 });
    expect(br.log).toHaveLength(MAX_LOG_ENTRIES);
    expect(br.droppedLogEntries).toBe(5);
  });
});
