/**
 * The `network` section of a policy file.
 *
 * Default: no network at all. Everything a guest may reach has to be named here; private and
 * special-purpose address ranges stay blocked unless a CIDR in `allowPrivateRanges` opts in.
 *
 * Domain patterns are normalised while parsing (lower case, trailing dot removed, IDNA labels
 * converted to punycode, IPv4/IPv6 literals written the way the WHATWG URL parser writes them),
 * so the classifier can compare them byte for byte with a parsed URL's host name.
 *
 * Normalisation uses `.overwrite()` rather than `.transform()` so the schema stays
 * representable as JSON Schema for editors.
 */
import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';
import * as z from 'zod';

const MiB = 1024 * 1024;

type Normalised = { ok: true; value: string } | { ok: false; message: string };

const LABEL = /^[a-z0-9_-]+$/;

/** Host characters that can never be part of a domain pattern (URL delimiters, whitespace). */
const FORBIDDEN = /[\s/\\?#@:[\]%<>^|"'`{}]/;

/**
 * The WHATWG URL parser's view of a host: lower case, IDNA to punycode, IPv4 shorthand expanded.
 * Returns undefined when the URL parser refuses the host.
 */
function whatwgHostname(host: string): string | undefined {
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return undefined;
  }
}

/** Does the WHATWG parser read this (already normalised) host as an IPv4 address? */
function isIpv4Literal(host: string): boolean {
  return isIP(host) === 4;
}

function normaliseName(raw: string, what: string): Normalised {
  if (raw.length === 0) return { ok: false, message: `${what} is empty` };
  if (FORBIDDEN.test(raw)) return { ok: false, message: `${what} contains a character not allowed in a host name` };
  if (raw.includes('*')) return { ok: false, message: `${what} has a wildcard that is not a leading "*."` };
  const labels = raw.split('.');
  if (labels.some((l) => l.length === 0)) return { ok: false, message: `${what} has an empty label` };
  const host = whatwgHostname(raw);
  if (host === undefined || host.length === 0) return { ok: false, message: `${what} is not a valid host name` };
  if (isIpv4Literal(host)) return { ok: true, value: host };
  const asciiLabels = host.split('.');
  if (asciiLabels.some((l) => !LABEL.test(l))) {
    return { ok: false, message: `${what} is not a valid host name` };
  }
  if (host.length > 253) return { ok: false, message: `${what} is longer than 253 characters` };
  return { ok: true, value: host };
}

/**
 * Normalise one `allowedDomains`/`deniedDomains` entry.
 *
 * Accepted forms: an exact host name (`example.com`), a wildcard `*.example.com` (strictly the
 * subdomains, never `example.com` itself), an IPv4 literal, or an IPv6 literal with or without
 * brackets. IPv6 literals are stored without brackets.
 */
export function normaliseDomainPattern(entry: string): Normalised {
  const what = `domain pattern ${JSON.stringify(entry)}`;
  let s = entry.trim().toLowerCase();
  if (s.length === 0) return { ok: false, message: `${what} is empty` };

  // IPv6 literal, bracketed or bare.
  const bare = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  if (bare.includes(':')) {
    if (isIP(bare) !== 6) {
      return { ok: false, message: `${what} is neither a host name nor an IPv6 address (ports belong in allowedPorts)` };
    }
    const host = whatwgHostname(`[${bare}]`);
    if (host === undefined) return { ok: false, message: `${what} is not a valid IPv6 address` };
    return { ok: true, value: host.slice(1, -1) };
  }

  if (s.endsWith('.')) s = s.slice(0, -1);
  if (s === '*') return { ok: false, message: `${what}: a bare "*" is not allowed; list the domains` };

  if (s.startsWith('*.')) {
    const suffix = normaliseName(s.slice(2), what);
    if (!suffix.ok) return suffix;
    if (isIpv4Literal(suffix.value)) return { ok: false, message: `${what}: a wildcard cannot apply to an IP address` };
    return { ok: true, value: `*.${suffix.value}` };
  }
  return normaliseName(s, what);
}

const domainPattern = z
  .string()
  .superRefine((v, ctx) => {
    const r = normaliseDomainPattern(v);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: r.message });
  })
  .overwrite((v) => {
    const r = normaliseDomainPattern(v);
    return r.ok ? r.value : v;
  });

/** Validate a CIDR; returns an error message or undefined. */
export function cidrProblem(entry: string): string | undefined {
  const s = entry.trim();
  try {
    ipaddr.parseCIDR(s);
  } catch {
    return `CIDR ${JSON.stringify(entry)} is not valid (expected e.g. "127.0.0.0/8" or "::1/128")`;
  }
  // ipaddr.js also accepts non-canonical IPv4 forms (octal, hex, short); insist on the plain one.
  if (isIP(s.slice(0, s.lastIndexOf('/'))) === 0) {
    return `CIDR ${JSON.stringify(entry)} must use a plain dotted-quad or IPv6 address`;
  }
  return undefined;
}

const cidr = z
  .string()
  .superRefine((v, ctx) => {
    const problem = cidrProblem(v);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  })
  .overwrite((v) => v.trim().toLowerCase());

export const NetworkPolicySchema = z.strictObject({
  enabled: z.boolean().default(false).describe('Master switch. false: the guest has no network at all.'),
  allowedDomains: z
    .array(domainPattern)
    .default([])
    .describe(
      'Hosts the guest may reach: exact names ("api.example.com"), "*.example.com" for strictly the subdomains, ' +
        'or IP literals (which must also pass the address checks). Unicode names are stored as punycode.',
    ),
  deniedDomains: z
    .array(domainPattern)
    .default([])
    .describe('Same forms as allowedDomains; a match here refuses the host even when allowedDomains matches.'),
  allowedSchemes: z
    .array(z.enum(['http', 'https']))
    .default(['http', 'https'])
    .describe('URL schemes the guest may use; only "http" and "https" exist.'),
  allowedPorts: z
    .array(z.number().int().min(1).max(65535))
    .default([80, 443])
    .describe('TCP ports the guest may connect to (a URL without a port uses 80 for http, 443 for https).'),
  allowPrivateRanges: z
    .array(cidr)
    .default([])
    .describe(
      'CIDRs of non-public addresses (loopback, private, link-local, ...) the guest may reach anyway, e.g. "127.0.0.0/8". ' +
        'The only way to reach a non-public address.',
    ),
  maxRequestBodyBytes: z
    .number()
    .int()
    .min(0)
    .max(256 * MiB)
    .default(MiB)
    .describe('Largest request body the guest may send, in bytes.'),
  maxResponseBodyBytes: z
    .number()
    .int()
    .min(0)
    .max(1024 * MiB)
    .default(5 * MiB)
    .describe('Largest response body the guest may receive, in bytes.'),
  maxRedirects: z.number().int().min(0).max(10).default(5).describe('Redirects followed per request.'),
  maxRequestsPerRun: z.number().int().min(0).max(10_000).default(20).describe('Requests one run may make (redirect hops count).'),
  requestTimeoutMs: z
    .number()
    .int()
    .min(1)
    .max(600_000)
    .default(10_000)
    .describe('Deadline per request (DNS, connect, headers and body each).'),
});

export type NetworkPolicy = z.infer<typeof NetworkPolicySchema>;
export type NetworkPolicyInput = z.input<typeof NetworkPolicySchema>;
