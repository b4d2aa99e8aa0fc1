import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NetworkPolicySchema, normaliseDomainPattern } from '../../../src/front/policy/network-schema.js';

describe('NetworkPolicySchema', () => {
  it('defaults to no network at all', () => {
    expect(NetworkPolicySchema.parse({})).toEqual({
      enabled: false,
      allowedDomains: [],
      deniedDomains: [],
      allowedSchemes: ['http', 'https'],
      allowedPorts: [80, 443],
      allowPrivateRanges: [],
      maxRequestBodyBytes: 1024 * 1024,
      maxResponseBodyBytes: 5 * 1024 * 1024,
      maxRedirects: 5,
      maxRequestsPerRun: 20,
      requestTimeoutMs: 10_000,
    });
  });

  it('rejects unknown fields', () => {
    const r = NetworkPolicySchema.safeParse({ enabled: true, allowAll: true });
    expect(r.success).toBe(false);
  });

  it('normalises domain patterns', () => {
    const p = NetworkPolicySchema.parse({
      allowedDomains: ['API.Example.COM.', '*.Example.org', 'bücher.example', '*.bücher.example', ' 127.1 ', '[::FFFF:7F00:1]', '2001:DB8::1'],
    });
    expect(p.allowedDomains).toEqual([
      'api.example.com',
      '*.example.org',
      'xn--bcher-kva.example',
      '*.xn--bcher-kva.example',
      '127.0.0.1',
      '::ffff:7f00:1',
      '2001:db8::1',
    ]);
  });

  it.each([
    ['*', 'bare'],
    ['*.', 'bare'],
    ['', 'empty'],
    ['foo..com', 'empty label'],
    ['.foo.com', 'empty label'],
    ['foo.*.com', 'wildcard'],
    ['*foo.com', 'wildcard'],
    ['foo.com/path', 'character'],
    ['user@foo.com', 'character'],
    ['foo.com:8080', 'allowedPorts'],
    ['fe80::1::2', 'IPv6'],
    ['*.127.0.0.1', 'IP address'],
    ['[1.2.3.4]', 'character'],
  ])('rejects domain pattern %j', (entry, fragment) => {
    const r = NetworkPolicySchema.safeParse({ allowedDomains: ['ok.example', entry] });
    expect(r.success).toBe(false);
    const issue = r.error!.issues[0]!;
    expect(issue.path).toEqual(['allowedDomains', 1]);
    expect(issue.message).toContain(JSON.stringify(entry));
    expect(issue.message).toContain(fragment);
  });

  it('validates deniedDomains the same way', () => {
    expect(NetworkPolicySchema.safeParse({ deniedDomains: ['a.*'] }).success).toBe(false);
    expect(NetworkPolicySchema.parse({ deniedDomains: ['EVIL.example'] }).deniedDomains).toEqual(['evil.example']);
  });

  it('validates CIDRs and names the bad one', () => {
    expect(NetworkPolicySchema.parse({ allowPrivateRanges: ['127.0.0.0/8', '::1/128', 'FC00::/7'] }).allowPrivateRanges).toEqual([
      '127.0.0.0/8',
      '::1/128',
      'fc00::/7',
    ]);
    for (const bad of ['127.0.0.1', '10.0.0.0/33', 'nope/8', '0x7f.0.0.0/8', '127.1/8', '::1/129']) {
      const r = NetworkPolicySchema.safeParse({ allowPrivateRanges: [bad] });
      expect(r.success, bad).toBe(false);
      expect(r.error!.issues[0]!.message).toContain(JSON.stringify(bad));
    }
  });

  it('limits schemes, ports and numbers', () => {
    expect(NetworkPolicySchema.safeParse({ allowedSchemes: ['ftp'] }).success).toBe(false);
    expect(NetworkPolicySchema.safeParse({ allowedSchemes: ['file'] }).success).toBe(false);
    expect(NetworkPolicySchema.safeParse({ allowedPorts: [0] }).success).toBe(false);
    expect(NetworkPolicySchema.safeParse({ allowedPorts: [65536] }).success).toBe(false);
    expect(NetworkPolicySchema.safeParse({ allowedPorts: [80.5] }).success).toBe(false);
    expect(NetworkPolicySchema.safeParse({ maxRedirects: 11 }).success).toBe(false);
    expect(NetworkPolicySchema.safeParse({ maxRedirects: -1 }).success).toBe(false);
    expect(NetworkPolicySchema.parse({ maxRedirects: 0 }).maxRedirects).toBe(0);
    expect(NetworkPolicySchema.safeParse({ requestTimeoutMs: 0 }).success).toBe(false);
    expect(NetworkPolicySchema.safeParse({ maxResponseBodyBytes: -1 }).success).toBe(false);
  });

  it('is representable as JSON Schema', () => {
    const js = z.toJSONSchema(NetworkPolicySchema, { io: 'input' }) as { additionalProperties?: unknown };
    expect(js.additionalProperties).toBe(false);
  });

  it('normaliseDomainPattern reports problems without throwing', () => {
    expect(normaliseDomainPattern('a..b')).toMatchObject({ ok: false });
    expect(normaliseDomainPattern('A.B')).toEqual({ ok: true, value: 'a.b' });
  });
});
