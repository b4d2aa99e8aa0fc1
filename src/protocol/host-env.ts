/**
 * The whole environment of the sandbox host (and the snapshot maker): nothing of the user's, only
 * two glibc allocator settings. Python workers come and go, and each thread that mallocs gets an
 * arena of its own by default; freed memory stays in those arenas, so the host's RSS crept up by
 * ~80 MB over 100 sessionless Python runs. One arena, and large blocks in their own mappings
 * (returned to the system when freed), keep it flat (+3 to +10 MiB over 100 runs; `node bench/churn.mjs`).
 * Other C libraries ignore these names. The host's self-check accepts exactly this environment.
 */
export const SANDBOX_HOST_ENV: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_ARENA_MAX: '1',
  MALLOC_MMAP_THRESHOLD_: '131072',
});

/** True when `env` is exactly SANDBOX_HOST_ENV: nothing inherited, nothing added. */
export function isSandboxHostEnv(env: Record<string, string | undefined>): boolean {
  const keys = Object.keys(env);
  const expected = Object.keys(SANDBOX_HOST_ENV);
  return keys.length === expected.length && expected.every((k) => env[k] === SANDBOX_HOST_ENV[k]);
}
