/**
 * Pure network-policy classification: URLs, host names and IP addresses. No I/O here.
 *
 * Two layers, both required for a request to go out:
 *  - `checkUrl` decides from the URL alone (scheme, credentials, port, host name against the
 *    allow and deny lists, IP-literal hosts against the address rules);
 *  - `checkAddress` decides for one concrete IP address; the guarded dispatcher applies it to
 *    every address DNS returns and to the socket's actual peer.
 *
 * Choice for IP-literal hosts (`http://93.184.215.14/`): the address must pass `checkAddress`
 * AND the literal must be listed in `allowedDomains` as an exact entry (wildcards never match an
 * IP). Opting a range in with `allowPrivateRanges` only lifts the range block; it does not by
 * itself make every address in it reachable. So `allowedDomains: []` means no host at all, even
 * when addresses are opted in.
 */
import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';
import type { NetworkPolicy } from '../policy/network-schema.js';

type Addr = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Addr, number];

export type UrlCheck =
  | { ok: true; url: URL; host: string; port: number; hostKind: 'ip' | 'domain' }
  | { ok: false; reason: string; code: 'E_POLICY_DENIED' };

export type AddressCheck = { ok: true } | { ok: false; reason: string };

const DEFAULT_PORT: Record<string, number> = { http: 80, https: 443 };
const LABEL = /^[a-z0-9_-]+$/;

function deny(reason: string): { ok: false; reason: string; code: 'E_POLICY_DENIED' } {
  return { ok: false, reason, code: 'E_POLICY_DENIED' };
}

// ---------------------------------------------------------------------------------------------
// Address ranges

function cidr(s: string): Cidr {
  return ipaddr.parseCIDR(s) as Cidr;
}

/**
 * Non-public ranges, most specific first (the first match names the range in the reason).
 * Based on the IANA IPv4/IPv6 special-purpose address registries; anything ipaddr.js does not
 * call 'unicast', and any IPv6 address outside 2000::/3, is refused as well.
 */
const BLOCKED_V4: ReadonlyArray<readonly [Cidr, string]> = [
  [cidr('0.0.0.0/8'), 'unspecified / "this network" 0.0.0.0/8'],
  [cidr('10.0.0.0/8'), 'private 10.0.0.0/8'],
  [cidr('100.64.0.0/10'), 'carrier-grade NAT 100.64.0.0/10'],
  [cidr('127.0.0.0/8'), 'loopback 127.0.0.0/8'],
  [cidr('169.254.169.254/32'), 'link-local 169.254.0.0/16 (cloud metadata endpoint)'],
  [cidr('169.254.0.0/16'), 'link-local 169.254.0.0/16'],
  [cidr('172.16.0.0/12'), 'private 172.16.0.0/12'],
  [cidr('192.0.0.0/24'), 'IETF protocol assignments 192.0.0.0/24'],
  [cidr('192.0.2.0/24'), 'documentation TEST-NET-1 192.0.2.0/24'],
  [cidr('192.31.196.0/24'), 'AS112 192.31.196.0/24'],
  [cidr('192.52.193.0/24'), 'AMT 192.52.193.0/24'],
  [cidr('192.88.99.0/24'), '6to4 relay anycast 192.88.99.0/24'],
  [cidr('192.168.0.0/16'), 'private 192.168.0.0/16'],
  [cidr('192.175.48.0/24'), 'AS112 192.175.48.0/24'],
  [cidr('198.18.0.0/15'), 'benchmarking 198.18.0.0/15'],
  [cidr('198.51.100.0/24'), 'documentation TEST-NET-2 198.51.100.0/24'],
  [cidr('203.0.113.0/24'), 'documentation TEST-NET-3 203.0.113.0/24'],
  [cidr('224.0.0.0/4'), 'multicast 224.0.0.0/4'],
  [cidr('255.255.255.255/32'), 'broadcast 255.255.255.255/32'],
  [cidr('240.0.0.0/4'), 'reserved 240.0.0.0/4'],
];

