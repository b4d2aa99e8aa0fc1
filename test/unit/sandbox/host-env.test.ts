import { describe, expect, it } from 'vitest';
import { isSandboxHostEnv, SANDBOX_HOST_ENV } from '../../../src/protocol/host-env.js';

describe("the sandbox host's environment", () => {
  it('holds allocator settings only, none of them a user value', () => {
    expect(Object.keys(SANDBOX_HOST_ENV).every((k) => k.startsWith('MALLOC_'))).toBe(true);
    expect(Object.isFrozen(SANDBOX_HOST_ENV)).toBe(true);
  });

  it('is accepted by the self-check only when it is exactly that', () => {
    expect(isSandboxHostEnv({ ...SANDBOX_HOST_ENV })).toBe(true);
    expect(isSandboxHostEnv({})).toBe(false);
    expect(isSandboxHostEnv({ ...SANDBOX_HOST_ENV, HOME: '/root' })).toBe(false);
    expect(isSandboxHostEnv({ ...SANDBOX_HOST_ENV, MALLOC_ARENA_MAX: '8' })).toBe(false);
    const { MALLOC_ARENA_MAX: _dropped, ...partial } = SANDBOX_HOST_ENV;
    expect(isSandboxHostEnv({ ...partial, PATH: '/usr/bin' })).toBe(false);
  });
});
