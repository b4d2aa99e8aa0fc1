/**
 * The guarded dispatcher against loopback servers this file starts. Nothing here ever connects
 * to a non-loopback address: refused addresses are refused before any socket is opened, and the
 * connection counters prove it.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { buildConnector, fetch, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createGuardedAgent,
  findPolicyRefusal,
  isPolicyRefusal,
  NetworkPolicyError,
  type LookupFn,
} from '../../../src/front/net/guarded-agent.js';
import { NetworkPolicySchema, type NetworkPolicyInput } from '../../../src/front/policy/network-schema.js';

interface TestServer {
  port: number;
  connections: number;
  requests: Array<{ url: string; host: string | undefined }>;
  close(): Promise<void>;
}

async function startServer(handler: http.RequestListener): Promise<TestServer> {
  const server = http.createServer((req, res) => {
    state.requests.push({ url: req.url ?? '', host: req.headers.host });
    handler(req, res);
  });
  const state: TestServer = {
    port: 0,
    connections: 0,
    requests: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', () => {
    state.connections++;
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  // Never outlive the test run.
  setTimeout(() => void state.close(), 60_000).unref();
  return state;
}

let target: TestServer;
let agents: Dispatcher[] = [];

function pol(over: NetworkPolicyInput) {
  return NetworkPolicySchema.parse({ enabled: true, allowedPorts: [target.port], requestTimeoutMs: 3000, ...over });
}

function agent(over: NetworkPolicyInput, options?: Parameters<typeof createGuardedAgent>[1]): Dispatcher {
  const a = createGuardedAgent(pol(over), options);
  agents.push(a);
  return a;
}

async function expectRefused(p: Promise<unknown>, fragment?: string): Promise<NetworkPolicyError> {
  const err = await p.then(
    () => {
      throw new Error('expected the request to be refused');
    },
    (e: unknown) => e,
  );
  expect(isPolicyRefusal(err)).toBe(true);
  const refusal = findPolicyRefusal(err)!;
  expect(refusal).toBeInstanceOf(NetworkPolicyError);
  expect(refusal.code).toBe('E_POLICY_DENIED');
  if (fragment !== undefined) expect(refusal.message).toContain(fragment);
  return refusal;
}

beforeAll(async () => {
  target = await startServer((req, res) => {
    if (req.url === '/big') {
      res.end('x'.repeat(4000));
      return;
    }
    if (req.url === '/redirect') {
      res.writeHead(302, { location: `http://elsewhere.test:${target.port}/` });
      res.end();
      return;
    }
    res.end('hello');
  });
});

afterAll(async () => {
  await target.close();
});

beforeEach(() => {
  target.connections = 0;
  target.requests = [];
});

afterEach(async () => {
  await Promise.all(agents.map((a) => a.destroy()));
  agents = [];
});

describe('createGuardedAgent: IP-literal hosts', () => {
  it('reaches an opted-in, listed loopback address', async () => {
    const dispatcher = agent({ allowedDomains: ['127.0.0.1'], allowPrivateRanges: ['127.0.0.0/8'] });
    const res = await fetch(`http://127.0.0.1:${target.port}/`, { dispatcher });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('hello');
    expect(target.connections).toBe(1);
  });

  it('refuses loopback without the opt-in, before connecting', async () => {
    const dispatcher = agent({ allowedDomains: ['127.0.0.1'] });
    await expectRefused(fetch(`http://127.0.0.1:${target.port}/`, { dispatcher }), 'loopback');
    await expectRefused(fetch(`http://2130706433:${target.port}/`, { dispatcher }), 'loopback');
    await expectRefused(fetch(`http://0x7f.1:${target.port}/`, { dispatcher }), 'loopback');
    await expectRefused(fetch(`http://[::ffff:127.0.0.1]:${target.port}/`, { dispatcher }), 'loopback');
    expect(target.connections).toBe(0);
  });

  it('refuses everything when the network is disabled', async () => {
    const dispatcher = createGuardedAgent(
      NetworkPolicySchema.parse({ allowedDomains: ['127.0.0.1'], allowedPorts: [target.port], allowPrivateRanges: ['127.0.0.0/8'] }),
    );
    agents.push(dispatcher);
    await expectRefused(fetch(`http://127.0.0.1:${target.port}/`, { dispatcher }), 'disabled');
    expect(target.connections).toBe(0);
  });

  it('refuses a port the policy does not list', async () => {
    const dispatcher = agent({ allowedDomains: ['127.0.0.1'], allowPrivateRanges: ['127.0.0.0/8'], allowedPorts: [443] });
    await expectRefused(fetch(`http://127.0.0.1:${target.port}/`, { dispatcher }), `port ${target.port}`);
    expect(target.connections).toBe(0);
  });

  it('refuses an opted-in address that is not in allowedDomains', async () => {
    const dispatcher = agent({ allowedDomains: ['127.0.0.2'], allowPrivateRanges: ['127.0.0.0/8'] });
    await expectRefused(fetch(`http://127.0.0.1:${target.port}/`, { dispatcher }), 'allowedDomains');
    expect(target.connections).toBe(0);
  });
});

describe('createGuardedAgent: host names', () => {
  function fakeDns(table: Record<string, string[]>): LookupFn & { calls: string[] } {
    const calls: string[] = [];
    const fn = async (hostname: string) => {
      calls.push(hostname);
      const found = table[hostname];
      if (found === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return found.map((address) => ({ address, family: net.isIP(address) }));
    };
    return Object.assign(fn, { calls });
  }

  it('refuses a listed name that resolves to loopback (DNS rebinding), before connecting', async () => {
    const lookup = fakeDns({ 'rebind.test.': ['127.0.0.1'] });
    const dispatcher = agent({ allowedDomains: ['rebind.test'] }, { lookup });
    const refusal = await expectRefused(fetch(`http://rebind.test:${target.port}/`, { dispatcher }), 'loopback');
    expect(refusal.message).toContain('rebind.test');
    expect(lookup.calls).toEqual(['rebind.test.']);
    expect(target.connections).toBe(0);
  });

  it('refuses when ANY resolved address is not allowed', async () => {
    const lookup = fakeDns({ 'mixed.test.': ['127.0.0.1', '10.0.0.1'] });
    const dispatcher = agent({ allowedDomains: ['mixed.test'], allowPrivateRanges: ['127.0.0.1/32'] }, { lookup });
    await expectRefused(fetch(`http://mixed.test:${target.port}/`, { dispatcher }), '10.0.0.1');
    expect(target.connections).toBe(0);
  });

  it('connects to the checked address when the name is listed and its address opted in', async () => {
    const lookup = fakeDns({ 'app.test.': ['127.0.0.1'] });
    const dispatcher = agent({ allowedDomains: ['app.test'], allowPrivateRanges: ['127.0.0.0/8'] }, { lookup });
    const res = await fetch(`http://app.test:${target.port}/path`, { dispatcher });
    expect(await res.text()).toBe('hello');
    expect(target.connections).toBe(1);
    expect(target.requests).toEqual([{ url: '/path', host: `app.test:${target.port}` }]);
  });

  it('does not resolve names the classifier refuses', async () => {
    const lookup = fakeDns({ 'other.test.': ['127.0.0.1'], 'localhost.': ['127.0.0.1'] });
    const dispatcher = agent({ allowedDomains: ['app.test', 'localhost'], allowPrivateRanges: ['127.0.0.0/8'] }, { lookup });
    await expectRefused(fetch(`http://other.test:${target.port}/`, { dispatcher }), 'allowedDomains');
    await expectRefused(fetch(`http://localhost:${target.port}/`, { dispatcher }), 'localhost');
    expect(lookup.calls).toEqual([]);
    expect(target.connections).toBe(0);
  });

  it('checks the new origin of a redirect', async () => {
    const lookup = fakeDns({ 'elsewhere.test.': ['127.0.0.1'] });
    const dispatcher = agent({ allowedDomains: ['127.0.0.1'], allowPrivateRanges: ['127.0.0.0/8'] }, { lookup });
    await expectRefused(fetch(`http://127.0.0.1:${target.port}/redirect`, { dispatcher }), 'elsewhere.test');
    expect(target.requests.map((r) => r.url)).toEqual(['/redirect']);
    expect(lookup.calls).toEqual([]);
  });

  it('reports a DNS failure as a network error, not a policy refusal', async () => {
    const lookup = fakeDns({});
    const dispatcher = agent({ allowedDomains: ['missing.test'] }, { lookup });
    const err = await fetch(`http://missing.test:${target.port}/`, { dispatcher }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isPolicyRefusal(err)).toBe(false);
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('ENOTFOUND');
  });

  it('times out a lookup that never answers', async () => {
    const lookup: LookupFn = () => new Promise(() => undefined);
    const dispatcher = agent({ allowedDomains: ['slow.test'], requestTimeoutMs: 100 }, { lookup });
    const err = await fetch(`http://slow.test:${target.port}/`, { dispatcher }).catch((e: unknown) => e);
    expect(isPolicyRefusal(err)).toBe(false);
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('ETIMEDOUT');
  });
});

describe('createGuardedAgent: after connecting', () => {
  it('destroys a socket whose peer is not allowed', async () => {
    // The connector is swapped for one that ignores the checked address and always reaches
    // 127.0.0.1, standing in for a network path that lands somewhere else.
    let connectorCalls = 0;
    const dispatcher = agent(
      { allowedDomains: ['127.0.0.2'], allowPrivateRanges: ['127.0.0.2/32'] },
      {
        connector: (opts, callback) => {
          connectorCalls++;
          expect(opts.hostname).toBe('127.0.0.2');
          const socket = net.connect({ host: '127.0.0.1', port: target.port });
          socket.once('connect', () => callback(null, socket));
          socket.once('error', (e) => callback(e, null));
        },
      },
    );
    await expectRefused(fetch(`http://127.0.0.2:${target.port}/`, { dispatcher }), 'connected peer');
    expect(connectorCalls).toBe(1);
    expect(target.requests).toEqual([]);
  });

  it('caps the response body at maxResponseBodyBytes', async () => {
    const dispatcher = agent({ allowedDomains: ['127.0.0.1'], allowPrivateRanges: ['127.0.0.0/8'], maxResponseBodyBytes: 1000 });
    const outcome = await fetch(`http://127.0.0.1:${target.port}/big`, { dispatcher })
      .then((r) => r.text())
      .then(
        (t) => `read ${t.length}`,
        () => 'failed',
      );
    expect(outcome).toBe('failed');
  });

  it('reports a refused connection as a network error', async () => {
    const closed = await startServer((_req, res) => res.end());
    const port = closed.port;
    await closed.close();
    const dispatcher = createGuardedAgent(
      NetworkPolicySchema.parse({ enabled: true, allowedDomains: ['127.0.0.1'], allowedPorts: [port], allowPrivateRanges: ['127.0.0.0/8'] }),
    );
    agents.push(dispatcher);
    const err = await fetch(`http://127.0.0.1:${port}/`, { dispatcher }).catch((e: unknown) => e);
    expect(isPolicyRefusal(err)).toBe(false);
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED');
  });
});

/** Self-signed test certificate for "app.test" (P-256, valid until 2126); test use only. */
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgiR9xfscekX/V7h//
FsgB0tt3S2gvcSupyY7s6gvaNXqhRANCAAR+3ZSWyaDzcdsZa119yEwhi5IUxTdf
e87ok4SBlNu1d9hJjdtippawCMJrY4buOgA6ZKqpgs3jkpmOH0OPaEL1
-----END PRIVATE KEY-----`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBkzCCATigAwIBAgIUIUtTgYIvmU5xIVw6CZRj2vZmNHEwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIYXBwLnRlc3QwIBcNMjYxMTIyMDIxMTQxWhgPMjEyNjEwMjkw
MjExNDFaMBMxETAPBgNVBAMMCGFwcC50ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEft2Ulsmg83HbGWtdfchMIYuSFMU3X3vO6JOEgZTbtXfYSY3bYqaWsAjC
a2OG7joAOmSqqYLN45KZjh9Dj2hC9aNoMGYwHQYDVR0OBBYEFLn7KfqchiKa5y/A
ELPyQM+qMDh1MB8GA1UdIwQYMBaAFLn7KfqchiKa5y/AELPyQM+qMDh1MA8GA1Ud
EwEB/wQFMAMBAf8wEwYDVR0RBAwwCoIIYXBwLnRlc3QwCgYIKoZIzj0EAwIDSQAw
RgIhAOZVsGF9rmTnpD49pT4BeyGDMn+97jobW5c9fexFBwRXAiEAxJAXKrqaxRp6
JCeE4lWVEhFHfWG4IqpUo2f777JWTWA=
-----END CERTIFICATE-----`;

