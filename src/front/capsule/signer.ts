/**
 * Capsule signing (front only).
 *
 * The hot path signs with node:crypto's Ed25519 (OpenSSL), roughly ten times faster here than a
 * pure-JS implementation. @noble/ed25519 is the independent second implementation: the CLI's
 * `verify` command uses `verifyWithNoble`, and the tests prove both produce byte-identical
 * signatures (Ed25519 signing is deterministic) and agree on validity.
 */
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import {
  CapsuleBodySchema,
  canonicalJson,
  capsuleSigningInput,
  decodePublicKey,
  keyIdFor,
  keyringFromPublicKeys,
  verifyCapsuleWith,
  type CapsuleBody,
  type PublicKeyEntry,
  type SignedCapsule,
} from '../../protocol/capsule.js';
import { ErrorCode, SandboxError } from '../../protocol/errors.js';
import type { JsonValue } from '../../protocol/json.js';

// noble's synchronous API needs a SHA-512; it is the same function for every caller.
ed.hashes.sha512 = sha512;

const CAPSULE_TAG_TEXT = 'wasm-sandbox-mcp/capsule/v1\0';

/** PKCS#8 DER header for an Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** SPKI DER header for an Ed25519 public key; the 32 raw bytes follow. */
const SPKI_ED25519_PREFIX_LEN = 12;

/** Default capsule lifetime: long enough for queueing, short enough that a leaked capsule dies. */
export const DEFAULT_CAPSULE_TTL_MS = 60_000;

export interface CapsuleSignerOptions {
  /** Older (rotated-out) public keys that should still verify; returned by `publicKeys()`. */
  verifyOnly?: readonly PublicKeyEntry[];
}

/** Holds one Ed25519 private key and signs capsule bodies with it. */
export class CapsuleSigner {
  /** `keyIdFor` of this signer's public key. */
  readonly keyId: string;
  /** This signer's raw 32-byte public key, standard base64. */
  readonly publicKey: string;
  readonly #privateKey: KeyObject;
  readonly #verifyOnly: readonly PublicKeyEntry[];

  /** `seed` is the 32-byte RFC 8032 secret key (not the 64-byte expanded form). */
  constructor(seed: Uint8Array, options: CapsuleSignerOptions = {}) {
    if (!(seed instanceof Uint8Array) || seed.length !== 32) {
      throw new SandboxError(ErrorCode.KEY_STORE, 'an Ed25519 seed must be exactly 32 bytes');
    }
    const der = Buffer.concat([PKCS8_ED25519_PREFIX, seed]);
    try {
      this.#privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
    const spki = createPublicKey(this.#privateKey).export({ format: 'der', type: 'spki' });
    const raw = new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX_LEN));
    this.keyId = keyIdFor(raw);
    this.publicKey = Buffer.from(raw).toString('base64');
    // Validates every entry (keyId matches key) and drops duplicates of our own key.
    keyringFromPublicKeys(options.verifyOnly ?? []);
    this.#verifyOnly = (options.verifyOnly ?? [])
      .filter((e) => e.keyId !== this.keyId)
      .map((e) => ({ keyId: e.keyId, publicKey: e.publicKey }));
  }

  /** A signer with a fresh random key (tests, ephemeral servers). */
  static generate(options?: CapsuleSignerOptions): CapsuleSigner {
    const seed = randomBytes(32);
    try {
      return new CapsuleSigner(seed, options);
    } finally {
      seed.fill(0);
    }
  }

  /**
   * Sign `body`: validate it against the schema (a body the host would refuse is our bug, so it
   * throws INTERNAL), canonicalize, and sign `CAPSULE_DOMAIN_TAG || utf8(body)`.
   */
  sign(body: CapsuleBody): SignedCapsule {
    const parsed = CapsuleBodySchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue === undefined ? '' : ` at ${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`;
      throw new SandboxError(ErrorCode.INTERNAL, `refusing to sign an invalid capsule body${where}`);
    }
    if (body.keyId !== this.keyId) {
      throw new SandboxError(
        ErrorCode.INTERNAL,
        `capsule body names key ${body.keyId} but this signer holds ${this.keyId}`,
      );
    }
    let text: string;
    try {
      text = canonicalJson(body as unknown as JsonValue);
    } catch (cause) {
      throw new SandboxError(ErrorCode.INTERNAL, `capsule body is not plain JSON: ${(cause as Error).message}`, {
        cause,
      });
    }
    const signature = cryptoSign(null, capsuleSigningInput(text), this.#privateKey).toString('base64');
    return { body: text, signature, keyId: this.keyId };
  }

