/**
 * Rate limits, the audit log and the capsule store, end to end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let dir: string;
let auditFile: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-gov-'));
  const policy = path.join(dir, 'policy.json');
  fs.writeFileSync(policy, JSON.stringify({ name: 'tight', rate: { callsPerMinute: 4, maxConcurrentRuns: 1, maxQueue: 0 } }));
  auditFile = path.join(dir, 'audit.jsonl');
  srv = await startServer(['--policy', policy, '--audit-log', auditFile, '--capsule-store', path.join(dir, 'store')]);
});
afterAll(async () => {
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('governance', () => {
  let firstCapsule = '';

  it('writes one audit line per run, without the code, marking TypeScript runs', async () => {
    const r = await srv.call('run_js', { code: 'const SECRET_TOKEN = "hunter2"; 1 + 1', session: 'aud' });
    firstCapsule = r.structuredContent.capsule.id;
    await srv.call('run_js', { code: 'const n: number = 2; n', typescript: true });
    await srv.call('run_js', { code: 'throw new Error("x")' });
    const lines = fs.readFileSync(auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ kind: 'audit', tool: 'run_js', language: 'js', session: 'aud', exitCode: 0, policy: 'tight', capsule: firstCapsule });
    expect(lines[0]).not.toHaveProperty('typescript');
    expect(lines[1]).toMatchObject({ exitCode: 0, typescript: true });
    expect(lines[2]).toMatchObject({ exitCode: 1, errorCode: 'E_GUEST_ERROR', session: null });
    expect(fs.readFileSync(auditFile, 'utf8')).not.toContain('hunter2');
  });

  it('keeps executed capsules so a run can be verified afterwards', () => {
    const r = runCli(['verify', firstCapsule, '--key-dir', path.join(srv.keyDir, 'k'), '--capsule-store', path.join(dir, 'store')]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: true, kind: 'run', id: firstCapsule, language: 'js' });
  });

  it('refuses calls over the rate with E_RATE_LIMITED and a retry time, then keeps serving', async () => {
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await srv.call('run_js', { code: '1' }));
    const limited = results.filter((r) => r.structuredContent.error?.code === 'E_RATE_LIMITED');
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.isError).toBe(true);
    expect(limited[0]!.structuredContent.error.message).toMatch(/retry after \d+ s/);
    // reset_session is not rate limited: the server still answers.
    const reset = await srv.call('reset_session', { session: 'aud' });
    expect(reset.structuredContent.existed).toBe(true);
  });
});
