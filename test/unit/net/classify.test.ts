import { describe, expect, it } from 'vitest';
import { checkAddress, checkUrl, matchDomain } from '../../../src/front/net/classify.js';
import { NetworkPolicySchema, type NetworkPolicyInput } from '../../../src/front/policy/network-schema.js';

function pol(over: NetworkPolicyInput = {}) {
  return NetworkPolicySchema.parse({ enabled: true, ...over });
}

/** A policy that lists the URL's own host, so any refusal has to come from somewhere else. */
function listing(url: string, over: NetworkPolicyInput = {}) {
  const hostname = new URL(url).hostname;
  const entry = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return pol({ allowedDomains: [entry], ...over });
}

function refused(url: string, policy: ReturnType<typeof pol>): string {
  const r = checkUrl(url, policy);
  if (r.ok) throw new Error(`expected ${url} to be refused, got host ${r.host}`);
  expect(r.code).toBe('E_POLICY_DENIED');
  return r.reason;
}

const base = pol({
  allowedDomains: ['example.com', '*.example.org', 'bücher.example', '93.184.215.14', '2606:4700:4700::1111', 'localhost', '*.localhost'],
});

describe('matchDomain', () => {
  it.each([
    ['a.example.com', '*.example.com', true],
    ['x.y.example.com', '*.example.com', true],
    ['example.com', '*.example.com', false],
    ['badexample.com', '*.example.com', false],
    ['a.badexample.com', '*.example.com', false],
    ['.example.com', '*.example.com', false],
    ['example.com', 'example.com', true],
    ['EXAMPLE.com.', 'example.com', true],
    ['example.com', 'Example.COM.', true],
    ['www.example.com', 'example.com', false],
    ['example.com.evil.net', 'example.com', false],
    ['evil-example.com', 'example.com', false],
    ['', 'example.com', false],
    ['a.example.com', '*.', false],
    ['a.example.com', '*', false],
  ])('%j vs %j -> %s', (host, pattern, expected) => {
    expect(matchDomain(host, pattern)).toBe(expected);
  });
});

describe('checkUrl: allowed', () => {
  it('exact domain, default ports by scheme', () => {
    expect(checkUrl('https://example.com/x?y=1', base)).toMatchObject({ ok: true, host: 'example.com', port: 443, hostKind: 'domain' });
    expect(checkUrl('http://example.com/', base)).toMatchObject({ ok: true, port: 80 });
    expect(checkUrl('http://example.com:443/', base)).toMatchObject({ ok: true, port: 443 });
  });

  it('upper case and a trailing dot', () => {
    expect(checkUrl('HTTPS://EXAMPLE.COM./', base)).toMatchObject({ ok: true, host: 'example.com' });
  });

  it('wildcard: strict subdomains only', () => {
    expect(checkUrl('https://a.example.org/', base)).toMatchObject({ ok: true, host: 'a.example.org' });
    expect(checkUrl('https://a.b.example.org./', base)).toMatchObject({ ok: true, host: 'a.b.example.org' });
    expect(refused('https://example.org/', base)).toContain('allowedDomains');
    expect(refused('https://badexample.org/', base)).toContain('allowedDomains');
    expect(refused('https://example.org.evil.net/', base)).toContain('allowedDomains');
    expect(refused('https://www.example.com/', base)).toContain('allowedDomains');
  });

  it('IDNA: unicode and punycode on either side', () => {
    expect(checkUrl('https://bücher.example/', base)).toMatchObject({ ok: true, host: 'xn--bcher-kva.example' });
    expect(checkUrl('https://BÜCHER.example/', base)).toMatchObject({ ok: true, host: 'xn--bcher-kva.example' });
    expect(checkUrl('https://xn--bcher-kva.example/', base)).toMatchObject({ ok: true });
    const puny = pol({ allowedDomains: ['xn--bcher-kva.example'] });
    expect(checkUrl('https://bücher.example/', puny)).toMatchObject({ ok: true });
    // Cyrillic look-alike of example.com
    expect(refused('https://\u0435\u0445\u0430mple.com/', base)).toContain('allowedDomains');
  });

  it('public IP literals listed exactly', () => {
    expect(checkUrl('http://93.184.215.14/', base)).toMatchObject({ ok: true, host: '93.184.215.14', hostKind: 'ip' });
    expect(checkUrl('http://1572394766/', base)).toMatchObject({ ok: true, host: '93.184.215.14' });
    expect(checkUrl('https://[2606:4700:4700::1111]/', base)).toMatchObject({ ok: true, host: '2606:4700:4700::1111', hostKind: 'ip' });
    expect(checkUrl('https://[2606:4700:4700:0:0:0:0:1111]/', base)).toMatchObject({ ok: true });
  });

  it('IP literals must be listed, wildcards never match them', () => {
    expect(refused('http://1.1.1.1/', base)).toContain('allowedDomains');
    expect(refused('http://1.1.1.1/', pol({ allowedDomains: ['*.example.org'] }))).toContain('allowedDomains');
    expect(refused('http://[2606:4700:4700::1001]/', base)).toContain('allowedDomains');
  });
});