  /**
   * Sign `utf8(tag) || utf8(text)` for another document type with its own domain tag (the
   * registry's manifests), so a signature can never be replayed as a run capsule's.
   */
  signTagged(tag: string, text: string): string {
    if (!tag.endsWith('\0') || tag === CAPSULE_TAG_TEXT) throw new SandboxError(ErrorCode.INTERNAL, 'a domain tag must be distinct and NUL-terminated');
    return cryptoSign(null, Buffer.from(tag + text, 'utf8'), this.#privateKey).toString('base64');
  }

  /** Every public key a verifier should trust for this server: this one first, then older ones. */
  publicKeys(): PublicKeyEntry[] {
    return [{ keyId: this.keyId, publicKey: this.publicKey }, ...this.#verifyOnly.map((e) => ({ ...e }))];
  }
}

export interface BuildCapsuleBodyArgs {
  language: CapsuleBody['language'];
  code: string;
  /** The js code is TypeScript, stripped of its types in the sandbox. */
  typescript?: boolean;
  session?: string | null;
  policy: CapsuleBody['policy'];
  files?: CapsuleBody['files'];
  /** Data for the code (registry capsules); omitted when undefined. */
  input?: JsonValue;
  /** The signing key's id (`signer.keyId`). */
  keyId: string;
  /** Creation time; default `Date.now()`. */
  nowMs?: number;
  /** Lifetime; default 60 s. */
  ttlMs?: number;
}

/** A capsule body with createdAt/expiresAt (createdAt + ttl), a random 16-byte nonce and keyId filled in. */
export function buildCapsuleBody(args: BuildCapsuleBodyArgs): CapsuleBody {
  const createdAt = args.nowMs ?? Date.now();
  const ttl = args.ttlMs ?? DEFAULT_CAPSULE_TTL_MS;
  if (!Number.isSafeInteger(createdAt) || createdAt < 0) {
    throw new SandboxError(ErrorCode.INTERNAL, 'capsule createdAt must be a non-negative integer (ms)');
  }
  if (!Number.isSafeInteger(ttl) || ttl <= 0) {
    throw new SandboxError(ErrorCode.INTERNAL, 'capsule ttlMs must be a positive integer');
  }
  const body: CapsuleBody = {
    v: 1,
    language: args.language,
    code: args.code,
    session: args.session ?? null,
    policy: args.policy,
    files: args.files ?? [],
    createdAt,
    expiresAt: createdAt + ttl,
    nonce: randomBytes(16).toString('base64url'),
    keyId: args.keyId,
  };
  if (args.input !== undefined) body.input = args.input;
  if (args.typescript === true) body.typescript = true;
  return body;
}

// ---------------------------------------------------------------------------------------------
// @noble/ed25519: the independent implementation
// ---------------------------------------------------------------------------------------------

/** Ed25519 signature of `message` with the 32-byte `seed`, computed by @noble/ed25519. */
export function nobleSign(message: Uint8Array, seed: Uint8Array): Uint8Array {
  return ed.sign(message, seed);
}

/**
 * @noble/ed25519 verification (RFC 8032 strict branch, like OpenSSL, not ZIP-215).
 * noble throws on malformed input (wrong lengths, non-canonical encodings); that is `false`.
 */
export function nobleVerifySignature(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/**
 * `verifyCapsule` with @noble/ed25519 doing the signature arithmetic instead of node:crypto;
 * every other check is the same shared code. Throws SandboxError(CAPSULE_INVALID) like it, and
 * SandboxError(KEY_STORE) for a malformed key list.
 */
export function verifyWithNoble(
  wire: unknown,
  publicKeys: readonly PublicKeyEntry[],
  nowMs: number,
): { id: string; body: CapsuleBody } {
  keyringFromPublicKeys(publicKeys); // validates every entry; throws on a mismatched keyId
  const raw = new Map<string, Uint8Array>();
  for (const e of publicKeys) {
    const key = decodePublicKey(e.publicKey);
    if (key !== undefined) raw.set(e.keyId, key);
  }
  return verifyCapsuleWith(
    wire,
    (keyId) => raw.has(keyId),
    (keyId, data, sig) => {
      const key = raw.get(keyId);
      return key !== undefined && nobleVerifySignature(sig, data, key);
    },
    nowMs,
  );
}
