/**
 * The policy file's schema. Every field has a safe default and every object is strict, so a typo
 * in a policy file is an error that names the field rather than a silently ignored setting.
 */
import * as z from 'zod';
import { NetworkPolicySchema } from './network-schema.js';
import { FilesystemPolicySchema } from './filesystem-schema.js';
import { PythonPolicySchema } from './python-schema.js';

const MiB = 1024 * 1024;

export const LIMIT_BOUNDS = {
  timeoutMs: { min: 1, max: 600_000 },
  memMb: { min: 16, max: 4096 },
  stdoutBytes: { min: 1, max: 64 * MiB },
  stderrBytes: { min: 1, max: 64 * MiB },
  codeBytes: { min: 1, max: 16 * MiB },
} as const;

const bounded = (b: { min: number; max: number }) => z.number().int().min(b.min).max(b.max);

export const LimitsSchema = z.strictObject({
  timeoutMs: bounded(LIMIT_BOUNDS.timeoutMs).default(30_000).describe('Wall-clock limit of one run, in ms.'),
  memMb: bounded(LIMIT_BOUNDS.memMb).default(256).describe('Memory limit of one runtime, in MiB.'),
  stdoutBytes: bounded(LIMIT_BOUNDS.stdoutBytes).default(MiB).describe('Captured stdout cap, in bytes.'),
  stderrBytes: bounded(LIMIT_BOUNDS.stderrBytes).default(2 * MiB).describe('Captured stderr cap, in bytes.'),
  codeBytes: bounded(LIMIT_BOUNDS.codeBytes).default(MiB).describe('Largest accepted source code, in bytes.'),
});

export const SessionsSchema = z.strictObject({
  idleTtlMs: z.number().int().min(1000).max(24 * 3600_000).default(5 * 60_000)
    .describe('A named session unused this long is dropped.'),
  maxSessions: z.number().int().min(1).max(256).default(16).describe('Most named sessions alive at once.'),
});

export const RateSchema = z.strictObject({
  callsPerMinute: z.number().int().min(1).max(100_000).default(6000).describe('Token-bucket rate of run calls.'),
  maxConcurrentRuns: z.number().int().min(1).max(64).default(8).describe('Runs executing at once.'),
  maxQueue: z.number().int().min(0).max(10_000).default(64).describe('Runs waiting for a slot before calls are refused.'),
});

/** Guest-visible environment variables: names must be portable identifiers. */
export const EnvSchema = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'environment variable names are [A-Za-z_][A-Za-z0-9_]*'), z.string().max(32_768))
  .default({})
  .describe('The only environment variables the guest sees.');

export const PolicySchema = z.strictObject({
  $schema: z.string().optional(),
  name: z.string().min(1).max(64).optional().describe('A label shown in logs and the audit log.'),
  limits: LimitsSchema.default(LimitsSchema.parse({})),
  network: NetworkPolicySchema.default(NetworkPolicySchema.parse({})),
  filesystem: FilesystemPolicySchema.default(FilesystemPolicySchema.parse({})),
  sessions: SessionsSchema.default(SessionsSchema.parse({})),
  rate: RateSchema.default(RateSchema.parse({})),
  env: EnvSchema,
  python: PythonPolicySchema.default(PythonPolicySchema.parse({})),
});

export type Policy = z.output<typeof PolicySchema>;
export type PolicyInput = z.input<typeof PolicySchema>;
export type Limits = Policy['limits'];
