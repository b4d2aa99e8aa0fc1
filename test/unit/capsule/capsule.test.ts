import { describe, expect, it } from 'vitest';
import {
  CAPSULE_CLOCK_SKEW_MS,
  CAPSULE_DOMAIN_TAG,
  CapsuleBodySchema,
  canonicalJson,
  capsuleId,
  capsuleSigningInput,
  keyIdFor,
  keyringFromPublicKeys,
  SignedCapsuleSchema,
  verifyCapsule,
  type Keyring,
  type SignedCapsule,
} from '../../../src/protocol/capsule.js';
import { ErrorCode, SandboxError } from '../../../src/protocol/errors.js';
import type { JsonValue } from '../../../src/protocol/json.js';
import { buildCapsuleBody, CapsuleSigner, DEFAULT_CAPSULE_TTL_MS } from '../../../src/front/capsule/signer.js';
import { body, keyPair, NOW, POLICY, rawSign, rawSignBytes } from './helpers.js';

/** Assert that verification is refused with CAPSULE_INVALID and a message matching `reason`. */
function expectRefused(wire: unknown, ring: Keyring, now: number, reason: RegExp): void {
  let error: unknown;
  try {
    verifyCapsule(wire, ring, now);
  } catch (e) {
    error = e;
  }
  expect(error, 'verifyCapsule should have thrown').toBeInstanceOf(SandboxError);
  expect((error as SandboxError).code).toBe(ErrorCode.CAPSULE_INVALID);
  expect((error as SandboxError).message).toMatch(reason);
}

/** Re-encode a parsed body after `edit`, canonically, keeping the old signature. */
function editBody(wire: SignedCapsule, edit: (b: Record<string, any>) => void): SignedCapsule {
  const b = JSON.parse(wire.body) as Record<string, any>;
  edit(b);
  return { ...wire, body: canonicalJson(b as JsonValue) };
}

