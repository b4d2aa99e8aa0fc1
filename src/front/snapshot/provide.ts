/**
 * Where a server's Python snapshot comes from: the signed cache when it verifies, else a new one
 * from the snapshot maker (then cached for the next start). Undefined when neither works: the
 * sandbox host then takes its own at the first Python run, which is only slower.
 */
import fs from 'node:fs';
import type { Logger } from 'pino';
import type { PublicKeyEntry } from '../../protocol/capsule.js';
import type { SnapshotFileRef } from '../../protocol/messages.js';
import type { SnapshotCache } from './cache.js';
import { makePythonSnapshot, makePythonSnapshotFile } from './maker.js';

/**
 * A snapshot for the sandbox host: the verified cache file, which the host reads itself, or the
 * bytes themselves when no cache file could be written (then the front sends them).
 */
export type PythonSnapshot = { file: SnapshotFileRef } | { data: Uint8Array };

/** The snapshot maker, both ways (front/snapshot/maker.ts); tests put a fake in its place. */
export interface SnapshotMaker {
  /** Writes a snapshot into `file`, which exists; resolves once nothing writes it any more. */
  toFile(file: string, signal?: AbortSignal): Promise<unknown>;
  bytes(signal?: AbortSignal): Promise<Uint8Array>;
}

const realMaker: SnapshotMaker = {
  toFile: (file, signal) => makePythonSnapshotFile(file, { signal }),
  bytes: (signal) => makePythonSnapshot({ signal }),
};

export interface ProvideOptions {
  cache: SnapshotCache;
  publicKeys: readonly PublicKeyEntry[];
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Wait for this before making a new snapshot (it costs seconds of CPU; let the host start first). */
  makeAfter?: Promise<unknown>;
  /** Stops a snapshot being made (server shutdown): no maker process outlives the server. */
  signal?: AbortSignal;
  maker?: SnapshotMaker;
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
  const maker = o.maker ?? realMaker;
  const notMade = (e: unknown) => {
    o.logger.warn({ err: (e as Error).message }, 'python snapshot not made; the first python run will boot python from scratch');
    return undefined;
  };
  let reserved: string;
  try {
    reserved = await o.cache.reserveDataFile();
  } catch (e) {
    // No cache file to write: the bytes come over IPC and go to the host the same way.
    o.logger.warn({ err: (e as Error).message }, 'python snapshot cannot be cached; making one for this server only');
    return maker.bytes(o.signal).then((data) => ({ data }), notMade);
  }
  try {
    await maker.toFile(reserved, o.signal);
  } catch (e) {
    await fs.promises.rm(reserved, { force: true });
    return notMade(e);
  }
  try {
    const file = await o.cache.adopt(reserved);
    o.logger.info({ file: o.cache.dataFile }, 'python snapshot made and cached');
    return { file };
  } catch (e) {
    o.logger.warn({ err: (e as Error).message }, 'python snapshot made but not cached; the first python run will boot python from scratch');
    return undefined;
  }
}
