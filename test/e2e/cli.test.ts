import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, isAlive, runCli, startServer } from '../helpers/server.js';

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
    [['serve', 'extra'], {}, 'unexpected argument "extra"'],
    [['keygen', 'a', 'b'], {}, 'unexpected argument "a"'],
    [['run', '/nonexistent/script.js'], {}, 'cannot read /nonexistent/script.js'],
  ])('%j %j: exit 2 with one line naming %s', (args, env, needle) => {
    const r = runCli(args as string[], env as Record<string, string>);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(needle);
  });

  it('an empty path flag, or a registry that is missing or not a directory, exits 2 with one line naming it', () => {
    const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-keys-'));
    try {
      for (const [args, needle] of [
        [['--key-dir', ''], '--key-dir'],
        [['--cache-dir', ''], '--cache-dir'],
        [['--capsule-store', ' '], '--capsule-store'],
        [['--audit-log', ''], '--audit-log'],
        [['--registry', ''], '--registry'],
        [['--key-dir', keyDir, '--registry', '/nonexistent-registry'], '/nonexistent-registry'],
        [['--key-dir', keyDir, '--registry', '/etc/hostname'], 'not a directory'],
      ] as Array<[string[], string]>) {
        const r = runCli(args);
        expect(r.status, args.join(' ')).toBe(2);
        expect(r.stdout).toBe('');
        const lines = r.stderr.trim().split('\n');
        expect(lines, args.join(' ')).toHaveLength(1);
        expect(lines[0]).toContain(needle);
      }
    } finally {
      fs.rmSync(keyDir, { recursive: true, force: true });
    }
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

describe('subcommands', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-cli-'));

  it('run FILE.js prints output and exits with the run exit code', () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'ok.js'), 'console.log("hello"); 6 * 7');
    fs.writeFileSync(path.join(dir, 'fail.js'), 'throw new RangeError("nope")');
    fs.writeFileSync(path.join(dir, 'spin.js'), 'while (true) {}');
    const keys = ['--key-dir', path.join(dir, 'keys')];
    const ok = runCli(['run', path.join(dir, 'ok.js'), '--json', ...keys]);
    expect(ok).toMatchObject({ status: 0 });
    expect(ok.stdout).toBe('hello\n42\n');
    const fail = runCli(['run', path.join(dir, 'fail.js'), ...keys]);
    expect(fail.status).toBe(1);
    expect(fail.stderr).toContain('RangeError: nope');
    const spin = runCli(['run', path.join(dir, 'spin.js'), '--timeout', '300', ...keys]);
    expect({ status: spin.status, stderr: spin.stderr }).toMatchObject({ status: 124, stderr: expect.stringContaining('Timeout') });
    fs.rmSync(dir, { recursive: true });
  });

  it('doctor grades the default policy and honours --min-grade', () => {
    const dir = tmp();
    const r = runCli(['doctor', '--json', '--key-dir', path.join(dir, 'keys')]);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(['A', 'B']).toContain(report.grade);
    expect(report.restrictions).toEqual(expect.arrayContaining(['permission-model', 'no-fs-write', 'no-child-process', 'no-inherited-env', 'no-code-generation-from-strings', 'no-global-gc']));
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ network: { enabled: true, allowedDomains: ['*.com'] }, env: { TOKEN: 'secret' } }));
    const graded = runCli(['doctor', '--json', '--policy', bad, '--min-grade', 'B', '--key-dir', path.join(dir, 'keys')]);
    expect(graded.status).toBe(1);
    expect(JSON.parse(graded.stdout).grade).toBe('D');
    expect(graded.stdout).not.toContain('secret');
    fs.rmSync(dir, { recursive: true });
  });

  it('verify accepts the shipped registry capsules and refuses a tampered copy', () => {
    const dir = tmp();
    const shipped = path.join(ROOT, 'capsules', 'text_diff.capsule.json');
    expect(runCli(['verify', shipped]).status).toBe(0);
    const doc = JSON.parse(fs.readFileSync(shipped, 'utf8'));
    doc.manifest.code = doc.manifest.code.replace('added', 'addd');
    fs.copyFileSync(path.join(ROOT, 'capsules', 'trusted-keys.json'), path.join(dir, 'trusted-keys.json'));
    fs.writeFileSync(path.join(dir, 'text_diff.capsule.json'), JSON.stringify(doc));
    const r = runCli(['verify', path.join(dir, 'text_diff.capsule.json')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('signature');
    fs.rmSync(dir, { recursive: true });
  });

  it('keygen adds a newest key; sign uses it', () => {
    const dir = tmp();
    const keys = ['--key-dir', path.join(dir, 'keys')];
    const a = JSON.parse(runCli(['keygen', ...keys]).stdout);
    const b = JSON.parse(runCli(['keygen', ...keys]).stdout);
    expect(a.keyId).not.toBe(b.keyId);
    fs.writeFileSync(
      path.join(dir, 'm.json'),
      JSON.stringify({ name: 'hello', description: 'says hi', version: '1.0.0', language: 'js', inputSchema: { type: 'object' }, code: '"hi"' }),
    );
    const signed = JSON.parse(runCli(['sign', path.join(dir, 'm.json'), '--out', path.join(dir, 'hello.capsule.json'), ...keys]).stdout);
    expect(signed.keyId).toBe(b.keyId);
    fs.writeFileSync(path.join(dir, 'trusted-keys.json'), JSON.stringify({ keys: [signed.trustedKey] }));
    expect(runCli(['verify', path.join(dir, 'hello.capsule.json')]).status).toBe(0);
    fs.rmSync(dir, { recursive: true });
  });
});
