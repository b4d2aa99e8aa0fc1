/**
 * Python's memory snapshot cache, end to end: a server boots Python from the signed cache, refuses
 * a tampered one (and replaces it with a fresh snapshot from the maker), and never leaves a
 * snapshot maker behind when it shuts down mid-making.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, inject } from 'vitest';
import { isAlive, startServer, type TestServer } from '../helpers/server.js';

const servers: TestServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function start(cacheDir: string): Promise<TestServer> {
  const srv = await startServer([], { LOG_LEVEL: 'info', SANDBOX_AUDIT_LOG: 'off', SANDBOX_CACHE_DIR: cacheDir });
  servers.push(srv);
  return srv;
}

function copyOfSuiteCache(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-snapshot-e2e-'));
  dirs.push(dir);
  fs.cpSync(inject('suiteCacheDir'), dir, { recursive: true });
  return dir;
}

async function waitFor(predicate: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('python snapshot cache', () => {
  it('boots Python from the verified cache', async () => {
    const srv = await start(copyOfSuiteCache());
    const r = await srv.call('run_python', { code: 'import sys\nsys.version_info[0]' }, { timeout: 120_000 });
    expect(r.structuredContent.result).toBe(3);
    expect(srv.stderr()).toContain('python snapshot loaded from the cache (signature and digest verified)');
    // The host read the file itself (its grant covers exactly that file) and checked it again.
    expect(srv.stderr()).toContain('python snapshot read from the cache file (digest checked)');
    expect(srv.stderr()).not.toContain('making one');
    expect(srv.stderr()).not.toContain('python boots without it');
  });

  it('refuses a tampered snapshot, still runs Python, and caches a fresh snapshot in its place', async () => {
    const dir = copyOfSuiteCache();
    for (const data of fs.readdirSync(dir).filter((f) => f.endsWith('.snapshot'))) {
      const bytes = fs.readFileSync(path.join(dir, data));
      bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
      fs.writeFileSync(path.join(dir, data), bytes);
    }

    const srv = await start(dir);
    const r = await srv.call('run_python', { code: '6 * 7' }, { timeout: 120_000 });
    expect(r.structuredContent.result).toBe(42);
    expect(srv.stderr()).toContain('its bytes do not match the signed digest');
    await waitFor(() => srv.stderr().includes('python snapshot made and cached'), 120_000);
    // The run waited for the new snapshot, which the host then read from the cache it was written to.
    expect(srv.stderr()).toContain('python snapshot read from the cache file (digest checked)');
    // The maker wrote the ~30 MB into the cache file itself: the front never held them. Its peak RSS
    // was 124–125 MiB when the snapshot came over IPC, 65–66 MiB since (both measured here).
    const peakKiB = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${srv.child.pid}/status`, 'utf8'))?.[1]);
    expect(peakKiB / 1024, 'the front held the snapshot').toBeLessThan(96);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await srv.close();

    // The replacement verifies: the next server loads it instead of making another.
    const next = await start(dir);
    expect((await next.call('run_python', { code: '1 + 1' }, { timeout: 120_000 })).structuredContent.result).toBe(2);
    expect(next.stderr()).toContain('python snapshot loaded from the cache');
  }, 300_000);

  it('leaves no snapshot maker running when the server stops mid-making', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-snapshot-empty-'));
    dirs.push(empty);
    const srv = await start(empty);
    // The host and the maker are the server's children once the maker has started.
    await waitFor(() => srv.hostPids().length >= 2, 60_000);
    const children = srv.hostPids();
    await srv.close();
    await waitFor(() => children.every((pid) => !isAlive(pid)), 10_000);
    expect(fs.readdirSync(empty).filter((f) => f.endsWith('.snapshot'))).toEqual([]);
  }, 120_000);
});
