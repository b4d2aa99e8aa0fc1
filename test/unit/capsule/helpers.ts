import { createPrivateKey, randomBytes, sign as cryptoSign } from 'node:crypto';
import { capsuleSigningInput, type CapsuleBody, type SignedCapsule } from '../../../src/protocol/capsule.js';
import { buildCapsuleBody, CapsuleSigner } from '../../../src/front/capsule/signer.js';

export const POLICY: CapsuleBody['policy'] = {
  limits: { timeoutMs: 30_000, memMb: 256, stdoutBytes: 1_048_576, stderrBytes: 2_097_152, codeBytes: 100_000 },
  network: { enabled: false, allowedDomains: [], deniedDomains: [] },
  filesystem: { writable: ['/tmp', '/output'] },
};

export const NOW = 1_750_000_000_000;

/** A signer whose seed the test also knows, so it can sign arbitrary bytes with the same key. */
export function keyPair(): { seed: Buffer; signer: CapsuleSigner } {
  const seed = randomBytes(32);
  return { seed, signer: new CapsuleSigner(seed) };
}

export function body(signer: CapsuleSigner, extra: Partial<Parameters<typeof buildCapsuleBody>[0]> = {}): CapsuleBody {
  return buildCapsuleBody({
    language: 'python',
    code: 'print(sum(range(10)))\n',
    session: 'notebook-1',
    policy: POLICY,
    files: [{ path: '/tmp/data.csv', sha256: 'ab'.repeat(32), size: 12 }],
    keyId: signer.keyId,
    nowMs: NOW,
    ...extra,
  });
}

/** Base64 Ed25519 signature of arbitrary bytes with the raw seed (node:crypto). */
export function rawSignBytes(data: Uint8Array, seed: Uint8Array): string {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  return cryptoSign(null, data, key).toString('base64');
}

/** Sign arbitrary body text (canonical or not) with the raw key, bypassing CapsuleSigner's checks. */
export function rawSign(text: string, seed: Uint8Array, keyId: string): SignedCapsule {
  return { body: text, signature: rawSignBytes(capsuleSigningInput(text), seed), keyId };
}
