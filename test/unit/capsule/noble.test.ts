import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as ed from '@noble/ed25519';
import {
  canonicalJson,
  capsuleSigningInput,
  keyringFromPublicKeys,
  verifyCapsule,
  type SignedCapsule,
} from '../../../src/protocol/capsule.js';
import { ErrorCode, SandboxError } from '../../../src/protocol/errors.js';
import type { JsonValue } from '../../../src/protocol/json.js';
import {
  CapsuleSigner,
  nobleSign,
  nobleVerifySignature,
  verifyWithNoble,
} from '../../../src/front/capsule/signer.js';
import { body, keyPair, NOW, rawSign } from './helpers.js';

function outcome(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return e instanceof SandboxError ? e.code : `other: ${String(e)}`;
  }
}

describe('@noble/ed25519 and node:crypto agree', () => {
  it('produce byte-identical signatures and public keys', () => {
    for (let i = 0; i < 20; i++) {
      const { seed, signer } = keyPair();
      expect(Buffer.from(ed.getPublicKey(seed)).toString('base64')).toBe(signer.publicKey);
      const wire = signer.sign(body(signer, { code: `x = ${i}\n${'é'.repeat(i * 7)}` }));
      const nobleSig = nobleSign(capsuleSigningInput(wire.body), seed);
      expect(Buffer.from(nobleSig).toString('base64')).toBe(wire.signature);
    }
    // Also on edge-size messages, outside the capsule format.
    const seed = randomBytes(32);
    const signer = new CapsuleSigner(seed);
    for (const len of [0, 1, 63, 64, 1000]) {
      const msg = randomBytes(len);
      const sig = nobleSign(msg, seed);
      expect(nobleVerifySignature(sig, msg, Buffer.from(signer.publicKey, 'base64'))).toBe(true);
    }
  });

  it('agree on validity for valid, altered and malformed capsules', () => {
    const { seed, signer } = keyPair();
    const other = CapsuleSigner.generate();
    const keys = [...signer.publicKeys(), ...other.publicKeys()];
    const ring = keyringFromPublicKeys(keys);
    const good = signer.sign(body(signer));
    const sigBytes = Buffer.from(good.signature, 'base64');
    const flipped = Buffer.from(sigBytes);
    flipped[63] = (flipped[63] as number) ^ 0x80;
    const parsed = JSON.parse(good.body) as Record<string, any>;
    parsed.policy.limits.timeoutMs += 1;

    const wires: Array<[string, unknown, number]> = [
      ['valid', good, NOW],
      ['altered code', { ...good, body: good.body.replace('range(10)', 'range(99)') }, NOW],
      ['widened policy', { ...good, body: canonicalJson(parsed as JsonValue) }, NOW],
      ['flipped signature bit', { ...good, signature: flipped.toString('base64') }, NOW],
      ['swapped key id', { ...good, keyId: other.keyId }, NOW],
      ['short signature', { ...good, signature: sigBytes.subarray(0, 32).toString('base64') }, NOW],
      ['zero signature', { ...good, signature: Buffer.alloc(64).toString('base64') }, NOW],
      ['S >= L', { ...good, signature: Buffer.concat([sigBytes.subarray(0, 32), Buffer.alloc(32, 0xff)]).toString('base64') }, NOW],
      ['not canonical', rawSign(`${good.body}\n`, seed, signer.keyId), NOW],
      ['expired', good, NOW + 3_600_000],
      ['wrong shape', { body: good.body }, NOW],
      ['unknown key', { ...good, keyId: 'ffffffffffffffff' }, NOW],
    ];
    for (const [label, wire, now] of wires) {
      const viaNode = outcome(() => verifyCapsule(wire, ring, now));
      const viaNoble = outcome(() => verifyWithNoble(wire, keys, now));
      expect(viaNoble, label).toBe(viaNode);
      expect(viaNode, label).toBe(label === 'valid' ? 'ok' : ErrorCode.CAPSULE_INVALID);
    }
    expect(verifyWithNoble(good, keys, NOW)).toEqual(verifyCapsule(good, ring, NOW));
  });

  it('treats a throw inside noble as an invalid signature', () => {
    const { seed, signer } = keyPair();
    const msg = new TextEncoder().encode('m');
    const sig = nobleSign(msg, seed);
    const pub = Buffer.from(signer.publicKey, 'base64');
    expect(nobleVerifySignature(sig, msg, pub)).toBe(true);
    expect(nobleVerifySignature(sig.subarray(0, 63), msg, pub)).toBe(false); // noble throws: length
    expect(nobleVerifySignature(sig, msg, pub.subarray(0, 31))).toBe(false); // noble throws: length
    expect(nobleVerifySignature(sig, msg, new Uint8Array(32).fill(0xff))).toBe(false); // not a point
    expect(nobleVerifySignature(sig, new TextEncoder().encode('n'), pub)).toBe(false);
  });

  it('verifyWithNoble refuses a key list with a lying keyId', () => {
    const a = CapsuleSigner.generate();
    const b = CapsuleSigner.generate();
    const wire: SignedCapsule = a.sign(body(a));
    expect(() => verifyWithNoble(wire, [{ keyId: a.keyId, publicKey: b.publicKey }], NOW)).toThrow(
      expect.objectContaining({ code: ErrorCode.KEY_STORE }),
    );
  });
});
