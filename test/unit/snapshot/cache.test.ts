import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CapsuleSigner } from '../../../src/front/capsule/signer.js';
import { SnapshotCache, pythonSnapshotBuildId } from '../../../src/front/snapshot/cache.js';
import { providePythonSnapshot } from '../../../src/front/snapshot/provide.js';

const BUILD = 'a'.repeat(64);
const OTHER_BUILD = 'b'.repeat(64);
const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let dir: string;
const signer = CapsuleSigner.generate();
const keys = signer.publicKeys();

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-snapcache-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('SnapshotCache', () => {
  it('gives back the file it saved, with its digest and size, in private files', async () => {
    const cache = new SnapshotCache(path.join(dir, 'c'), signer, BUILD);
    // Larger than the read chunk: the digest is streamed over several.
    const data = bytes(700_000);
    const saved = await cache.save(data);
    const loaded = await cache.load(keys);
    expect(loaded).toEqual({ ok: true, file: { path: cache.dataFile, sha256: sha256(data), size: data.byteLength } });
    expect(saved).toEqual(loaded.ok && loaded.file);
    expect(Buffer.compare(fs.readFileSync(cache.dataFile), Buffer.from(data))).toBe(0);
    expect(fs.statSync(path.join(dir, 'c')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(cache.dataFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(cache.recordFile).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.join(dir, 'c')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('removes the snapshots of other builds when it saves one', async () => {
    await new SnapshotCache(dir, signer, OTHER_BUILD).save(bytes(100));
    const cache = new SnapshotCache(dir, signer, BUILD);
    await cache.save(bytes(100));
    expect(fs.readdirSync(dir).sort()).toEqual([path.basename(cache.recordFile), path.basename(cache.dataFile)].sort());
  });

  it('adopts a snapshot written into the file it reserved, and removes temporary files left by a dead server', async () => {
    const cache = new SnapshotCache(dir, signer, BUILD);
    const abandoned = path.join(dir, `${path.basename(cache.dataFile)}.999.abc.0011aabb.tmp`);
    const recent = path.join(dir, `${path.basename(cache.dataFile)}.998.abd.0011aabc.tmp`);
    fs.writeFileSync(abandoned, 'half a snapshot');
    fs.writeFileSync(recent, 'another server is making one');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    fs.utimesSync(abandoned, twoHoursAgo, twoHoursAgo);
    const reserved = await cache.reserveDataFile();
    expect(path.dirname(reserved)).toBe(dir);
    expect(fs.statSync(reserved).size).toBe(0);
    expect(fs.statSync(reserved).mode & 0o777).toBe(0o600);
    // Another writer (the snapshot maker) fills it.
    const data = bytes(200_000, 3);
    fs.writeFileSync(reserved, data);
    expect(await cache.adopt(reserved)).toEqual({ path: cache.dataFile, sha256: sha256(data), size: data.byteLength });
    expect((await cache.load(keys)).ok).toBe(true);
    expect(fs.existsSync(reserved)).toBe(false);
    expect(fs.existsSync(abandoned)).toBe(false);
    expect(fs.existsSync(recent)).toBe(true);
  });

  it('refuses to adopt an empty file, and removes it', async () => {
    const cache = new SnapshotCache(dir, signer, BUILD);
    const reserved = await cache.reserveDataFile();
    await expect(cache.adopt(reserved)).rejects.toThrow(/0 bytes is out of range/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('misses when nothing is cached', async () => {
    expect(await new SnapshotCache(dir, signer, BUILD).load(keys)).toEqual({ ok: false, reason: 'none cached yet' });
  });

  it('refuses a snapshot whose bytes were changed after signing', async () => {
    const cache = new SnapshotCache(dir, signer, BUILD);
    await cache.save(bytes(4096));
    const tampered = fs.readFileSync(cache.dataFile);
    tampered[100] = tampered[100]! ^ 0x01;
    fs.writeFileSync(cache.dataFile, tampered);
    expect(await cache.load(keys)).toEqual({ ok: false, reason: 'its bytes do not match the signed digest' });
  });

  it('refuses a record whose digest was rewritten to match new bytes (the signature covers it)', async () => {
    const cache = new SnapshotCache(dir, signer, BUILD);
    await cache.save(bytes(4096));
    const evil = bytes(4096, 7);
    fs.writeFileSync(cache.dataFile, evil);
    const record = JSON.parse(fs.readFileSync(cache.recordFile, 'utf8'));
    record.sha256 = (await import('node:crypto')).createHash('sha256').update(evil).digest('hex');
    fs.writeFileSync(cache.recordFile, JSON.stringify(record));
    expect(await cache.load(keys)).toEqual({ ok: false, reason: 'its signature does not verify' });
  });

  it('refuses a snapshot signed by a key the server does not hold', async () => {
    const stranger = CapsuleSigner.generate();
    await new SnapshotCache(dir, stranger, BUILD).save(bytes(1000));
    expect(await new SnapshotCache(dir, signer, BUILD).load(keys)).toEqual({ ok: false, reason: 'it was signed by a key this server does not hold' });
    // ...but accepts one signed by an older (rotated-out) key the server still trusts.
    const rotated = CapsuleSigner.generate({ verifyOnly: stranger.publicKeys() });
    expect((await new SnapshotCache(dir, rotated, BUILD).load(rotated.publicKeys())).ok).toBe(true);
  });

  it('does not load a snapshot made for another build, even when it is signed', async () => {
    const cache = new SnapshotCache(dir, signer, BUILD);
    await cache.save(bytes(1000));
    const record = JSON.parse(fs.readFileSync(cache.recordFile, 'utf8'));
    // A record of another build copied over this build's file name.
    const other = new SnapshotCache(dir, signer, OTHER_BUILD);
    await other.save(bytes(1000));
    fs.copyFileSync(other.recordFile, cache.recordFile);
    expect(await cache.load(keys)).toEqual({ ok: false, reason: 'it was made for another build' });
    expect(record.buildId).toBe(BUILD);
  });

  it('treats a malformed record as a miss, never as an error', async () => {
    const cache = new SnapshotCache(dir, signer, BUILD);
    await cache.save(bytes(100));
    for (const text of ['{', '[]', JSON.stringify({ v: 2 }), '']) {
      fs.writeFileSync(cache.recordFile, text);
      expect((await cache.load(keys)).ok).toBe(false);
    }
  });

  it('derives the build id from the Pyodide version and the snapshot-shaping modules', () => {
    expect(pythonSnapshotBuildId()).toMatch(/^[0-9a-f]{64}$/);
    expect(pythonSnapshotBuildId()).toBe(pythonSnapshotBuildId());
  });
});

describe('providePythonSnapshot', () => {
  const quiet = { info: () => undefined, warn: () => undefined };
  /** A maker that writes `data` where it is told to, as the real one does, and counts its calls. */
  const fakeMaker = (data: Uint8Array) => {
    const calls = { toFile: 0, bytes: 0 };
    return {
      calls,
      toFile: async (file: string) => {
        calls.toFile++;
        expect(fs.existsSync(file)).toBe(true);
        fs.writeFileSync(file, data);
      },
      bytes: async () => {
        calls.bytes++;
        return data;
      },
    };
  };

  it('makes a snapshot into the cache on a miss, then serves the cache without making another', async () => {
    const cache = new SnapshotCache(dir, signer, BUILD);
    const maker = fakeMaker(bytes(5000));
    const first = await providePythonSnapshot({ cache, publicKeys: keys, logger: quiet, maker });
    const second = await providePythonSnapshot({ cache, publicKeys: keys, logger: quiet, maker });
    // Made once, and into the file: the bytes never pass through the front.
    expect(maker.calls).toEqual({ toFile: 1, bytes: 0 });
    // Both times a reference to the cache file (the host reads it), never the bytes themselves.
    const file = { path: cache.dataFile, sha256: sha256(bytes(5000)), size: 5000 };
    expect(first).toEqual({ file });
    expect(second).toEqual({ file });
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('hands over the bytes themselves when the cache directory cannot be written', async () => {
    const blocked = path.join(dir, 'not-a-dir');
    fs.writeFileSync(blocked, '');
    const cache = new SnapshotCache(blocked, signer, BUILD);
    const maker = fakeMaker(bytes(300));
    const warnings: string[] = [];
    const logger = { info: () => undefined, warn: (_o: object, m: string) => void warnings.push(m) };
    expect(await providePythonSnapshot({ cache, publicKeys: keys, logger: logger as never, maker })).toEqual({ data: bytes(300) });
    expect(maker.calls).toEqual({ toFile: 0, bytes: 1 });
    expect(warnings).toContain('python snapshot cannot be cached; making one for this server only');
  });

  it('replaces a tampered snapshot with a new one', async () => {
    const cache = new SnapshotCache(dir, signer, BUILD);
    await cache.save(bytes(5000));
    fs.appendFileSync(cache.dataFile, 'x');
    const fresh = bytes(5000, 9);
    const got = await providePythonSnapshot({ cache, publicKeys: keys, logger: quiet, maker: fakeMaker(fresh) });
    expect(got).toEqual({ file: { path: cache.dataFile, sha256: sha256(fresh), size: fresh.byteLength } });
    expect((await cache.load(keys)).ok).toBe(true);
  });

  it('answers undefined (boot from scratch) when making fails, and leaves nothing in the cache', async () => {
    const cache = new SnapshotCache(dir, signer, BUILD);
    const warnings: string[] = [];
    const got = await providePythonSnapshot({
      cache,
      publicKeys: keys,
      logger: { info: () => undefined, warn: (_o: object, m: string) => void warnings.push(m) } as never,
      maker: {
        toFile: async (file) => {
          fs.writeFileSync(file, 'half a snapshot');
          throw new Error('boom');
        },
        bytes: async () => bytes(1),
      },
    });
    expect(got).toBeUndefined();
    expect(warnings.join()).toMatch(/not made/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('does not start making once the server is shutting down', async () => {
    const stop = new AbortController();
    stop.abort();
    const maker = fakeMaker(bytes(10));
    const got = await providePythonSnapshot({ cache: new SnapshotCache(dir, signer, BUILD), publicKeys: keys, logger: quiet, signal: stop.signal, maker });
    expect(got).toBeUndefined();
    expect(maker.calls).toEqual({ toFile: 0, bytes: 0 });
  });
});
