/**
 * Guest paths, the front's view: the access rule (`accessFor`) on top of the one canonical form.
 *
 * The canonicalisation itself (`canonicalGuestPath` and friends, with every rule documented) lives
 * in `src/protocol/guest-paths.ts`, so the sandbox host's runtimes canonicalise with exactly the
 * same code; it is re-exported here for the front's callers.
 */

import type { FilesystemPolicy } from '../policy/filesystem-schema.js';
import { guestPrefixes } from '../../protocol/guest-filesystem.js';
import { accessAt, type Access } from '../../protocol/guest-paths.js';

export {
  MAX_PATH_BYTES,
  MAX_SEGMENT_BYTES,
  MAX_PATH_DEPTH,
  MAX_RAW_PATH_LENGTH,
  canonicalGuestPath,
  describePath,
  isUnder,
  tryCanonicalGuestPath,
} from '../../protocol/guest-paths.js';

export type { Access } from '../../protocol/guest-paths.js';

/** The parts of the filesystem policy that decide access. */
export type AccessPolicy = Pick<FilesystemPolicy, 'readonly' | 'writable' | 'mounts'>;

/**
 * What the guest (and the client's `files` input) may do at canonical `path`. Mounts count as
 * prefixes of their mode ('rw' writable, 'ro' read-only); the deepest prefix decides (`accessAt`).
 */
export function accessFor(path: string, fsPolicy: AccessPolicy): Access {
  let prefixes = prefixesByPolicy.get(fsPolicy);
  if (prefixes === undefined) prefixesByPolicy.set(fsPolicy, (prefixes = guestPrefixes(fsPolicy)));
  return accessAt(path, prefixes);
}

/** The policy is fixed for the server's life: its prefixes are worked out once, not per file checked. */
const prefixesByPolicy = new WeakMap<AccessPolicy, { writable: string[]; readonly: string[] }>();
