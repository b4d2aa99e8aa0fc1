/**
 * Capsules: the signed unit of work that crosses from the front to the sandbox host.
 *
 * A capsule body is a JSON object (see `CapsuleBodySchema`) serialized with `canonicalJson`
 * (RFC 8785 / JCS for the JSON this product uses). Its id is the lowercase hex SHA-256 of the
 * UTF-8 bytes of that text. The Ed25519 signature covers `CAPSULE_DOMAIN_TAG || utf8(body)`, so
 * a signature made for some other purpose with the same key can never pass as a capsule.
 *
 * This module is imported by both processes. It is pure: node:crypto, zod and ./protocol only,
 * and it caches nothing derived from its inputs.
 */
import {
  createHash,
  createPublicKey,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import * as z from 'zod';
import { ErrorCode, SandboxError } from './errors.js';
import type { JsonValue } from './json.js';

// ---------------------------------------------------------------------------------------------
// Canonical JSON (RFC 8785)
// ---------------------------------------------------------------------------------------------

/**
 * The RFC 8785 (JCS) text of `value`: object keys sorted by UTF-16 code units, no whitespace,
 * strings escaped as `JSON.stringify` does, numbers in ECMAScript shortest round-trip form
 * (`-0` becomes `0`).
 *
 * Throws a TypeError for anything that is not plain JSON: non-finite numbers, `undefined`,
 * functions, symbols, bigints, holes in arrays, cycles, objects whose prototype is neither
 * `Object.prototype` nor `null` (Date, Map, class instances, boxed primitives...), and keys
 * named `__proto__` (legal JSON, but a trap for any later `Object.assign`; nothing we sign
 * uses one).
 */
export function canonicalJson(value: JsonValue): string {
  return serialize(value, []);
}

function serialize(value: unknown, stack: object[]): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${String(value)}`);
      // Number#toString is the ECMAScript shortest form JCS prescribes; JSON.stringify gives "0" for -0.
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: ${typeof value} is not a JSON value`);
  }
  if (value === null) return 'null';
  if (stack.includes(value)) throw new TypeError('canonicalJson: cyclic structure');
  stack.push(value);
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) throw new TypeError('canonicalJson: sparse array');
      if (i > 0) out += ',';
      out += serialize(value[i], stack);
    }
    out += ']';
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError('canonicalJson: not a plain object');
    }
    // Default sort compares UTF-16 code units, which is exactly the JCS order.
    const keys = Object.keys(value).sort();
    const rec = value as Record<string, unknown>;
    out = '{';
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      if (k === '__proto__') throw new TypeError('canonicalJson: key "__proto__" is not allowed');
      if (i > 0) out += ',';
      out += JSON.stringify(k) + ':' + serialize(rec[k], stack);
    }
    out += '}';
  }
  stack.pop();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hashing and key ids
// ---------------------------------------------------------------------------------------------

/** Lowercase hex SHA-256 of `bytes` (a string is hashed as its UTF-8 bytes). */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A key's id: the first 16 hex characters of SHA-256 of its raw 32-byte Ed25519 public key. */
export function keyIdFor(rawPublicKey: Uint8Array): string {
  if (rawPublicKey.length !== 32) throw new TypeError('keyIdFor: an Ed25519 public key has 32 bytes');
  return sha256Hex(rawPublicKey).slice(0, 16);
}

/** A capsule's id: lowercase hex SHA-256 of the UTF-8 bytes of its canonical body text. */
export function capsuleId(body: string): string {
  return sha256Hex(body);
}

/** Domain separation: the signature covers these bytes followed by the UTF-8 body. */
export const CAPSULE_DOMAIN_TAG: Uint8Array = new Uint8Array(Buffer.from('wasm-sandbox-mcp/capsule/v1\0', 'utf8'));

/** Private copy used for signing input, so a caller mutating the exported tag changes nothing. */
const TAG_BUFFER = Buffer.from('wasm-sandbox-mcp/capsule/v1\0', 'utf8');

/** The exact bytes an Ed25519 capsule signature covers: `CAPSULE_DOMAIN_TAG || utf8(body)`. */
export function capsuleSigningInput(body: string): Buffer {
  const bodyLen = Buffer.byteLength(body, 'utf8');
  const out = Buffer.allocUnsafe(TAG_BUFFER.length + bodyLen);
  TAG_BUFFER.copy(out, 0);
  out.write(body, TAG_BUFFER.length, 'utf8');
  return out;
}

/** Allowed difference between the signer's clock and the verifier's, for `createdAt`. */
export const CAPSULE_CLOCK_SKEW_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