describe('capsule sign → verify round trip', () => {
  it('verifies what the signer signed and returns the id and the body', () => {
    const { signer } = keyPair();
    const ring = keyringFromPublicKeys(signer.publicKeys());
    const b = body(signer, { code: 'print("héllo, 世界 😀")', input: { rows: [1, 2.5, 'x'], ok: true } });
    const wire = signer.sign(b);
    expect(SignedCapsuleSchema.parse(wire)).toEqual(wire);
    expect(wire.keyId).toBe(signer.keyId);
    expect(Buffer.from(wire.signature, 'base64')).toHaveLength(64);
    expect(wire.body).toBe(canonicalJson(b as unknown as JsonValue));

    const out = verifyCapsule(wire, ring, NOW + 1000);
    expect(out.id).toBe(capsuleId(wire.body));
    expect(out.id).toMatch(/^[0-9a-f]{64}$/);
    expect(out.body).toEqual(b);
    expect(out.body.input).toEqual({ rows: [1, 2.5, 'x'], ok: true });
  });

  it('survives a JSON round trip of the wire form (as over IPC)', () => {
    const { signer } = keyPair();
    const ring = keyringFromPublicKeys(signer.publicKeys());
    const wire = JSON.parse(JSON.stringify(signer.sign(body(signer)))) as unknown;
    expect(verifyCapsule(wire, ring, NOW).body.code).toBe('print(sum(range(10)))\n');
  });

  it('buildCapsuleBody fills times, a fresh 16-byte nonce and the key id', () => {
    const { signer } = keyPair();
    const a = buildCapsuleBody({ language: 'js', code: '1', policy: POLICY, keyId: signer.keyId, nowMs: NOW });
    const b = buildCapsuleBody({ language: 'js', code: '1', policy: POLICY, keyId: signer.keyId, nowMs: NOW });
    expect(a.createdAt).toBe(NOW);
    expect(a.expiresAt).toBe(NOW + DEFAULT_CAPSULE_TTL_MS);
    expect(a.session).toBeNull();
    expect(a.files).toEqual([]);
    expect('input' in a).toBe(false);
    expect(Buffer.from(a.nonce, 'base64url')).toHaveLength(16);
    expect(a.nonce).not.toBe(b.nonce);
    // Same content, different nonce: different capsules.
    expect(capsuleId(signer.sign(a).body)).not.toBe(capsuleId(signer.sign(b).body));
    expect(CapsuleBodySchema.safeParse(a).success).toBe(true);
    const short = buildCapsuleBody({ language: 'js', code: '', policy: POLICY, keyId: signer.keyId, nowMs: 5, ttlMs: 10 });
    expect(short.expiresAt).toBe(15);
  });

  it('carries the typescript flag signed, and only for js; capsules without it stay valid', () => {
    const { signer } = keyPair();
    const ring = keyringFromPublicKeys(signer.publicKeys());
    const plain = body(signer, { language: 'js', code: 'let x = 1' });
    expect('typescript' in plain).toBe(false);
    expect(body(signer, { language: 'js', typescript: false })).not.toHaveProperty('typescript');
    const ts = signer.sign(body(signer, { language: 'js', code: 'let x: number = 1', typescript: true }));
    expect(verifyCapsule(ts, ring, NOW).body.typescript).toBe(true);
    expect(verifyCapsule(signer.sign(plain), ring, NOW).body.typescript).toBeUndefined();
    // Flipping the flag after signing breaks the signature: the executor strips exactly what was signed.
    const flipped = editBody(ts, (b) => delete b.typescript);
    expectRefused(flipped, ring, NOW, /signature does not verify/);
    expect(() => signer.sign(body(signer, { language: 'python', typescript: true }))).toThrow(/typescript/);
  });

  it('the signature covers the domain tag, not the bare body', () => {
    expect(Buffer.from(CAPSULE_DOMAIN_TAG).toString('utf8')).toBe('wasm-sandbox-mcp/capsule/v1\0');
    const input = capsuleSigningInput('{"a":"é"}');
    expect(input.subarray(0, CAPSULE_DOMAIN_TAG.length)).toEqual(Buffer.from(CAPSULE_DOMAIN_TAG));
    expect(input.subarray(CAPSULE_DOMAIN_TAG.length).toString('utf8')).toBe('{"a":"é"}');
  });

  it('signs and verifies 1000 capsules', () => {
    const { signer } = keyPair();
    const ring = keyringFromPublicKeys(signer.publicKeys());
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const wire = signer.sign(body(signer, { code: `print(${i})` }));
      ids.add(verifyCapsule(wire, ring, NOW).id);
    }
    expect(ids.size).toBe(1000);
  });

  it('the signer refuses bodies the host would refuse', () => {
    const { signer } = keyPair();
    const other = CapsuleSigner.generate();
    expect(() => signer.sign(body(other))).toThrow(/names key/);
    const bad = { ...body(signer), language: 'ruby' } as unknown as ReturnType<typeof body>;
    expect(() => signer.sign(bad)).toThrow(SandboxError);
    const nan = body(signer, { input: { x: Number.NaN } });
    expect(() => signer.sign(nan)).toThrow(SandboxError);
  });
});