const BLOCKED_V6: ReadonlyArray<readonly [Cidr, string]> = [
  [cidr('::/128'), 'unspecified ::/128'],
  [cidr('::1/128'), 'loopback ::1/128'],
  [cidr('::ffff:0:0/96'), 'IPv4-mapped ::ffff:0:0/96'],
  [cidr('::/96'), 'IPv4-compatible ::/96 (deprecated)'],
  [cidr('::ffff:0:0:0/96'), 'IPv4-translated ::ffff:0:0:0/96'],
  [cidr('64:ff9b::/96'), 'NAT64 64:ff9b::/96'],
  [cidr('64:ff9b:1::/48'), 'local-use NAT64 64:ff9b:1::/48'],
  [cidr('100::/64'), 'discard-only 100::/64'],
  [cidr('2001::/32'), 'Teredo 2001::/32'],
  [cidr('2001:2::/48'), 'benchmarking 2001:2::/48'],
  [cidr('2001:db8::/32'), 'documentation 2001:db8::/32'],
  [cidr('2001::/23'), 'IETF protocol assignments 2001::/23'],
  [cidr('2002::/16'), '6to4 2002::/16'],
  [cidr('3fff::/20'), 'documentation 3fff::/20'],
  [cidr('5f00::/16'), 'segment routing 5f00::/16'],
  [cidr('fc00::/7'), 'unique local fc00::/7'],
  [cidr('fe80::/10'), 'link-local fe80::/10'],
  [cidr('fec0::/10'), 'site-local fec0::/10 (deprecated)'],
  [cidr('ff00::/8'), 'multicast ff00::/8'],
];

const GLOBAL_UNICAST_V6 = cidr('2000::/3');

function inCidr(addr: Addr, [net, bits]: Cidr): boolean {
  return addr.kind() === net.kind() && addr.match(net, bits);
}

/** The non-public range an address belongs to, or undefined when it is public. */
function nonPublicRange(addr: Addr): string | undefined {
  const table = addr.kind() === 'ipv4' ? BLOCKED_V4 : BLOCKED_V6;
  for (const [range, name] of table) {
    if (inCidr(addr, range)) return name;
  }
  if (addr.kind() === 'ipv6' && !inCidr(addr, GLOBAL_UNICAST_V6)) {
    return 'outside global unicast 2000::/3';
  }
  const kind = addr.range();
  if (kind !== 'unicast') return `special-purpose range "${kind}"`;
  return undefined;
}

const cidrCache = new Map<string, Cidr | null>();

function parseCidrCached(s: string): Cidr | null {
  let c = cidrCache.get(s);
  if (c === undefined) {
    try {
      c = ipaddr.parseCIDR(s) as Cidr;
    } catch {
      c = null;
    }
    if (cidrCache.size > 1024) cidrCache.clear();
    cidrCache.set(s, c);
  }
  return c;
}

function optedIn(addr: Addr, policy: NetworkPolicy): boolean {
  for (const entry of policy.allowPrivateRanges) {
    const c = parseCidrCached(entry);
    if (c !== null && inCidr(addr, c)) return true;
  }
  return false;
}

/**
 * May the sandbox talk to this IP address?
 *
 * Only plain textual addresses are accepted (what DNS and sockets report: dotted quad, IPv6
 * with optional brackets and zone). IPv4-mapped IPv6 is unwrapped and judged as IPv4, and only
 * an IPv4 `allowPrivateRanges` entry can opt it in.
 */
export function checkAddress(ip: string, policy: NetworkPolicy): AddressCheck {
  let s = ip.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (isIP(s) === 0) return { ok: false, reason: `${JSON.stringify(ip)} is not an IP address` };
  let addr: Addr;
  try {
    addr = ipaddr.process(s);
  } catch {
    return { ok: false, reason: `${JSON.stringify(ip)} is not an IP address` };
  }
  const range = nonPublicRange(addr);
  if (range === undefined) return { ok: true };
  if (optedIn(addr, policy)) return { ok: true };
  return {
    ok: false,
    reason: `address ${addr.toString()} is in the ${range} range, which the policy blocks (network.allowPrivateRanges can opt a CIDR in)`,
  };
}

// ---------------------------------------------------------------------------------------------
// Host names

