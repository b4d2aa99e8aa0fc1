/**
 * The part of the signed capsule's `policy.filesystem` that the sandbox host needs to give the
 * guest its filesystem: the prefixes it may read and write, and the limits. The front's schema
 * (front/policy/filesystem-schema.ts) is the full one; this one only reads, and refuses anything
 * malformed, because the host must never guess at what the policy meant.
 */
import * as z from 'zod';
import { tryCanonicalGuestPath } from './guest-paths.js';

const CanonicalPath = z
  .string()
  .refine((p) => tryCanonicalGuestPath(p) === p, { message: 'a guest path in the policy must be canonical' });

const size = z.number().int().nonnegative();

export const CapsuleFilesystemSchema = z.looseObject({
  writable: z.array(CanonicalPath).max(256),
  readonly: z.array(CanonicalPath).max(256),
  mounts: z.array(z.looseObject({ guest: CanonicalPath, mode: z.enum(['ro', 'rw']) })).max(256).default([]),
  quotaBytes: size,
  maxFiles: size,
  maxFileBytes: size,
});
export type CapsuleFilesystem = z.infer<typeof CapsuleFilesystemSchema>;

/**
 * The guest's prefixes: `writable` plus read-write mounts, `readonly` plus read-only mounts.
 * Where they nest, `accessAt` (guest-paths.ts) lets the deepest decide.
 */
export function guestPrefixes(fs: Pick<CapsuleFilesystem, 'writable' | 'readonly' | 'mounts'>): { writable: string[]; readonly: string[] } {
  return {
    writable: [...fs.writable, ...fs.mounts.filter((m) => m.mode === 'rw').map((m) => m.guest)],
    readonly: [...fs.readonly, ...fs.mounts.filter((m) => m.mode === 'ro').map((m) => m.guest)],
  };
}