describe('verifyCapsule refuses', () => {
  const { seed, signer } = keyPair();
  const ring = keyringFromPublicKeys(signer.publicKeys());
  const good = signer.sign(body(signer));

  it('a flipped byte in the code', () => {
    expect(good.body).toContain('range(10)');
    expectRefused({ ...good, body: good.body.replace('range(10)', 'range(11)') }, ring, NOW, /signature does not verify/);
    // A single bit flipped in the signature itself.
    const sig = Buffer.from(good.signature, 'base64');
    sig[10] = (sig[10] as number) ^ 0x01;
    expectRefused({ ...good, signature: sig.toString('base64') }, ring, NOW, /signature does not verify/);
  });

  it('a widened policy (timeoutMs raised), even in canonical form', () => {
    const wider = editBody(good, (b) => {
      b.policy.limits.timeoutMs = 3_600_000;
    });
    expectRefused(wider, ring, NOW, /signature does not verify/);
    const netOn = editBody(good, (b) => {
      b.policy.network.enabled = true;
    });
    expectRefused(netOn, ring, NOW, /signature does not verify/);
  });

  it('a swapped key id (a second trusted key)', () => {
    const second = CapsuleSigner.generate();
    const both = keyringFromPublicKeys([...signer.publicKeys(), ...second.publicKeys()]);
    // Wire names the second key, signature was made by the first.
    expectRefused({ ...good, keyId: second.keyId }, both, NOW, /signature does not verify/);
    // Body names the second key but is validly signed by the first (wire names the first).
    const mismatched = rawSign(canonicalJson(body(second) as unknown as JsonValue), seed, signer.keyId);
    expectRefused(mismatched, both, NOW, /body keyId .* differs from the wire keyId/);
  });

  it('an unknown key', () => {
    const stranger = CapsuleSigner.generate();
    const strangersRing = keyringFromPublicKeys(stranger.publicKeys());
    expectRefused(good, strangersRing, NOW, /unknown signing key/);
    expectRefused(good, new Map(), NOW, /unknown signing key/);
    expectRefused({ ...good, keyId: '0000000000000000' }, ring, NOW, /unknown signing key/);
  });

  it('an expired capsule (expiresAt <= now)', () => {
    const exp = NOW + DEFAULT_CAPSULE_TTL_MS;
    expect(verifyCapsule(good, ring, exp - 1).body.expiresAt).toBe(exp);
    expectRefused(good, ring, exp, /expired/);
    expectRefused(good, ring, exp + 86_400_000, /expired/);
  });

  it('a capsule created in the future beyond the clock skew', () => {
    expect(verifyCapsule(good, ring, NOW - CAPSULE_CLOCK_SKEW_MS).id).toBe(capsuleId(good.body));
    expectRefused(good, ring, NOW - CAPSULE_CLOCK_SKEW_MS - 1, /createdAt is .* in the future/);
  });

  it('malformed, short, long and non-canonical base64 signatures', () => {
    const sig = Buffer.from(good.signature, 'base64');
    const cases: string[] = [
      '',
      'not base64 at all!',
      sig.subarray(0, 63).toString('base64'), // short
      Buffer.concat([sig, Buffer.from([0])]).toString('base64'), // long
      good.signature.replace(/=+$/, ''), // missing padding
      good.signature.replace(/\+/g, '-').replace(/\//g, '_'), // base64url alphabet
      ` ${good.signature}`,
      `${good.signature}\n`,
      Buffer.alloc(64).toString('base64'), // 64 zero bytes
    ];
    for (const signature of cases) {
      if (signature === good.signature) continue; // the url-alphabet variant may coincide
      expectRefused({ ...good, signature }, ring, NOW, /signature/);
    }
    // Same 64 bytes, but the unused trailing bits of the last character set: refused.
    const chars = good.signature.split('');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const last = alphabet.indexOf(chars[85] as string);
    chars[85] = alphabet[last | 1] as string;
    const sloppy = chars.join('');
    expect(Buffer.from(sloppy, 'base64')).toEqual(sig);
    expectRefused({ ...good, signature: sloppy }, ring, NOW, /exactly 64 bytes/);
  });

  it('a body that is validly signed but not canonical', () => {
    const parsed = JSON.parse(good.body) as Record<string, unknown>;
    const spaced = JSON.stringify(parsed, null, 1);
    expectRefused(rawSign(spaced, seed, signer.keyId), ring, NOW, /not in canonical JSON form/);
    expectRefused(rawSign(`${good.body} `, seed, signer.keyId), ring, NOW, /not in canonical JSON form/);

    const reordered = `{${Object.keys(parsed)
      .reverse()
      .map((k) => `${JSON.stringify(k)}:${JSON.stringify(parsed[k])}`)
      .join(',')}}`;
    expect(JSON.parse(reordered)).toEqual(parsed);
    expectRefused(rawSign(reordered, seed, signer.keyId), ring, NOW, /not in canonical JSON form/);

    // An alternative escape for the same string.
    const escaped = good.body.replace('"print', '"\\u0070rint');
    expect(JSON.parse(escaped)).toEqual(parsed);
    expectRefused(rawSign(escaped, seed, signer.keyId), ring, NOW, /not in canonical JSON form/);

    // A duplicated key (JSON.parse keeps the last one).
    const dup = good.body.replace('{"code":', '{"code":"print(\\"other\\")","code":');
    expectRefused(rawSign(dup, seed, signer.keyId), ring, NOW, /not in canonical JSON form/);

    // An alternative number spelling.
    const num = good.body.replace('"memMb":256', '"memMb":2.56e2');
    expect(num).not.toBe(good.body);
    expectRefused(rawSign(num, seed, signer.keyId), ring, NOW, /not in canonical JSON form/);
  });

  it('a validly signed body that breaks the schema', () => {
    const bad: Array<[string, (b: Record<string, any>) => void]> = [
      ['version', (b) => (b.v = 2)],
      ['language', (b) => (b.language = 'ruby')],
      ['extra top-level key', (b) => (b.extra = 1)],
      ['zero limit', (b) => (b.policy.limits.memMb = 0)],
      ['missing limit', (b) => delete b.policy.limits.stderrBytes],
      ['uppercase digest', (b) => (b.files[0].sha256 = 'AB'.repeat(32))],
      ['extra file field', (b) => (b.files[0].mode = 0o777)],
      ['short nonce', (b) => (b.nonce = 'abc')],
      ['fractional time', (b) => (b.createdAt = NOW + 0.5)],
      ['expiry before creation', (b) => (b.expiresAt = b.createdAt)],
      ['missing code', (b) => delete b.code],
      ['typescript spelled false', (b) => ((b.language = 'js'), (b.typescript = false))],
      ['typescript on python', (b) => (b.typescript = true)],
    ];
    for (const [label, edit] of bad) {
      const b = JSON.parse(good.body) as Record<string, any>;
      edit(b);
      const wire = rawSign(canonicalJson(b as JsonValue), seed, signer.keyId);
      expect(() => verifyCapsule(wire, ring, NOW), label).toThrow(/capsule schema/);
    }
    expectRefused(rawSign('not json', seed, signer.keyId), ring, NOW, /not JSON/);
    expectRefused(rawSign('[]', seed, signer.keyId), ring, NOW, /capsule schema/);
    expectRefused(
      rawSign(good.body.replace('{', '{"__proto__":{"x":1},'), seed, signer.keyId),
      ring,
      NOW,
      /capsule schema|canonical/,
    );
  });

  it('a wrong wire shape', () => {
    const cases: unknown[] = [
      undefined,
      null,
      'a string',
      42,
      [good.body, good.signature, good.keyId],
      { body: good.body, keyId: good.keyId },
      { body: good.body, signature: good.signature },
      { signature: good.signature, keyId: good.keyId },
      { ...good, extra: true },
      { ...good, body: JSON.parse(good.body) },
      { ...good, signature: Buffer.from(good.signature, 'base64') },
      { ...good, keyId: 7 },
    ];
    for (const wire of cases) expectRefused(wire, ring, NOW, /wire form/);
  });

  it('a signature made with the key over the body without the domain tag', () => {
    // Sign utf8(body) alone: the same key, the same bytes minus the tag.
    const tagLen = CAPSULE_DOMAIN_TAG.length;
    const wire = rawSign(good.body, seed, signer.keyId);
    expect(verifyCapsule(wire, ring, NOW).id).toBe(capsuleId(good.body));
    const untagged = rawSignBytes(capsuleSigningInput(good.body).subarray(tagLen), seed);
    expectRefused({ ...good, signature: untagged }, ring, NOW, /signature does not verify/);
  });
});

describe('keyringFromPublicKeys', () => {
  it('maps key ids to keys and derives ids from the raw key', () => {
    const a = CapsuleSigner.generate();
    const b = CapsuleSigner.generate();
    const ring = keyringFromPublicKeys([...a.publicKeys(), ...b.publicKeys()]);
    expect([...ring.keys()].sort()).toEqual([a.keyId, b.keyId].sort());
    expect(keyIdFor(Buffer.from(a.publicKey, 'base64'))).toBe(a.keyId);
    expect(a.keyId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('rejects an entry whose keyId does not match its key', () => {
    const a = CapsuleSigner.generate();
    const b = CapsuleSigner.generate();
    const lying = [{ keyId: b.keyId, publicKey: a.publicKey }];
    expect(() => keyringFromPublicKeys(lying)).toThrow(/does not match its key/);
    try {
      keyringFromPublicKeys(lying);
    } catch (e) {
      expect((e as SandboxError).code).toBe(ErrorCode.KEY_STORE);
    }
  });

  it('rejects malformed keys and entries', () => {
    const a = CapsuleSigner.generate();
    const raw = Buffer.from(a.publicKey, 'base64');
    const bad: unknown[] = [
      [{ keyId: a.keyId, publicKey: raw.subarray(0, 31).toString('base64') }],
      [{ keyId: a.keyId, publicKey: Buffer.concat([raw, Buffer.from([1])]).toString('base64') }],
      [{ keyId: a.keyId, publicKey: raw.toString('hex') }],
      [{ keyId: a.keyId }],
      [{ keyId: a.keyId, publicKey: a.publicKey, extra: 1 }],
      [null],
      'not a list',
    ];
    for (const list of bad) {
      expect(() => keyringFromPublicKeys(list as never)).toThrow(SandboxError);
    }
  });
});
