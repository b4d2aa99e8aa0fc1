/**
 * Settings precedence, highest first: CLI flags, environment variables, the policy file, defaults.
 * Everything here is pure given its inputs (the policy file is read through an injected reader),
 * so the precedence rules are unit-tested without touching the process.
 */
import path from 'node:path';
import { ErrorCode, SandboxError } from '../../protocol/errors.js';
import { REGISTRY_DIR } from '../capsule/registry.js';
import { PACKAGE_ROOT } from '../package-paths.js';
import { describeIssues } from './errors.js';
import { LIMIT_BOUNDS, PolicySchema, type Limits, type Policy } from './schema.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where the shipped policies live: `<package root>/policies`. */
export const POLICIES_DIR = path.join(PACKAGE_ROOT, 'policies');

/** The overridable settings, as strings straight from argv or the environment. */
export interface RawSettings {
  policy?: string | undefined;
  timeout?: string | undefined;
  maxMemory?: string | undefined;
  maxStdout?: string | undefined;
  maxStderr?: string | undefined;
  logLevel?: string | undefined;
  keyDir?: string | undefined;
  auditLog?: string | undefined;
  auditCodeDigests?: string | undefined;
  registry?: string | undefined;
  capsuleStore?: string | undefined;
  cacheDir?: string | undefined;
}

/** Environment variable for each setting (the contract's table). */
export const ENV_NAMES: Record<keyof RawSettings, string> = {
  policy: 'SANDBOX_POLICY',
  timeout: 'TIMEOUT_MS',
  maxMemory: 'MAX_MEMORY_MB',
  maxStdout: 'MAX_STDOUT_BYTES',
  maxStderr: 'MAX_STDERR_BYTES',
  logLevel: 'LOG_LEVEL',
  keyDir: 'SANDBOX_KEY_DIR',
  auditLog: 'SANDBOX_AUDIT_LOG',
  auditCodeDigests: 'SANDBOX_AUDIT_CODE_DIGESTS',
  registry: 'SANDBOX_REGISTRY',
  capsuleStore: 'SANDBOX_CAPSULE_STORE',
  cacheDir: 'SANDBOX_CACHE_DIR',
};

/** CLI flag for each setting. */
export const FLAG_NAMES: Record<keyof RawSettings, string> = {
  policy: '--policy',
  timeout: '--timeout',
  maxMemory: '--max-memory',
  maxStdout: '--max-stdout',
  maxStderr: '--max-stderr',
  logLevel: '--log-level',
  keyDir: '--key-dir',
  auditLog: '--audit-log',
  auditCodeDigests: '--audit-code-digests',
  registry: '--registry',
  capsuleStore: '--capsule-store',
  cacheDir: '--cache-dir',
};

const LIMIT_SETTINGS = [
  ['timeout', 'timeoutMs', 'milliseconds'],
  ['maxMemory', 'memMb', 'MiB'],
  ['maxStdout', 'stdoutBytes', 'bytes'],
  ['maxStderr', 'stderrBytes', 'bytes'],
] as const satisfies ReadonlyArray<readonly [keyof RawSettings, keyof Limits, string]>;

export interface Settings {
  /** Absolute path of the policy file in force. */
  policyFile: string;
  /** The policy's label: its `name`, else the file's base name. */
  policyName: string;
  /** The effective policy: the file's, with env and CLI overrides applied. */
  policy: Policy;
  logLevel: LogLevel;
  /** Overridden key directory, or undefined for the default. */
  keyDir: string | undefined;
  /** Audit log destination: a file, 'stderr', or 'off'. */
  auditLog: string;
  /** Record the SHA-256 of each run's code in the audit log. */
  auditCodeDigests: boolean;
  /** Directory of trusted registry capsules, or undefined for none. */
  registryDir: string | undefined;
  /** Capsule store directory, 'off', or undefined for the default (beside the keys). */
  capsuleStore: string | undefined;
  /** Cache of the signed Python snapshot, 'off', or undefined for the default (~/.cache/wasm-sandbox-mcp). */
  cacheDir: string | undefined;
}

export interface ResolveOptions {
  flags: RawSettings;
  env: Record<string, string | undefined>;
  cwd: string;
  readFile: (file: string) => string;
}

function configError(message: string): SandboxError {
  return new SandboxError(ErrorCode.CONFIG, message);
}

