/**
 * Guest paths, the front's view: the access rule (`accessFor`) on top of the one canonical form.
 *
 * The canonicalisation itself (`canonicalGuestPath` and friends, with every rule documented) lives
 * in `src/protocol/guest-paths.ts`, so the sandbox host's runtimes canonicalise with exactly the
 * same code; it is re-exported here for the front's callers.
 */

import type { FilesystemPolicy } from '../policy/filesystem-schema.js';
import { isUnder } from '../../protocol/guest-paths.js';

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

export type Access = 'write' | 'read' | 'none';

/** The parts of the filesystem policy that decide access. */
export type AccessPolicy = Pick<FilesystemPolicy, 'readonly' | 'writable' | 'mounts'>;

/**
 * What the guest (and the client's `files` input) may do at canonical `path`:
 * under a `writable` prefix → 'write'; else under a `readonly` prefix → 'read'; else under a
 * mount's guest path → that mount's mode ('rw' → 'write', 'ro' → 'read'; where mounts nest, the
 * deepest one decides); else 'none'.
 */
export function accessFor(path: string, fsPolicy: AccessPolicy): Access {
  if (fsPolicy.writable.some((prefix) => isUnder(path, prefix))) return 'write';
  if (fsPolicy.readonly.some((prefix) => isUnder(path, prefix))) return 'read';
  let best: { guest: string; mode: 'ro' | 'rw' } | undefined;
  for (const mount of fsPolicy.mounts) {
    if (isUnder(path, mount.guest) && (best === undefined || mount.guest.length > best.guest.length)) {
      best = mount;
    }
  }
  if (best !== undefined) return best.mode === 'rw' ? 'write' : 'read';
  return 'none';
}
