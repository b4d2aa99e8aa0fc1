/**
 * `wasm-sandbox-mcp doctor`: grade the effective policy and the host A–F and list findings.
 * The grading is a pure function of its inputs; the command gathers the facts (Node version,
 * the restrictions the sandbox host reported) and prints.
 */
import type { Policy } from './policy/schema.js';
import { validateMounts } from './policy/filesystem-schema.js';

export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';
export interface Finding {
  severity: Severity;
  id: string;
  message: string;
}
export type Grade = 'A' | 'B' | 'C' | 'D' | 'F';
export const GRADES: readonly Grade[] = ['A', 'B', 'C', 'D', 'F'];

export interface HostFacts {
  nodeVersion: string;
  /** Restrictions the sandbox host verified at start-up (empty if it could not start). */
  restrictions: string[];
  hostStartError?: string | undefined;
  /** Why an OS network layer is missing (from describeOsLayers), for the finding's text. */
  osLayerNotes?: string[] | undefined;
  homeDir: string;
  keyDir: string;
  cpus: number;
}

/**
 * Oldest patch of each Node line we know to carry the latest security fixes at release time.
 * Older patches get a finding; this table is refreshed with each release of this package.
 */
export const MIN_SECURE_NODE: Record<number, string> = { 20: '20.19.0', 22: '22.14.0', 24: '24.0.0' };

function cmpVersion(a: string, b: string): number {
  const pa = a.replace(/^v/, '').split('.').map(Number);
  const pb = b.replace(/^v/, '').split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

const REQUIRED_RESTRICTIONS = ['permission-model', 'no-fs-write', 'no-child-process', 'no-fs-read-outside-runtimes', 'no-inherited-env', 'no-code-generation-from-strings'];

export function diagnose(policy: Policy, host: HostFacts): Finding[] {
  const f: Finding[] = [];
  const add = (severity: Severity, id: string, message: string) => f.push({ severity, id, message });

  // Network
  const net = policy.network;
  if (net.enabled) {
    if (net.allowedDomains.length === 0) add('info', 'network-enabled-empty', 'network.enabled is true but allowedDomains is empty: nothing is reachable');
    for (const d of net.allowedDomains) {
      const labels = d.replace(/^\*\./, '').split('.');
      if (d.startsWith('*.') && labels.length < 2) add('high', 'network-wildcard', `allowedDomains "${d}" matches every host under a top-level domain`);
      else if (d.startsWith('*.')) add('low', 'network-wildcard', `allowedDomains "${d}" allows every subdomain`);
    }
    for (const cidr of net.allowPrivateRanges) add('high', 'network-private-range', `allowPrivateRanges "${cidr}" lets guest code reach non-public addresses`);
    add('low', 'network-enabled', `network is enabled for ${net.allowedDomains.length} domain pattern(s)`);
  }

  // Filesystem
  const fsPolicy = policy.filesystem;
  if (fsPolicy.allowBroadMounts) add('critical', 'fs-broad-mounts', 'filesystem.allowBroadMounts is true: mounts of /, the home directory or the key directory are allowed');
  try {
    validateMounts({ ...fsPolicy, allowBroadMounts: false }, { homeDir: host.homeDir, keyDir: host.keyDir });
  } catch (e) {
    add(fsPolicy.allowBroadMounts ? 'critical' : 'high', 'fs-mount-refused', (e as Error).message);
  }
  for (const m of fsPolicy.mounts) if (m.mode === 'rw') add('medium', 'fs-mount-rw', `mount ${m.host} → ${m.guest} is writable by guest code`);

  // Environment
  const envNames = Object.keys(policy.env);
  if (envNames.length) add('medium', 'env-exposed', `guest code sees ${envNames.length} environment variable(s): ${envNames.join(', ')}`);

  // Limits
  const l = policy.limits;
  if (l.timeoutMs > 120_000) add('low', 'limit-timeout', `limits.timeoutMs is ${l.timeoutMs} (> 120000)`);
  if (l.memMb > 1024) add('medium', 'limit-memory', `limits.memMb is ${l.memMb} (> 1024)`);
  if (l.stdoutBytes > 16 * 1024 * 1024 || l.stderrBytes > 16 * 1024 * 1024) add('low', 'limit-output', 'an output cap is above 16 MiB');
  if (policy.sessions.maxSessions * l.memMb > 8192) add('medium', 'limit-sessions-memory', `maxSessions × memMb = ${policy.sessions.maxSessions * l.memMb} MiB of guest memory at most`);
  if (policy.rate.maxConcurrentRuns > host.cpus * 4) add('low', 'limit-concurrency', `rate.maxConcurrentRuns ${policy.rate.maxConcurrentRuns} is more than 4× the ${host.cpus} CPUs`);

  // Host
  if (host.hostStartError) add('critical', 'host-start', `the sandbox host did not start: ${host.hostStartError}`);
  else for (const r of REQUIRED_RESTRICTIONS) if (!host.restrictions.includes(r)) add('critical', 'host-restriction', `sandbox host restriction not in force: ${r}`);
  const major = Number(host.nodeVersion.replace(/^v/, '').split('.')[0]);
  // OS network layers (front/os-layers.ts), as the host verified them itself.
  if (!host.hostStartError && !host.restrictions.includes('no-net') && !host.restrictions.includes('no-network-interfaces')) {
    const why = host.osLayerNotes?.length ? ` (${host.osLayerNotes.join('; ')})` : '';
    add('low', 'host-network', `no OS layer cuts the sandbox host's network${why}; guest network access relies on the runtimes exposing no socket API`);
  }
  const min = MIN_SECURE_NODE[major];
  if (min === undefined && major < 20) add('high', 'node-unsupported', `Node ${host.nodeVersion} is not supported`);
  else if (min !== undefined && cmpVersion(host.nodeVersion, min) < 0) add('medium', 'node-outdated', `Node ${host.nodeVersion} is older than ${min}, the oldest with this line's known security fixes`);
  return f;
}

export function gradeOf(findings: Finding[]): Grade {
  if (findings.some((x) => x.severity === 'critical')) return 'F';
  if (findings.some((x) => x.severity === 'high')) return 'D';
  if (findings.some((x) => x.severity === 'medium')) return 'C';
  if (findings.some((x) => x.severity === 'low')) return 'B';
  return 'A';
}

/** True when `grade` is at least as good as `min`. */
export function meets(grade: Grade, min: Grade): boolean {
  return GRADES.indexOf(grade) <= GRADES.indexOf(min);
}
