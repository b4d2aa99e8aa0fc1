/**
 * The `filesystem` section of a policy file, and the host-side check of its mounts.
 *
 * Guest paths in the policy go through `canonicalGuestPath`, the function every runtime path goes
 * through, so a policy prefix and a runtime path compare as plain strings. The canonicalisation is
 * an `overwrite` step (not a `transform`), which keeps the schema exportable as JSON Schema.
 */

import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { ErrorCode, SandboxError } from '../../protocol/errors.js';
import { canonicalGuestPath } from '../vfs/paths.js';

const MiB = 1024 * 1024;

/** An absolute guest path, canonicalised. */
const GuestPathSchema = z
  .string()
  .superRefine((p, ctx) => {
    if (!p.startsWith('/')) {
      ctx.addIssue({ code: 'custom', message: `guest path "${p}" must be absolute (start with "/")` });
      return;
    }
    try {
      canonicalGuestPath(p);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message : String(e) });
    }
  })
  .overwrite((p) => {
    // Runs only to canonicalise; a malformed path was already reported above.
    try {
      return canonicalGuestPath(p);
    } catch {
      return p;
    }
  })
  .describe('An absolute path inside the sandbox, such as "/data". Compared on "/" boundaries, case-sensitively.');

/** An absolute host path in a policy; `what` names it in the messages (e.g. "host path"). */
export function hostPathSchema(what: string) {
  return z
    .string()
    .min(1)
    .refine((h) => !h.includes('\u0000'), { message: `${what} contains a NUL character` })
    .refine((h) => path.isAbsolute(h), { message: `${what} must be absolute` });
}

const MountSchema = z
  .strictObject({
    host: hostPathSchema('host path').describe('Absolute path of an existing directory on the host.'),
    guest: GuestPathSchema.refine((g) => g !== '/', {
      message: 'a mount cannot be placed at the guest root "/"',
    }).describe('Absolute guest path where the host directory appears, such as "/data".'),
    mode: z.enum(['ro', 'rw']).default('ro').describe('"ro" (default): read-only; "rw": the guest may write.'),
  })
  .describe('A host directory made visible inside the sandbox.');

export const FilesystemPolicySchema = z
  .strictObject({
    readonly: z
      .array(GuestPathSchema)
      .default([])
      .describe('Guest path prefixes the guest may read but not write.'),
    writable: z
      .array(GuestPathSchema)
      .default(['/tmp', '/output'])
      .describe('Guest path prefixes the guest (and the `files` input) may write. Files under /output are returned by the run.'),
    mounts: z
      .array(MountSchema)
      .default([])
      .describe('Host directories mapped into the guest filesystem. Default: none.'),
    allowBroadMounts: z
      .boolean()
      .default(false)
      .describe('Allow mounting "/", the home directory, a directory that contains either, or the key directory. Default false.'),
    quotaBytes: z
      .number()
      .int()
      .min(0)
      .max(2048 * MiB)
      .default(64 * MiB)
      .describe('Total bytes of all files in one session. Default 64 MiB.'),
    maxFiles: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .default(1000)
      .describe('Maximum number of files in one session. Default 1000.'),
    maxFileBytes: z
      .number()
      .int()
      .min(0)
      .max(1024 * MiB)
      .default(16 * MiB)
      .describe('Maximum size of one file. Default 16 MiB.'),
  })
  .superRefine((fs, ctx) => {
    const seen = new Set<string>();
    fs.mounts.forEach((m, i) => {
      if (seen.has(m.guest)) {
        ctx.addIssue({
          code: 'custom',
          path: ['mounts', i, 'guest'],
          message: `two mounts share the guest path "${m.guest}"`,
        });
      }
      seen.add(m.guest);
    });
  })
  .describe('What the guest sees of a filesystem: an in-memory one per session, plus optional host mounts.');

export type FilesystemPolicy = z.infer<typeof FilesystemPolicySchema>;
export type FilesystemMount = FilesystemPolicy['mounts'][number];

