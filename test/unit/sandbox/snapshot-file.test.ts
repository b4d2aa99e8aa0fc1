/**
 * The sandbox host's own check of the snapshot file the front named (src/sandbox/snapshot-file.ts):
 * the file may have changed after the front verified it, so the host uses its bytes only when they
 * still match the size and digest the front sent.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readSnapshotFile } from '../../../src/sandbox/snapshot-file.js';
import { isSandboxError } from '../../../src/protocol/errors.js';

const data = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7 + 3) & 0xff);
const digest = createHash('sha256').update(data).digest('hex');
let dir: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-snapfile-'));
  file = path.join(dir, 'python.snapshot');
  fs.writeFileSync(file, data);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isSandboxError(e), 'expected a SandboxError').toBe(true);
  return (e as Error).message;
}

describe('readSnapshotFile', () => {
  it('gives the bytes in shared memory when size and digest match', async () => {
    const got = await readSnapshotFile({ path: file, sha256: digest, size: data.byteLength });
    expect(got.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Buffer.compare(Buffer.from(got), Buffer.from(data))).toBe(0);
  });

  it('refuses bytes changed after the front verified them (same size)', async () => {
    const changed = Uint8Array.from(data);
    changed[123_456] = changed[123_456]! ^ 1;
    fs.writeFileSync(file, changed);
    expect(await refusal(readSnapshotFile({ path: file, sha256: digest, size: data.byteLength }))).toMatch(/does not match the digest/);
  });

  it('refuses a file whose size changed', async () => {
    fs.appendFileSync(file, 'x');
    expect(await refusal(readSnapshotFile({ path: file, sha256: digest, size: data.byteLength }))).toMatch(/changed size/);
  });

  it('refuses a file that is gone, naming why', async () => {
    fs.rmSync(file);
    expect(await refusal(readSnapshotFile({ path: file, sha256: digest, size: data.byteLength }))).toMatch(/unreadable \(ENOENT\)/);
  });
});