/** Lower case, no trailing dot. Patterns and hosts both go through this before comparing. */
function canonicalName(s: string): string {
  const lower = s.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * Does `host` match `pattern`? `pattern` is an exact name or `*.suffix`, which matches strictly
 * the subdomains of `suffix` (at a label boundary), never `suffix` itself. Case and one trailing
 * dot are ignored on both sides; IDNA is not applied here (policy patterns and URL hosts are
 * both punycode already).
 */
export function matchDomain(host: string, pattern: string): boolean {
  const h = canonicalName(host);
  const p = canonicalName(pattern);
  if (h.length === 0 || p.length === 0) return false;
  if (p.startsWith('*.')) {
    const suffix = p.slice(1); // ".example.com"
    return suffix.length > 1 && h.length > suffix.length && h.endsWith(suffix);
  }
  return h === p;
}

function matchesAny(host: string, patterns: readonly string[], hostIsIp: boolean): string | undefined {
  for (const p of patterns) {
    if (hostIsIp && p.startsWith('*.')) continue;
    if (matchDomain(host, p)) return p;
  }
  return undefined;
}

function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

/**
 * May the sandbox request this URL? Decides from the URL alone; the dispatcher still checks
 * every resolved address. `host` in the result is the host to match and resolve: lower case,
 * punycode, no trailing dot, IPv6 without brackets.
 */
export function checkUrl(raw: string, policy: NetworkPolicy): UrlCheck {
  if (!policy.enabled) return deny('network access is disabled by the policy');

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return deny('not a valid absolute URL');
  }

  const scheme = url.protocol.endsWith(':') ? url.protocol.slice(0, -1) : url.protocol;
  if (!(policy.allowedSchemes as readonly string[]).includes(scheme)) {
    return deny(`scheme "${scheme}:" is not allowed (allowed: ${policy.allowedSchemes.map((s) => `${s}:`).join(', ') || 'none'})`);
  }
  const defaultPort = DEFAULT_PORT[scheme];
  if (defaultPort === undefined) return deny(`scheme "${scheme}:" is not allowed`);

  if (url.username !== '' || url.password !== '') {
    return deny('URLs with credentials (user:password@) are not allowed');
  }

  const hostname = url.hostname;
  if (hostname.length === 0) return deny('URL has no host');

  const port = url.port === '' ? defaultPort : Number(url.port);
  if (!Number.isInteger(port) || !policy.allowedPorts.includes(port)) {
    return deny(`port ${url.port === '' ? String(port) : url.port} is not allowed (allowed: ${policy.allowedPorts.join(', ') || 'none'})`);
  }

  // IP literals. The WHATWG parser has already turned decimal/hex/octal/short IPv4 forms into
  // a dotted quad and compressed IPv6 inside brackets.
  let ipHost: string | undefined;
  if (hostname.startsWith('[') && hostname.endsWith(']')) ipHost = hostname.slice(1, -1);
  else if (isIP(hostname) === 4) ipHost = hostname;

  if (ipHost !== undefined) {
    if (isIP(ipHost) === 0) return deny(`host ${JSON.stringify(hostname)} is not a valid IP address`);
    const denied = matchesAny(ipHost, policy.deniedDomains, true);
    if (denied !== undefined) return deny(`host ${ipHost} is denied by network.deniedDomains entry "${denied}"`);
    const addr = checkAddress(ipHost, policy);
    if (!addr.ok) return deny(addr.reason);
    if (matchesAny(ipHost, policy.allowedDomains, true) === undefined) {
      return deny(`host ${ipHost} is not in network.allowedDomains (IP literals must be listed exactly)`);
    }
    return { ok: true, url, host: ipHost, port, hostKind: 'ip' };
  }

  const host = canonicalName(hostname);
  const labels = host.split('.');
  if (host.length === 0 || host.length > 253 || labels.some((l) => l.length === 0 || l.length > 63 || !LABEL.test(l))) {
    return deny(`host ${JSON.stringify(hostname)} is not a valid host name`);
  }
  if (isLocalhostName(host)) return deny(`host "${host}" is a localhost name, which is never allowed`);

  const denied = matchesAny(host, policy.deniedDomains, false);
  if (denied !== undefined) return deny(`host "${host}" is denied by network.deniedDomains entry "${denied}"`);
  if (matchesAny(host, policy.allowedDomains, false) === undefined) {
    return deny(`host "${host}" is not in network.allowedDomains`);
  }
  return { ok: true, url, host, port, hostKind: 'domain' };
}
