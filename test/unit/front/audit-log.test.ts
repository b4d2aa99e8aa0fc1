import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, type AuditEntry } from '../../../src/front/audit/audit-log.js';

const entry: AuditEntry = {
  tool: 'run_js',
  language: 'js',
  session: 'nb',
  code: 'const API_KEY = "sk-secret"; 1',
  capsuleId: 'a'.repeat(64),
  keyId: 'b'.repeat(16),
  exitCode: 0,
  errorCode: undefined,
  durationMs: 1.5,
  stdoutBytes: 10,
  stderrBytes: 0,
  outputFiles: 0,
  network: { attempts: 0, blocked: 0 },
};

function readLines(file: string): any[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

describe('audit log', () => {
  it('marks a run whose code was TypeScript, and only such a run', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-audit-'));
    const file = path.join(dir, 'audit.jsonl');
    const log = new AuditLog({ destination: file, policyName: 'default', codeDigests: false });
    log.record({ ...entry, typescript: true });
    log.record(entry);
    log.flush();
    const [ts, plain] = readLines(file);
    expect(ts.typescript).toBe(true);
    expect(plain).not.toHaveProperty('typescript');
  });

  it('writes one JSON line per run without the code, to a 0600 file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-audit-'));
    const file = path.join(dir, 'logs', 'audit.jsonl');
    const log = new AuditLog({ destination: file, policyName: 'default', codeDigests: false });
    log.record(entry);
    log.record({ ...entry, exitCode: 124, errorCode: 'E_TIMEOUT', session: undefined });
    log.flush();
    const lines = readLines(file);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ kind: 'audit', event: 'run', tool: 'run_js', session: 'nb', exitCode: 0, policy: 'default', capsule: 'a'.repeat(64) });
    expect(lines[1]).toMatchObject({ exitCode: 124, errorCode: 'E_TIMEOUT', session: null });
    expect(typeof lines[0].time).toBe('string');
    expect(fs.readFileSync(file, 'utf8')).not.toContain('sk-secret');
    expect(lines[0]).not.toHaveProperty('codeSha256');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    fs.rmSync(dir, { recursive: true });
  });

  it('records a code digest only when asked', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-audit-'));
    const file = path.join(dir, 'audit.jsonl');
    const log = new AuditLog({ destination: file, policyName: 'strict', codeDigests: true });
    log.record(entry);
    log.flush();
    const [line] = readLines(file);
    expect(line.codeSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(line)).not.toContain('sk-secret');
    fs.rmSync(dir, { recursive: true });
  });
});
