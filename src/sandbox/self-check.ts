/**
 * The sandbox host refuses to run unless the restrictions it was promised are really in force.
 * A front that forgot a flag, or a Node build without the permission model, must not silently
 * yield an unrestricted host. It also reports the OS network layers it finds itself under (see
 * front/os-layers.ts): `no-net` (Node ≥ 25's network permission) and `no-network-interfaces`.
 */
import os from 'node:os';
import { isSandboxHostEnv } from '../protocol/host-env.js';
import { globalGcReachable } from './garbage.js';
export interface SelfCheckResult {
  ok: boolean;
  restrictions: string[];
  failures: string[];
}

interface PermissionApi {
  has(scope: string, reference?: string): boolean;
}

function onlyLoopback(): boolean {
  try {
    return Object.values(os.networkInterfaces()).every((list) => (list ?? []).every((i) => i.internal));
  } catch {
    return false;
  }
}

export function selfCheck(): SelfCheckResult {
  const restrictions: string[] = [];
  const failures: string[] = [];
  const check = (name: string, ok: boolean) => (ok ? restrictions : failures).push(name);

  const permission = (process as unknown as { permission?: PermissionApi }).permission;
  check('permission-model', permission !== undefined);
  if (permission) {
    check('no-fs-write', !permission.has('fs.write'));
    check('no-child-process', !permission.has('child'));
    check('no-fs-read-outside-runtimes', !permission.has('fs.read', '/') && !permission.has('fs.read', '/etc/passwd'));
    // Node 25 brought the network permission; older lines answer has('net') with false without
    // enforcing anything, so only from 25 on is it a promise to check.
    if (Number(process.versions.node.split('.')[0]) >= 25) check('no-net', !permission.has('net'));
  }
  // In its own network namespace the host sees no interface but loopback (a cheap syscall).
  if (onlyLoopback()) restrictions.push('no-network-interfaces');
  // Nothing of the user's environment; only the front's fixed allocator settings (host-env.ts).
  check('no-inherited-env', isSandboxHostEnv(process.env));
  let codegenBlocked = false;
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    new Function('return 1');
  } catch {
    codegenBlocked = true;
  }
  check('no-code-generation-from-strings', codegenBlocked);
  // The host runs with --expose-gc; sandbox/garbage.ts must have taken the global `gc` away.
  check('no-global-gc', !globalGcReachable());
  check('ipc-only', typeof process.send === 'function' && !process.stdin.isTTY);
  return { ok: failures.length === 0, restrictions, failures };
}
