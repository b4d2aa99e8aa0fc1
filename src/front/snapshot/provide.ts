/**
 * Where a server's Python snapshot comes from: the signed cache when it verifies, else a new one
 * from the snapshot maker (then cached for the next start). Undefined when neither works: the
 * sandbox host then takes its own at the first Python run, which is only slower.
 */
import type { Logger } from 'pino';
import type { PublicKeyEntry } from '../../protocol/capsule.js';
import type { SnapshotFileRef } from '../../protocol/messages.js';
import type { SnapshotCache } from './cache.js';
import { makePythonSnapshot } from './maker.js';

/**
 * A snapshot for the sandbox host: the verified cache file, which the host reads itself, or the
 * bytes themselves when a new snapshot could not be cached (then the front sends them).
 */
export type PythonSnapshot = { file: SnapshotFileRef } | { data: Uint8Array };

export interface ProvideOptions {
  cache: SnapshotCache;
  publicKeys: readonly PublicKeyEntry[];
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Wait for this before making a new snapshot (it costs seconds of CPU; let the host start first). */
  makeAfter?: Promise<unknown>;
  /** Stops a snapshot being made (server shutdown): no maker process outlives the server. */
  signal?: AbortSignal;
  make?: (signal?: AbortSignal) => Promise<Uint8Array>;
}

export async function providePythonSnapshot(o: ProvideOptions): Promise<PythonSnapshot | undefined> {
  const loaded = await o.cache.load(o.publicKeys);
  if (loaded.ok) {
    o.logger.info({ file: o.cache.dataFile }, 'python snapshot loaded from the cache (signature and digest verified)');
    return { file: loaded.file };
  }
  o.logger.info({ reason: loaded.reason }, 'no usable python snapshot in the cache: making one (once per build, a few seconds of CPU)');
  await o.makeAfter?.catch(() => undefined);
  if (o.signal?.aborted) return undefined;
  let data: Uint8Array;
  try {
    data = await (o.make ?? ((signal) => makePythonSnapshot({ signal })))(o.signal);
  } catch (e) {
    o.logger.warn({ err: (e as Error).message }, 'python snapshot not made; the first python run will boot python from scratch');
    return undefined;
  }
  try {
    const file = await o.cache.save(data);
    o.logger.info({ file: o.cache.dataFile }, 'python snapshot made and cached');
    return { file };
  } catch (e) {
    o.logger.warn({ err: (e as Error).message }, 'python snapshot made but not cached');
    return { data };
  }
}
