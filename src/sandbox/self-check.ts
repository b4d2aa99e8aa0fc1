/**
 * The sandbox host refuses to run unless the restrictions it was promised are really in force.
 * A front that forgot a flag, or a Node build without the permission model, must not silently
 * yield an unrestricted host.
 */
export interface SelfCheckResult {
  ok: boolean;
  restrictions: string[];
  failures: string[];
}

interface PermissionApi {
  has(scope: string, reference?: string): boolean;
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
  }
  check('empty-env', Object.keys(process.env).length === 0);
  let codegenBlocked = false;
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    new Function('return 1');
  } catch {
    codegenBlocked = true;
  }
  check('no-code-generation-from-strings', codegenBlocked);
  check('ipc-only', typeof process.send === 'function' && !process.stdin.isTTY);
  return { ok: failures.length === 0, restrictions, failures };
}
