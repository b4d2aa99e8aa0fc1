import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, SandboxError } from '../../../src/protocol/errors.js';
import { narrowLimits } from '../../../src/front/policy/narrow.js';
import { PolicySchema } from '../../../src/front/policy/schema.js';
import { POLICIES_DIR, parsePolicy, resolveSettings, type RawSettings } from '../../../src/front/policy/settings.js';
import fs from 'node:fs';

const files: Record<string, string> = {
  '/p/custom.json': JSON.stringify({ limits: { timeoutMs: 5000, memMb: 128 } }),
  '/p/bad-field.json': JSON.stringify({ limits: { timeoutMs: 5000, timeout: 1 } }),
  '/p/bad-type.json': JSON.stringify({ limits: { timeoutMs: 'soon' } }),
  '/p/bad-section.json': JSON.stringify({ netwrok: {} }),
  '/p/not-json.json': '{ limits: ',
};
const readFile = (f: string) => {
  if (f in files) return files[f]!;
  if (f.startsWith(POLICIES_DIR)) return fs.readFileSync(f, 'utf8');
  throw Object.assign(new Error('nope'), { code: 'ENOENT' });
};
const resolve = (flags: RawSettings = {}, env: Record<string, string> = {}) => resolveSettings({ flags, env, cwd: '/p', readFile });

function configError(fn: () => unknown): SandboxError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SandboxError);
    expect((e as SandboxError).code).toBe(ErrorCode.CONFIG);
    expect((e as SandboxError).message).not.toContain('\n');
    return e as SandboxError;
  }
  throw new Error('expected a configuration error');
}

describe('precedence: CLI flag > env var > policy file > default', () => {
  it('uses the shipped default policy and built-in defaults', () => {
    const s = resolve();
    expect(s.policyFile).toBe(path.join(POLICIES_DIR, 'default.json'));
    expect(s.policy.limits).toMatchObject({ timeoutMs: 30000, memMb: 256, stdoutBytes: 1048576, stderrBytes: 2097152 });
    expect(s.policy.network.enabled).toBe(false);
    expect(s.logLevel).toBe('info');
  });

  it('a policy file beats defaults, env beats the file, a flag beats env', () => {
    expect(resolve({ policy: 'custom.json' }).policy.limits.timeoutMs).toBe(5000);
    expect(resolve({ policy: 'custom.json' }, { TIMEOUT_MS: '7000' }).policy.limits.timeoutMs).toBe(7000);
    expect(resolve({ policy: 'custom.json', timeout: '9000' }, { TIMEOUT_MS: '7000' }).policy.limits.timeoutMs).toBe(9000);
    // Untouched fields keep the file's value.
    expect(resolve({ policy: 'custom.json', timeout: '9000' }).policy.limits.memMb).toBe(128);
  });

  it('SANDBOX_POLICY selects the file, and --policy overrides it', () => {
    expect(resolve({}, { SANDBOX_POLICY: '/p/custom.json' }).policy.limits.timeoutMs).toBe(5000);
    expect(resolve({ policy: 'strict' }, { SANDBOX_POLICY: '/p/custom.json' }).policyName).toBe('strict');
  });

  it('every limit setting has a flag and an env var', () => {
    const s = resolve({}, { MAX_MEMORY_MB: '64', MAX_STDOUT_BYTES: '100', MAX_STDERR_BYTES: '200', LOG_LEVEL: 'debug' });
    expect(s.policy.limits).toMatchObject({ memMb: 64, stdoutBytes: 100, stderrBytes: 200 });
    expect(s.logLevel).toBe('debug');
    const f = resolve({ maxMemory: '32', maxStdout: '10', maxStderr: '20', logLevel: 'warn' }, { MAX_MEMORY_MB: '64', LOG_LEVEL: 'debug' });
    expect(f.policy.limits).toMatchObject({ memMb: 32, stdoutBytes: 10, stderrBytes: 20 });
    expect(f.logLevel).toBe('warn');
  });

  it('the shipped strict policy is valid and tighter than default', () => {
    const s = resolve({ policy: 'strict' });
    expect(s.policy.limits.timeoutMs).toBeLessThan(30000);
    expect(s.policy.limits.memMb).toBeLessThan(256);
  });
});

describe('bad settings stop start-up with a one-line error naming the field', () => {
  it.each([
    [{ timeout: 'abc' }, {}, '--timeout'],
    [{ timeout: '0' }, {}, '--timeout'],
    [{ timeout: '1e3' }, {}, '--timeout'],
    [{}, { TIMEOUT_MS: '-5' }, 'TIMEOUT_MS'],
    [{}, { MAX_MEMORY_MB: 'lots' }, 'MAX_MEMORY_MB'],
    [{ maxStdout: '999999999999' }, {}, '--max-stdout'],
    [{ logLevel: 'loud' }, {}, '--log-level'],
    [{}, { LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  ] as Array<[RawSettings, Record<string, string>, string]>)('%j %j names %s', (flags, env, name) => {
    expect(configError(() => resolve(flags, env)).message).toContain(name);
  });

  it.each([
    ['bad-field.json', 'limits.timeout'],
    ['bad-type.json', 'limits.timeoutMs'],
    ['bad-section.json', 'netwrok'],
    ['not-json.json', 'not JSON'],
    ['missing.json', 'cannot read'],
  ])('policy file %s: error mentions %s', (file, needle) => {
    const e = configError(() => resolve({ policy: file }));
    expect(e.message).toContain(needle);
    expect(e.message).toContain(file);
  });

  it('refuses a policy name that is not a plain name', () => {
    configError(() => resolve({ policy: 'str ict' }));
  });
});

describe('schema', () => {
  it('every field has a default: {} is a complete, closed policy', () => {
    const p = PolicySchema.parse({});
    expect(p.network.enabled).toBe(false);
    expect(p.env).toEqual({});
    expect(p.filesystem.writable).toEqual(['/tmp', '/output']);
    expect(p.sessions.idleTtlMs).toBe(300000);
  });

  it('parsePolicy accepts the shipped files', () => {
    for (const name of ['default', 'strict']) {
      const file = path.join(POLICIES_DIR, `${name}.json`);
      expect(parsePolicy(fs.readFileSync(file, 'utf8'), file).name).toBe(name);
    }
  });
});

describe('per-call narrowing', () => {
  const limits = PolicySchema.parse({}).limits;
  it('lowers the timeout', () => expect(narrowLimits(limits, { timeoutMs: 100 }).timeoutMs).toBe(100));
  it('never raises it', () => expect(narrowLimits(limits, { timeoutMs: 10 ** 9 }).timeoutMs).toBe(limits.timeoutMs));
  it('keeps everything else', () => expect(narrowLimits(limits, { timeoutMs: 5 })).toEqual({ ...limits, timeoutMs: 5 }));
  it('leaves limits alone without a request', () => expect(narrowLimits(limits, {})).toEqual(limits));
});
