/**
 * Reads the Python snapshot from the front's cache file, in the sandbox host. The front checked the
 * file against its signed record, but the file may have changed since: the host reads it once,
 * straight into shared memory (one copy for every worker, and no 30 MB buffer freed afterwards),
 * and uses those bytes only if their size and SHA-256 are the ones the front named.
 */
import fs from 'node:fs';
import { sha256Hex } from '../protocol/capsule.js';
import { ErrorCode, SandboxError } from '../protocol/errors.js';
import type { SnapshotFileRef } from '../protocol/messages.js';

export async function readSnapshotFile(ref: SnapshotFileRef): Promise<Uint8Array> {
  let file: fs.promises.FileHandle;
  try {
    file = await fs.promises.open(ref.path, 'r');
  } catch (e) {
    throw new SandboxError(ErrorCode.INTERNAL, `the python snapshot file is unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    if ((await file.stat()).size !== ref.size) throw new SandboxError(ErrorCode.INTERNAL, 'the python snapshot file changed size since the front verified it');
    const bytes = new Uint8Array(new SharedArrayBuffer(ref.size));
    for (let read = 0; read < ref.size; ) {
      const { bytesRead } = await file.read(bytes, read, ref.size - read, read);
      if (bytesRead === 0) throw new SandboxError(ErrorCode.INTERNAL, 'the python snapshot file was cut short while being read');
      read += bytesRead;
    }
    if (sha256Hex(bytes) !== ref.sha256) {
      throw new SandboxError(ErrorCode.INTERNAL, 'the python snapshot file does not match the digest the front verified');
    }
    return bytes;
  } finally {
    await file.close();
  }
}