describe('createGuardedAgent: TLS', () => {
  it('connects to the checked IP but verifies the certificate and SNI against the host name', async () => {
    const sni: string[] = [];
    const server = https.createServer(
      {
        key: TEST_KEY,
        cert: TEST_CERT,
        SNICallback: (name, cb) => {
          sni.push(name);
          cb(null, undefined);
        },
      },
      (_req, res) => res.end('tls ok'),
    );
    let connections = 0;
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const guard = setTimeout(() => server.close(), 30_000).unref();
    try {
      const make = (name: string) => {
        const a = createGuardedAgent(
          NetworkPolicySchema.parse({ enabled: true, allowedDomains: [name], allowedPorts: [port], allowPrivateRanges: ['127.0.0.0/8'] }),
          { lookup: async () => [{ address: '127.0.0.1', family: 4 }], connector: buildConnector({ ca: TEST_CERT, timeout: 3000 }) },
        );
        agents.push(a);
        return a;
      };
      const res = await fetch(`https://app.test:${port}/`, { dispatcher: make('app.test') });
      expect(await res.text()).toBe('tls ok');

      const err = await fetch(`https://other.test:${port}/`, { dispatcher: make('other.test') }).catch((e: unknown) => e);
      expect(isPolicyRefusal(err)).toBe(false);
      expect((err as { cause?: { code?: string } }).cause?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');

      expect(sni).toEqual(['app.test', 'other.test']);
      expect(connections).toBe(2);
    } finally {
      clearTimeout(guard);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('createGuardedAgent: proxy environment', () => {
  const names = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy'];
  const saved: Record<string, string | undefined> = {};
  let proxy: TestServer;

  beforeAll(async () => {
    proxy = await startServer((_req, res) => res.end('from proxy'));
    for (const n of names) {
      saved[n] = process.env[n];
      process.env[n] = `http://127.0.0.1:${proxy.port}`;
    }
    saved.NO_PROXY = process.env.NO_PROXY;
    delete process.env.NO_PROXY;
  });

  afterAll(async () => {
    for (const [n, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[n];
      else process.env[n] = v;
    }
    await proxy.close();
  });

  it('ignores proxy variables and connects directly', async () => {
    const dispatcher = agent({ allowedDomains: ['127.0.0.1'], allowPrivateRanges: ['127.0.0.0/8'] });
    const res = await fetch(`http://127.0.0.1:${target.port}/`, { dispatcher });
    expect(await res.text()).toBe('hello');
    expect(target.connections).toBe(1);
    expect(proxy.connections).toBe(0);
  });
});