/** The defaults: /tmp and /output writable, nothing from the host. */
export function defaultFilesystemPolicy(): FilesystemPolicy {
  return FilesystemPolicySchema.parse({});
}

/** A mount after `validateMounts`: `host` is the resolved real path to use from now on. */
export interface ResolvedMount {
  host: string;
  guest: string;
  mode: 'ro' | 'rw';
}

/** `b` is `a` or lies inside `a` (host paths, already resolved). */
function containsOrEquals(a: string, b: string): boolean {
  const rel = path.relative(a, b);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** The resolved path and, where it exists, its real path. */
function forms(p: string): string[] {
  const resolved = path.resolve(p);
  try {
    const real = realpathSync(resolved);
    return real === resolved ? [resolved] : [resolved, real];
  } catch {
    return [resolved];
  }
}

/**
 * Checks every mount's host side and returns the mounts with real host paths.
 *
 * Refused (SandboxError `E_POLICY_DENIED`, the message names the mount):
 * - a host directory that does not exist or is not a directory;
 * - unless `allowBroadMounts`: a filesystem root, the home directory, the key/config directory,
 *   and any directory that contains one of them (e.g. `/home`);
 * - always (even with `allowBroadMounts`): a directory inside the key/config directory — that is
 *   not a broad mount, it is the server's secrets.
 * Both the `path.resolve`d form and the real path (symlinks followed) of each side are compared.
 */
export function validateMounts(
  fsPolicy: Pick<FilesystemPolicy, 'mounts' | 'allowBroadMounts'>,
  dirs: { homeDir: string; keyDir: string },
): ResolvedMount[] {
  return fsPolicy.mounts.map((mount, i) => {
    const name = `filesystem.mounts[${i}] (host "${mount.host}" → guest "${mount.guest}")`;
    const real = checkHostDirectory(mount.host, { ...dirs, allowBroad: fsPolicy.allowBroadMounts }, (why, broad) =>
      new SandboxError(ErrorCode.POLICY_DENIED, `mount ${name} refused: ${why}${broad ? '; set filesystem.allowBroadMounts to allow it' : ''}`),
    );
    return { host: real, guest: mount.guest, mode: mount.mode };
  });
}

/**
 * The real path of a host directory the policy hands to the sandbox (a mount, the Python packages
 * directory), or `deny(why)` thrown. Refused: a path that does not exist or is not a directory;
 * unless `allowBroad`: a filesystem root, the home directory, the key/config directory, and any
 * directory that contains one of them (`deny` is told these are `broad`); always: a directory inside
 * the key/config directory.
 * Both the `path.resolve`d form and the real path (symlinks followed) of each side are compared.
 */
export function checkHostDirectory(
  host: string,
  options: { homeDir: string; keyDir: string; allowBroad: boolean },
  deny: (why: string, broad: boolean) => Error,
): string {
  const homeForms = options.homeDir === '' ? [] : forms(options.homeDir);
  const keyForms = options.keyDir === '' ? [] : forms(options.keyDir);
  const resolved = path.resolve(host);
  let real: string;
  try {
    real = realpathSync(resolved);
  } catch {
    throw deny('the host directory does not exist', false);
  }
  let isDir = false;
  try {
    isDir = statSync(real).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw deny('the host path is not a directory', false);

  const hostForms = real === resolved ? [resolved] : [resolved, real];
  const any = (targets: string[], test: (m: string, t: string) => boolean): boolean =>
    hostForms.some((m) => targets.some((t) => test(m, t)));

  if (any(keyForms, (m, t) => containsOrEquals(t, m) && m !== t)) throw deny('it lies inside the server key/config directory', false);
  if (options.allowBroad) return real;
  if (hostForms.some((m) => path.parse(m).root === m)) throw deny('it is a filesystem root', true);
  if (any(homeForms, (m, t) => containsOrEquals(m, t))) throw deny('it is or contains the home directory', true);
  if (any(keyForms, (m, t) => containsOrEquals(m, t))) throw deny('it is or contains the server key/config directory', true);
  return real;
}