/** `strict` → the shipped policies/strict.json; anything with a slash or `.json` is a path. */
export function resolvePolicyPath(value: string, cwd: string): string {
  if (!value.includes('/') && !value.includes(path.sep) && !value.endsWith('.json')) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(value)) throw configError(`policy name "${value}" is not a shipped policy name`);
    return path.join(POLICIES_DIR, `${value}.json`);
  }
  return path.resolve(cwd, value);
}

/** Parse and validate a policy document; the error names the file and the field. */
export function parsePolicy(text: string, file: string): Policy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw configError(`invalid policy file ${file}: not JSON (${(e as Error).message})`);
  }
  const parsed = PolicySchema.safeParse(doc);
  if (!parsed.success) throw configError(`invalid policy file ${file}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

function parseLimit(raw: string, origin: string, field: keyof typeof LIMIT_BOUNDS, unit: string): number {
  const b = LIMIT_BOUNDS[field];
  const n = /^\d{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < b.min || n > b.max) {
    throw configError(`invalid ${origin} "${raw}": expected a whole number of ${unit} from ${b.min} to ${b.max}`);
  }
  return n;
}

/** Pick the winning raw value of one setting and say where it came from, for error messages. */
function pick(key: keyof RawSettings, o: ResolveOptions): { value: string; origin: string } | undefined {
  const flag = o.flags[key];
  if (flag !== undefined) return { value: flag, origin: FLAG_NAMES[key] };
  const env = o.env[ENV_NAMES[key]];
  if (env !== undefined && env !== '') return { value: env, origin: `${ENV_NAMES[key]}` };
  return undefined;
}

/** A path setting: an empty flag would quietly mean the working directory, so it is refused. */
function pickPath(key: keyof RawSettings, o: ResolveOptions): string | undefined {
  const chosen = pick(key, o);
  if (chosen !== undefined && chosen.value.trim() === '') throw configError(`invalid ${chosen.origin} "${chosen.value}": expected a path`);
  return chosen?.value;
}

export function resolveSettings(o: ResolveOptions): Settings {
  const policyChoice = pick('policy', o);
  const policyFile = policyChoice ? resolvePolicyPath(policyChoice.value, o.cwd) : path.join(POLICIES_DIR, 'default.json');
  let text: string;
  try {
    text = o.readFile(policyFile);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw configError(`cannot read policy file ${policyFile}${policyChoice ? ` (from ${policyChoice.origin})` : ''}: ${why}`);
  }
  const filePolicy = parsePolicy(text, policyFile);

  const limits: Limits = { ...filePolicy.limits };
  for (const [key, field, unit] of LIMIT_SETTINGS) {
    const chosen = pick(key, o);
    if (chosen) limits[field] = parseLimit(chosen.value, chosen.origin, field, unit);
  }

  const level = pick('logLevel', o);
  if (level && !(LOG_LEVELS as readonly string[]).includes(level.value)) {
    throw configError(`invalid ${level.origin} "${level.value}": expected one of ${LOG_LEVELS.join(', ')}`);
  }
  const keyDir = pickPath('keyDir', o);
  const auditLog = pickPath('auditLog', o) ?? 'stderr';
  const digests = pick('auditCodeDigests', o);
  if (digests && !['1', '0', 'true', 'false'].includes(digests.value)) {
    throw configError(`invalid ${digests.origin} "${digests.value}": expected 1, 0, true or false`);
  }
  const registry = pickPath('registry', o);
  const store = pickPath('capsuleStore', o);
  const cache = pickPath('cacheDir', o);

  return {
    policyFile,
    policyName: filePolicy.name ?? path.basename(policyFile, '.json'),
    policy: { ...filePolicy, limits },
    logLevel: (level?.value as LogLevel | undefined) ?? 'info',
    keyDir: keyDir !== undefined ? path.resolve(o.cwd, keyDir) : undefined,
    auditLog: auditLog === 'stderr' || auditLog === 'off' ? auditLog : path.resolve(o.cwd, auditLog),
    auditCodeDigests: digests?.value === '1' || digests?.value === 'true',
    registryDir: registry === 'off' ? undefined : registry ? path.resolve(o.cwd, registry) : REGISTRY_DIR,
    capsuleStore: store === undefined || store === 'off' ? store : path.resolve(o.cwd, store),
    cacheDir: cache === undefined || cache === 'off' ? cache : path.resolve(o.cwd, cache),
  };
}