const positiveInt = z.number().int().positive();
const HEX64 = /^[0-9a-f]{64}$/;
const KEY_ID = /^[0-9a-f]{16}$/;
/** 16 bytes in unpadded base64url: 22 characters, the last one carrying 2 data bits. */
const NONCE = /^[A-Za-z0-9_-]{21}[AQgw]$/;
/** 64 bytes in padded standard base64: 86 characters + "==", the last one carrying 2 data bits. */
const SIGNATURE_B64 = /^[A-Za-z0-9+/]{85}[AQgw]==$/;
/** 32 bytes in padded standard base64: 43 characters + "=", the last one carrying 4 data bits. */
const PUBLIC_KEY_B64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export const CapsuleLimitsSchema = z.looseObject({
  timeoutMs: positiveInt,
  memMb: positiveInt,
  stdoutBytes: positiveInt,
  stderrBytes: positiveInt,
});

export const CapsuleFileSchema = z.strictObject({
  path: z.string().min(1),
  sha256: z.string().regex(HEX64, 'sha256 must be 64 lowercase hex characters'),
  size: z.number().int().nonnegative(),
});

/**
 * The signed body. Objects are strict except `policy` and `policy.limits`, which carry the
 * whole effective policy (the four limits below are required; other policy sections and
 * limits, e.g. `codeBytes`, ride along and are covered by the signature).
 */
export const CapsuleBodySchema = z
  .strictObject({
    v: z.literal(1),
    language: z.enum(['js', 'python']),
    code: z.string(),
    /**
     * The JavaScript code is TypeScript: the sandbox strips its types before running it. One
     * spelling only (present and true, or absent), so capsules signed before it existed stay valid.
     */
    typescript: z.literal(true).optional(),
    session: z.string().nullable(),
    policy: z.looseObject({ limits: CapsuleLimitsSchema }),
    files: z.array(CapsuleFileSchema),
    /** A value handed to the code as data (registry capsules); never spliced into source. */
    input: z.json().optional(),
    createdAt: z.number().int().nonnegative(),
    expiresAt: z.number().int().nonnegative(),
    nonce: z.string().regex(NONCE, 'nonce must be 16 bytes in unpadded base64url'),
    keyId: z.string().regex(KEY_ID, 'keyId must be 16 lowercase hex characters'),
  })
  .refine((b) => b.expiresAt > b.createdAt, { message: 'expiresAt must be after createdAt', path: ['expiresAt'] })
  .refine((b) => b.typescript === undefined || b.language === 'js', { message: 'typescript applies to js only', path: ['typescript'] });

export type CapsuleBody = z.infer<typeof CapsuleBodySchema>;
export type CapsuleLanguage = CapsuleBody['language'];
export type CapsuleFile = z.infer<typeof CapsuleFileSchema>;

/** The wire form: the canonical body text, its base64 Ed25519 signature, and the key's id. */
export const SignedCapsuleSchema = z.strictObject({
  body: z.string(),
  signature: z.string(),
  keyId: z.string(),
});

export type SignedCapsule = z.infer<typeof SignedCapsuleSchema>;

/** One trusted public key: raw 32 bytes in standard base64, and its `keyIdFor` id. */
export const PublicKeyEntrySchema = z.strictObject({
  keyId: z.string(),
  publicKey: z.string(),
});

export type PublicKeyEntry = z.infer<typeof PublicKeyEntrySchema>;

// ---------------------------------------------------------------------------------------------
// Keyring
// ---------------------------------------------------------------------------------------------

/** Trusted verification keys by key id. */
export type Keyring = Map<string, KeyObject>;

/**
 * Decode a standard base64 string that must encode exactly `len` bytes, refusing any
 * alternative spelling (missing padding, stray characters, non-zero trailing bits).
 * Returns undefined when it does not.
 */
function strictBase64(s: string, re: RegExp, len: number): Buffer | undefined {
  if (!re.test(s)) return undefined;
  const buf = Buffer.from(s, 'base64');
  return buf.length === len ? buf : undefined;
}

/** Decode a raw 32-byte Ed25519 public key from standard base64; undefined when malformed. */
export function decodePublicKey(b64: string): Uint8Array | undefined {
  const buf = strictBase64(b64, PUBLIC_KEY_B64, 32);
  return buf === undefined ? undefined : new Uint8Array(buf);
}

/** A node KeyObject for a raw 32-byte Ed25519 public key. */
export function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

/**
 * Build a keyring. Every entry must be `{keyId, publicKey}` with `publicKey` the raw 32-byte key
 * in base64 and `keyId === keyIdFor(key)`; anything else throws SandboxError(KEY_STORE).
 */
