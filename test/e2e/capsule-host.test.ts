/**
 * The sandbox host verifies every capsule before it runs anything: tampered, widened, expired,
 * unknown-key and malformed capsules, and input files swapped after signing, are refused — nothing
 * runs (the code would print) — and the host keeps answering.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The built modules: SandboxClient spawns the built host (dist/sandbox/host.js) next to itself.
// Typed through the sources, which the build mirrors one to one.
import type * as ClientModule from '../../src/front/sandbox-client.js';
import type * as SignerModule from '../../src/front/capsule/signer.js';
import type * as LoggerModule from '../../src/front/logger.js';
import type * as CapsuleModule from '../../src/protocol/capsule.js';

const dist = (p: string) => new URL(`../../dist/${p}`, import.meta.url).href;
const { SandboxClient } = (await import(dist('front/sandbox-client.js'))) as typeof ClientModule;
const { CapsuleSigner, buildCapsuleBody } = (await import(dist('front/capsule/signer.js'))) as typeof SignerModule;
const { createLogger } = (await import(dist('front/logger.js'))) as typeof LoggerModule;
const { sha256Hex } = (await import(dist('protocol/capsule.js'))) as typeof CapsuleModule;

const signer = CapsuleSigner.generate();
const stranger = CapsuleSigner.generate();
let sandbox: ClientModule.SandboxClient;
const policy = { limits: { timeoutMs: 3000, memMb: 64, stdoutBytes: 4096, stderrBytes: 4096 } };
const CODE = 'console.log("EXECUTED"); 1 + 1';

function body(extra: Record<string, unknown> = {}) {
  return { ...buildCapsuleBody({ language: 'js', code: CODE, session: null, policy, keyId: signer.keyId }), ...extra };
}

beforeAll(async () => {
  sandbox = new SandboxClient({ publicKeys: signer.publicKeys(), logger: createLogger('silent'), memMb: 64, spares: { js: 1, python: 0 } });
  await sandbox.start();
});
afterAll(async () => {
  await sandbox.close();
});

async function refused(capsule: unknown, files: Array<{ path: string; data: Uint8Array }> = []) {
  let error: any;
  try {
    const out = await sandbox.run(capsule as any, files, 3000);
    expect(out.stdout).not.toContain('EXECUTED');
  } catch (e) {
    error = e;
  }
  expect(error?.code).toBe('E_CAPSULE_INVALID');
  // The host still runs a valid capsule right after.
  const ok = await sandbox.run(signer.sign(body()), [], 3000);
  expect(ok.result).toBe(2);
}

describe('the sandbox host refuses what it cannot verify', () => {
  it('runs a valid capsule', async () => {
    const out = await sandbox.run(signer.sign(body()), [], 3000);
    expect(out).toMatchObject({ stdout: 'EXECUTED\n', result: 2 });
  });

  it('a flipped byte in the code', async () => {
    const c = signer.sign(body());
    await refused({ ...c, body: c.body.replace('EXECUTED', 'EXECUTEE') });
  });

  it('a widened policy', async () => {
    const c = signer.sign(body());
    await refused({ ...c, body: c.body.replace('"timeoutMs":3000', '"timeoutMs":600000') });
  });

  it('a swapped key id', async () => {
    const c = signer.sign(body());
    await refused({ ...c, keyId: stranger.keyId });
  });

  it('a capsule signed by an unknown key', async () => {
    await refused(stranger.sign({ ...body(), keyId: stranger.keyId }));
  });

  it('an expired capsule', async () => {
    const now = Date.now();
    await refused(signer.sign(buildCapsuleBody({ language: 'js', code: CODE, session: null, policy, keyId: signer.keyId, nowMs: now - 120_000, ttlMs: 60_000 })));
  });

  it.each([
    ['short', (s: string) => s.slice(0, 40)],
    ['empty', () => ''],
    ['not base64', () => '!'.repeat(88)],
  ])('a malformed (%s) signature', async (_label, mangle) => {
    const c = signer.sign(body());
    await refused({ ...c, signature: mangle(c.signature) });
  });

  it('an unsigned capsule', async () => {
    const c = signer.sign(body());
    await refused({ body: c.body, keyId: c.keyId });
  });

  it('an input file swapped after signing', async () => {
    const data = new TextEncoder().encode('original');
    const c = signer.sign(
      buildCapsuleBody({ language: 'js', code: CODE, session: null, policy, files: [{ path: '/tmp/in.txt', sha256: sha256Hex(data), size: data.length }], keyId: signer.keyId }),
    );
    await refused(c, [{ path: '/tmp/in.txt', data: new TextEncoder().encode('swapped!') }]);
  });
});