describe('checkUrl: refused before anything else', () => {
  it('disabled network', () => {
    const off = NetworkPolicySchema.parse({ allowedDomains: ['example.com'] });
    expect(refused('https://example.com/', off)).toContain('disabled');
  });

  it.each(['not a url', '/relative/path', '', 'http://', 'http:// example.com/'])('bad URL %j', (u) => {
    refused(u, base);
  });

  it.each([
    'file:///etc/passwd',
    'ftp://example.com/',
    'data:text/plain,hello',
    'javascript:alert(1)',
    'ws://example.com/',
    'wss://example.com/',
    'blob:https://example.com/uuid',
    'gopher://example.com/',
  ])('scheme %s', (u) => {
    expect(refused(u, base)).toContain('scheme');
  });

  it('scheme not in the policy list', () => {
    expect(refused('http://example.com/', pol({ allowedDomains: ['example.com'], allowedSchemes: ['https'] }))).toContain('scheme "http:"');
  });

  it.each(['http://user:pw@example.com/', 'http://user@example.com/', 'http://:pw@example.com/', 'https://example.com@evil.net/'])(
    'userinfo %s',
    (u) => {
      expect(refused(u, base)).toMatch(/credentials|allowedDomains/);
    },
  );

  it('userinfo is refused even for an allowed host', () => {
    expect(refused('https://a:b@example.com/', base)).toContain('credentials');
  });

  it.each([
    ['http://example.com:8080/', '8080'],
    ['http://example.com:22/', '22'],
    ['https://example.com:0/', '0'],
    ['http://example.com:65535/', '65535'],
  ])('port %s', (u, port) => {
    expect(refused(u, base)).toContain(`port ${port}`);
  });

  it('default port must be allowed too', () => {
    expect(refused('http://example.com/', pol({ allowedDomains: ['example.com'], allowedPorts: [443] }))).toContain('port 80');
  });

  it.each(['http://localhost/', 'http://LOCALHOST/', 'http://localhost./', 'http://foo.localhost/', 'http://a.b.LocalHost./'])(
    'localhost name %s, even when listed and opted in',
    (u) => {
      const p = pol({ allowedDomains: ['localhost', '*.localhost'], allowPrivateRanges: ['127.0.0.0/8', '::1/128'] });
      expect(refused(u, p)).toContain('localhost');
    },
  );

  it.each(['http://*.example.org/', 'http://example.com../', 'http://a..example.org/'])('invalid host name %s', (u) => {
    refused(u, base);
  });
});