export function keyringFromPublicKeys(list: readonly PublicKeyEntry[]): Keyring {
  const ring: Keyring = new Map();
  if (!Array.isArray(list)) throw new SandboxError(ErrorCode.KEY_STORE, 'public key list must be an array');
  list.forEach((entry, i) => {
    const parsed = PublicKeyEntrySchema.safeParse(entry);
    if (!parsed.success) {
      throw new SandboxError(ErrorCode.KEY_STORE, `public key entry ${i} must be {keyId, publicKey} strings`);
    }
    const raw = decodePublicKey(parsed.data.publicKey);
    if (raw === undefined) {
      throw new SandboxError(
        ErrorCode.KEY_STORE,
        `public key entry ${i} (${parsed.data.keyId}): publicKey must be 32 bytes in base64`,
      );
    }
    const expected = keyIdFor(raw);
    if (parsed.data.keyId !== expected) {
      throw new SandboxError(
        ErrorCode.KEY_STORE,
        `public key entry ${i}: keyId ${JSON.stringify(parsed.data.keyId)} does not match its key (expected ${expected})`,
      );
    }
    let key: KeyObject;
    try {
      key = publicKeyObject(raw);
    } catch (cause) {
      throw new SandboxError(ErrorCode.KEY_STORE, `public key entry ${i} (${expected}) is not a valid Ed25519 key`, {
        cause,
      });
    }
    ring.set(expected, key);
  });
  return ring;
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

/** A signature check over the exact signed bytes; must return false (not throw) when invalid. */
export type SignatureCheck = (keyId: string, data: Uint8Array, signature: Uint8Array) => boolean;

function invalid(reason: string): never {
  throw new SandboxError(ErrorCode.CAPSULE_INVALID, `capsule refused: ${reason}`);
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid';
  const where = issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
  return `${where}: ${issue.message}`;
}

/**
 * Verify a wire capsule. `hasKey` says whether a key id is trusted; `check` verifies the
 * signature. Shared by `verifyCapsule` (node:crypto) and the CLI's noble-based verifier so the
 * two can never disagree on anything but the signature arithmetic.
 */
export function verifyCapsuleWith(
  wire: unknown,
  hasKey: (keyId: string) => boolean,
  check: SignatureCheck,
  nowMs: number,
): { id: string; body: CapsuleBody } {
  const w = SignedCapsuleSchema.safeParse(wire);
  if (!w.success) invalid(`wire form must be {body, signature, keyId} strings (${describeIssue(w.error)})`);
  const { body, signature, keyId } = w.data;

  if (!hasKey(keyId)) invalid(`unknown signing key ${JSON.stringify(keyId.slice(0, 64))}`);

  const sig = strictBase64(signature, SIGNATURE_B64, 64);
  if (sig === undefined) invalid('signature must be exactly 64 bytes in standard base64');

  const data = capsuleSigningInput(body);
  let ok = false;
  try {
    ok = check(keyId, data, sig);
  } catch {
    ok = false;
  }
  if (ok !== true) invalid(`signature does not verify with key ${keyId}`);

  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    invalid('body is not JSON');
  }
  const b = CapsuleBodySchema.safeParse(parsed);
  if (!b.success) invalid(`body does not match the capsule schema (${describeIssue(b.error)})`);

  let canonical: string | undefined;
  try {
    canonical = canonicalJson(parsed as JsonValue);
  } catch {
    canonical = undefined;
  }
  if (canonical !== body) invalid('body is not in canonical JSON form');

  if (b.data.keyId !== keyId) invalid(`body keyId ${b.data.keyId} differs from the wire keyId ${keyId}`);
  if (!Number.isFinite(nowMs)) invalid('verifier clock is not a finite number');
  if (b.data.createdAt > nowMs + CAPSULE_CLOCK_SKEW_MS) {
    invalid(`createdAt is ${b.data.createdAt - nowMs} ms in the future`);
  }
  if (b.data.expiresAt <= nowMs) invalid(`expired ${nowMs - b.data.expiresAt} ms ago`);

  // Same as capsuleId(body), without encoding the body to UTF-8 a second time.
  return { id: sha256Hex(data.subarray(TAG_BUFFER.length)), body: b.data };
}

/**
 * Verify a wire capsule against `keyring` at time `nowMs`, with node:crypto's Ed25519.
 * Returns the capsule's id and its validated body; every failure throws
 * SandboxError(CAPSULE_INVALID) whose message names what failed.
 */
export function verifyCapsule(wire: unknown, keyring: Keyring, nowMs: number): { id: string; body: CapsuleBody } {
  return verifyCapsuleWith(
    wire,
    (keyId) => keyring.has(keyId),
    (keyId, data, sig) => {
      const key = keyring.get(keyId);
      return key !== undefined && cryptoVerify(null, data, key, sig);
    },
    nowMs,
  );
}
