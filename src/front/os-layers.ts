/**
 * OS isolation layers under the sandbox host, beside Node's permission model:
 *
 *  - **no network permission** (Node ≥ 25): with `--permission` and no `--allow-net`, Node refuses
 *    every socket the host process itself would open. Older lines have no network permission at all.
 *  - **network namespace** (Linux): the host is started through `unshare --user --net`, in a new
 *    user namespace (so no privilege is needed) with its own network namespace, which holds only a
 *    loopback interface that is down: no route anywhere, not even to the machine's own loopback.
 *    The IPC channel to the front is an inherited socketpair, which works across namespaces.
 *
 * Which layers a host really has is what it verifies from inside at start-up (self-check.ts):
 * `no-net` and `no-network-interfaces`. This module plans the launch (a pure function), probes once
 * per process whether a namespace can be made, and describes the layers for the log and the doctor.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { HostLaunch } from './node-flags.js';

/** Fixed system locations only: an `unshare` found through PATH could be anyone's program. */
const UNSHARE_PATHS = ['/usr/bin/unshare', '/bin/unshare'];
/**
 * A new user namespace (so no privilege is needed) without any uid mapping: the host runs as the
 * overflow uid inside, and since that is not 0 its capabilities are dropped at exec. `--map-root-user`
 * would keep every capability inside the namespace, for nothing the host needs.
 */
export const UNSHARE_ARGS = ['--user', '--net'] as const;
const PROBE_TIMEOUT_MS = 2000;

export type NetnsAvailability = { available: true; unshare: string } | { available: false; reason: string };

export interface NetnsEnvironment {
  platform: NodeJS.Platform;
  /** `SANDBOX_NETNS`: `off` turns the layer off; anything else (or unset) means use it when possible. */
  setting: string | undefined;
  /** The first executable `unshare` among the fixed paths, if any. */
  unshare: string | undefined;
}

/**
 * Whether to try a namespace at all, before any probe: Linux, not switched off, `unshare` present.
 * Returns the binary to probe with, or why not.
 */
export function netnsCandidate(env: NetnsEnvironment): NetnsAvailability {
  if (env.platform !== 'linux') return { available: false, reason: `network namespaces exist only on Linux (this is ${env.platform})` };
  if (env.setting?.trim().toLowerCase() === 'off') return { available: false, reason: 'switched off by SANDBOX_NETNS=off' };
  if (!env.unshare) return { available: false, reason: `no unshare program at ${UNSHARE_PATHS.join(' or ')} (util-linux)` };
  return { available: true, unshare: env.unshare };
}

/** The sandbox host's launch: inside a new network namespace when one can be made. */
export function planHostLaunch(base: HostLaunch, netns: NetnsAvailability): HostLaunch {
  if (!netns.available) return base;
  return { execPath: netns.unshare, args: [...UNSHARE_ARGS, '--', base.execPath, ...base.args] };
}

function findUnshare(): string | undefined {
  for (const p of UNSHARE_PATHS) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Run `unshare … <unshare> --version`: does making the namespaces work here (kernel, seccomp, LSM)? */
export function probeUnshare(unshare: string): Promise<NetnsAvailability> {
  return new Promise((resolve) => {
    let stderr = '';
    const child = spawn(unshare, [...UNSHARE_ARGS, '--', unshare, '--version'], { env: {}, cwd: '/', stdio: ['ignore', 'ignore', 'pipe'] });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ available: false, reason: `unshare did not answer within ${PROBE_TIMEOUT_MS} ms` });
    }, PROBE_TIMEOUT_MS);
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ available: false, reason: `unshare could not be run: ${e.message}` });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ available: true, unshare });
      else {
        const why = stderr.trim().split('\n').pop()?.slice(0, 200) || `exit ${signal ?? code}`;
        resolve({ available: false, reason: `unprivileged namespaces are refused here (${why})` });
      }
    });
  });
}

let cached: Promise<NetnsAvailability> | undefined;

/** Probe once per process (a few milliseconds); later calls share the answer. */
export function probeNetns(env: Partial<NetnsEnvironment> = {}): Promise<NetnsAvailability> {
  cached ??= (async () => {
    const candidate = netnsCandidate({
      platform: env.platform ?? process.platform,
      setting: 'setting' in env ? env.setting : process.env.SANDBOX_NETNS,
      unshare: 'unshare' in env ? env.unshare : findUnshare(),
    });
    return candidate.available ? probeUnshare(candidate.unshare) : candidate;
  })();
  return cached;
}

export interface OsLayers {
  /** Node's permission model (always required: the host refuses to start without it). */
  permissionModel: boolean;
  /** Node ≥ 25 refuses the host's own sockets. */
  noNetPermission: boolean;
  /** The host sees no network interface but loopback (its own network namespace). */
  networkNamespace: boolean;
  /** Why a network layer is missing, for the log and the doctor. */
  notes: string[];
}

/**
 * The layers a started host has, from what it verified itself (`restrictions`), the Node line, and
 * what the front tried. A namespace the front asked for but the host does not confirm is a note.
 */
export function describeOsLayers(restrictions: readonly string[], nodeVersion: string, netns: NetnsAvailability | undefined): OsLayers {
  const major = Number(nodeVersion.replace(/^v/, '').split('.')[0]);
  const layers: OsLayers = {
    permissionModel: restrictions.includes('permission-model'),
    noNetPermission: restrictions.includes('no-net'),
    networkNamespace: restrictions.includes('no-network-interfaces'),
    notes: [],
  };
  if (!layers.noNetPermission) {
    layers.notes.push(major < 25 ? `Node ${nodeVersion} has no network permission (it arrived in Node 25)` : 'the network permission is not in force');
  }
  if (!layers.networkNamespace) {
    if (netns === undefined) layers.notes.push('no network namespace was tried');
    else if (!netns.available) layers.notes.push(`no network namespace: ${netns.reason}`);
    else layers.notes.push('a network namespace was requested but the sandbox host still sees network interfaces');
  }
  return layers;
}

/** One line for people: the active layers, then what is missing and why. */
export function osLayerSummary(layers: OsLayers): string {
  const active = [
    layers.permissionModel && 'permission model',
    layers.noNetPermission && 'no network permission',
    layers.networkNamespace && 'network namespace',
  ].filter(Boolean);
  const missing = layers.notes.length ? `; missing: ${layers.notes.join('; ')}` : '';
  return `${active.join(', ') || 'none'}${missing}`;
}