describe('checkUrl: IP literals in every encoding', () => {
  const loopbackForms = [
    'http://127.0.0.1/',
    'http://2130706433/',
    'http://0x7f000001/',
    'http://0x7f.1/',
    'http://0x7F.0.0.1/',
    'http://0177.0.0.1/',
    'http://017700000001/',
    'http://127.1/',
    'http://127.0.1/',
    'http://127.0.0.1./',
    'http://%31%32%37.0.0.1/',
    'http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/',
    'http://127.255.255.254/',
  ];
  it.each(loopbackForms)('%s is IPv4 loopback', (u) => {
    expect(new URL(u).hostname).toMatch(/^127\./);
    expect(refused(u, listing(u))).toContain('loopback 127.0.0.0/8');
  });

  it.each([
    ['http://[::1]/', 'loopback ::1/128'],
    ['http://[0:0:0:0:0:0:0:1]/', 'loopback ::1/128'],
    ['http://[::ffff:127.0.0.1]/', 'loopback 127.0.0.0/8'],
    ['http://[::ffff:7f00:1]/', 'loopback 127.0.0.0/8'],
    ['http://[0:0:0:0:0:ffff:7f00:1]/', 'loopback 127.0.0.0/8'],
    ['http://[::ffff:169.254.169.254]/', 'metadata'],
    ['http://[::ffff:10.0.0.1]/', 'private 10.0.0.0/8'],
    ['http://[::]/', 'unspecified ::/128'],
    ['http://[::127.0.0.1]/', 'IPv4-compatible'],
    ['http://[::ffff:0:7f00:1]/', 'IPv4-translated'],
    ['http://[fe80::1]/', 'link-local fe80::/10'],
    ['http://[febf::1]/', 'link-local fe80::/10'],
    ['http://[fc00::1]/', 'unique local fc00::/7'],
    ['http://[fd12:3456:789a::1]/', 'unique local fc00::/7'],
    ['http://[fec0::1]/', 'site-local'],
    ['http://[ff02::1]/', 'multicast ff00::/8'],
    ['http://[ff0e::1]/', 'multicast ff00::/8'],
    ['http://[64:ff9b::7f00:1]/', 'NAT64 64:ff9b::/96'],
    ['http://[64:ff9b::8.8.8.8]/', 'NAT64 64:ff9b::/96'],
    ['http://[64:ff9b:1::a00:1]/', 'NAT64 64:ff9b:1::/48'],
    ['http://[2002:7f00:1::1]/', '6to4 2002::/16'],
    ['http://[2002:c000:0204::1]/', '6to4 2002::/16'],
    ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', 'Teredo 2001::/32'],
    ['http://[2001:db8::1]/', 'documentation 2001:db8::/32'],
    ['http://[3fff::1]/', 'documentation 3fff::/20'],
    ['http://[2001:2::1]/', 'benchmarking'],
    ['http://[100::1]/', 'discard'],
    ['http://[4000::1]/', 'outside global unicast'],
  ])('%s -> %s', (u, range) => {
    expect(refused(u, listing(u))).toContain(range);
  });

  it.each([
    ['http://0.0.0.0/', 'unspecified'],
    ['http://0/', 'unspecified'],
    ['http://0.1.2.3/', 'unspecified'],
    ['http://10.0.0.1/', 'private 10.0.0.0/8'],
    ['http://172.16.5.4/', 'private 172.16.0.0/12'],
    ['http://172.31.255.255/', 'private 172.16.0.0/12'],
    ['http://192.168.1.1/', 'private 192.168.0.0/16'],
    ['http://169.254.169.254/', 'metadata'],
    ['http://2852039166/', 'metadata'],
    ['http://169.254.1.1/', 'link-local 169.254.0.0/16'],
    ['http://100.64.0.1/', 'carrier-grade NAT'],
    ['http://100.127.255.254/', 'carrier-grade NAT'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://239.255.255.250/', 'multicast'],
    ['http://255.255.255.255/', 'broadcast'],
    ['http://240.0.0.1/', 'reserved 240.0.0.0/4'],
    ['http://198.18.0.1/', 'benchmarking 198.18.0.0/15'],
    ['http://198.19.255.254/', 'benchmarking 198.18.0.0/15'],
    ['http://192.0.2.1/', 'documentation'],
    ['http://198.51.100.7/', 'documentation'],
    ['http://203.0.113.9/', 'documentation'],
    ['http://192.0.0.8/', 'IETF protocol assignments'],
    ['http://192.88.99.1/', '6to4 relay'],
  ])('%s -> %s', (u, range) => {
    expect(refused(u, listing(u))).toContain(range);
  });

  it('near misses of blocked ranges are public', () => {
    for (const u of ['http://100.128.0.1/', 'http://172.32.0.1/', 'http://198.20.0.1/', 'http://11.0.0.1/', 'http://[2001:4860:4860::8888]/']) {
      expect(checkUrl(u, listing(u)), u).toMatchObject({ ok: true });
    }
  });
});

describe('checkUrl: deny beats allow', () => {
  const p = pol({
    allowedDomains: ['*.example.com', 'example.com', '93.184.215.14'],
    deniedDomains: ['secret.example.com', '*.internal.example.com', '93.184.215.14'],
  });
  it('exact deny', () => {
    expect(refused('https://secret.example.com/', p)).toContain('deniedDomains');
    expect(refused('https://SECRET.example.com./', p)).toContain('deniedDomains');
    expect(checkUrl('https://www.example.com/', p)).toMatchObject({ ok: true });
  });
  it('wildcard deny covers subdomains only', () => {
    expect(refused('https://a.internal.example.com/', p)).toContain('deniedDomains');
    expect(checkUrl('https://internal.example.com/', p)).toMatchObject({ ok: true });
  });
  it('IP deny', () => {
    expect(refused('http://93.184.215.14/', p)).toContain('deniedDomains');
  });
});

describe('checkUrl: explicit allowPrivateRanges opt-in', () => {
  const p = pol({
    allowedDomains: ['127.0.0.1', '::1', '::ffff:7f00:1', '10.0.0.1'],
    allowedPorts: [8080],
    allowPrivateRanges: ['127.0.0.0/8', '::1/128'],
  });
  it('opted-in loopback works, in any encoding that normalises to a listed literal', () => {
    expect(checkUrl('http://127.0.0.1:8080/', p)).toMatchObject({ ok: true, host: '127.0.0.1', port: 8080, hostKind: 'ip' });
    expect(checkUrl('http://127.1:8080/', p)).toMatchObject({ ok: true, host: '127.0.0.1' });
    expect(checkUrl('http://2130706433:8080/', p)).toMatchObject({ ok: true, host: '127.0.0.1' });
    expect(checkUrl('http://[::1]:8080/', p)).toMatchObject({ ok: true, host: '::1' });
    expect(checkUrl('http://[::ffff:127.0.0.1]:8080/', p)).toMatchObject({ ok: true, host: '::ffff:7f00:1' });
  });
  it('other private ranges stay blocked', () => {
    expect(refused('http://10.0.0.1:8080/', p)).toContain('private 10.0.0.0/8');
  });
  it('the opt-in alone does not list a host', () => {
    expect(refused('http://127.0.0.2:8080/', p)).toContain('allowedDomains');
  });
  it('an IPv6 CIDR does not opt in IPv4-mapped addresses', () => {
    const q = pol({ allowedDomains: ['::ffff:7f00:1'], allowPrivateRanges: ['::ffff:0:0/96'] });
    expect(refused('http://[::ffff:127.0.0.1]/', q)).toContain('loopback 127.0.0.0/8');
  });
});

describe('checkAddress', () => {
  const none = pol();
  it.each(['8.8.8.8', '93.184.215.14', '2606:4700:4700::1111', '[2606:4700:4700::1111]', '::ffff:8.8.8.8', '2a00:1450:4001::1'])(
    'public %s',
    (ip) => {
      expect(checkAddress(ip, none)).toEqual({ ok: true });
    },
  );
  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback 127'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['169.254.169.254', 'metadata'],
    ['fe80::1%lo', 'link-local'],
    ['100.64.1.1', 'carrier-grade'],
    ['ff02::fb', 'multicast'],
  ])('blocked %s names %s', (ip, range) => {
    const r = checkAddress(ip, none);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(range);
  });
  it.each(['127.1', '2130706433', '0x7f.0.0.1', 'example.com', '', '1.2.3.4.5', ':::1'])('rejects non-canonical or non-IP %j', (ip) => {
    const r = checkAddress(ip, none);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain('not an IP address');
  });
  it('opt-in by CIDR', () => {
    const p = pol({ allowPrivateRanges: ['10.1.0.0/16', 'fd00::/8'] });
    expect(checkAddress('10.1.2.3', p)).toEqual({ ok: true });
    expect(checkAddress('::ffff:10.1.2.3', p)).toEqual({ ok: true });
    expect(checkAddress('fd00::5', p)).toEqual({ ok: true });
    expect(checkAddress('10.2.0.1', p).ok).toBe(false);
    expect(checkAddress('fc00::5', p).ok).toBe(false);
  });
});
