import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { diagnose, gradeOf, meets, type HostFacts } from '../../../src/front/doctor.js';
import { PolicySchema } from '../../../src/front/policy/schema.js';

const restricted: HostFacts = {
  nodeVersion: 'v24.21.0',
  restrictions: ['permission-model', 'no-fs-write', 'no-child-process', 'no-fs-read-outside-runtimes', 'no-inherited-env', 'no-code-generation-from-strings', 'ipc-only'],
  homeDir: os.homedir(),
  keyDir: '/nonexistent/keys',
  cpus: 2,
};

describe('doctor', () => {
  it('grades the default policy on a fully restricted host B (only the OS network layer missing)', () => {
    const findings = diagnose(PolicySchema.parse({}), restricted);
    expect(findings.map((f) => f.id)).toEqual(['host-network']);
    expect(gradeOf(findings)).toBe('B');
  });

  it('is A with the default policy once an OS network layer is in force (Node 25 no-net, or a network namespace)', () => {
    expect(gradeOf(diagnose(PolicySchema.parse({}), { ...restricted, nodeVersion: 'v25.1.0', restrictions: [...restricted.restrictions, 'no-net'] }))).toBe('A');
    expect(gradeOf(diagnose(PolicySchema.parse({}), { ...restricted, restrictions: [...restricted.restrictions, 'no-network-interfaces'] }))).toBe('A');
  });

  it('names why no OS network layer is in force', () => {
    const findings = diagnose(PolicySchema.parse({}), { ...restricted, nodeVersion: 'v25.1.0', osLayerNotes: ['no network namespace: switched off by SANDBOX_NETNS=off'] });
    expect(findings).toEqual([expect.objectContaining({ id: 'host-network', severity: 'low', message: expect.stringContaining('SANDBOX_NETNS=off') })]);
  });

  it('flags a deliberately bad policy F with each finding named', () => {
    const bad = PolicySchema.parse({
      limits: { memMb: 4096, timeoutMs: 600000 },
      network: { enabled: true, allowedDomains: ['*.com'], allowPrivateRanges: ['10.0.0.0/8'] },
      filesystem: { allowBroadMounts: true, mounts: [{ host: os.homedir(), guest: '/home', mode: 'rw' }] },
      env: { AWS_SECRET_ACCESS_KEY: 'x' },
    });
    const findings = diagnose(bad, restricted);
    const ids = findings.map((f) => f.id);
    expect(ids).toEqual(expect.arrayContaining(['network-wildcard', 'network-private-range', 'fs-broad-mounts', 'fs-mount-rw', 'env-exposed', 'limit-memory', 'limit-timeout']));
    expect(gradeOf(findings)).toBe('F');
    // Env values are never printed, only names.
    expect(JSON.stringify(findings)).not.toContain('"x"');
  });

  it('an unrestricted or missing sandbox host is critical', () => {
    expect(gradeOf(diagnose(PolicySchema.parse({}), { ...restricted, restrictions: ['permission-model'] }))).toBe('F');
    expect(gradeOf(diagnose(PolicySchema.parse({}), { ...restricted, restrictions: [], hostStartError: 'boom' }))).toBe('F');
  });

  it('flags an outdated Node patch release', () => {
    expect(diagnose(PolicySchema.parse({}), { ...restricted, nodeVersion: 'v20.10.0' }).map((f) => f.id)).toContain('node-outdated');
  });

  it('meets() orders grades A best to F worst', () => {
    expect(meets('A', 'B')).toBe(true);
    expect(meets('B', 'B')).toBe(true);
    expect(meets('C', 'B')).toBe(false);
  });
});
