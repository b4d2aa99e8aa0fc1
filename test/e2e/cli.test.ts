import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAlive, runCli, startServer } from '../helpers/server.js';

describe('command line', () => {
  it('--help prints usage to stdout and exits 0', () => {
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: wasm-sandbox-mcp');
    expect(r.stdout).toContain('--max-memory');
  });

  it.each([
    [['--timeout', 'soon'], {}, '--timeout'],
    [['--frobnicate'], {}, '--frobnicate'],
    [[], { MAX_STDOUT_BYTES: '-1' }, 'MAX_STDOUT_BYTES'],
    [['--policy', '/nonexistent/policy.json'], {}, '/nonexistent/policy.json'],
  ])('%j %j: exit 2 with one line naming %s', (args, env, needle) => {
    const r = runCli(args as string[], env as Record<string, string>);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(needle);
  });

  it('an invalid policy file names the field and exits 2', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-pol-'));
    const file = path.join(dir, 'p.json');
    fs.writeFileSync(file, JSON.stringify({ limits: { memMb: 'big' }, extra: true }));
    const r = runCli(['--policy', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('limits.memMb');
    expect(r.stderr).toContain('extra');
    fs.rmSync(dir, { recursive: true });
  });
});

describe('lifecycle', () => {
  it('exits when stdin closes and takes the sandbox host with it', async () => {
    const srv = await startServer();
    const [host] = srv.hostPids();
    expect(host).toBeDefined();
    const exited = new Promise<number | null>((r) => srv.child.once('exit', (code) => r(code)));
    srv.child.stdin!.end();
    expect(await exited).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(isAlive(host!)).toBe(false);
    await srv.close();
  });

  it('exits on SIGTERM and takes the sandbox host with it', async () => {
    const srv = await startServer();
    const [host] = srv.hostPids();
    const exited = new Promise<number | null>((r) => srv.child.once('exit', (code) => r(code)));
    srv.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(isAlive(host!)).toBe(false);
    await srv.close();
  });

  it('creates its signing key with mode 0600 in a 0700 directory', async () => {
    const srv = await startServer();
    const dir = path.join(srv.keyDir, 'k');
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    const keys = fs.readdirSync(dir).filter((f) => f.endsWith('.key'));
    expect(keys.length).toBe(1);
    expect(fs.statSync(path.join(dir, keys[0]!)).mode & 0o777).toBe(0o600);
    await srv.close();
  });
});
