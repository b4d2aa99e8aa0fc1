/**
 * The registry of trusted capsules: signed manifests in `capsules/`, checked against
 * `capsules/trusted-keys.json` at start-up. Each valid manifest becomes its own MCP tool; an
 * invalid one is skipped with a warning that names it. Code only ever comes from a verified
 * manifest on disk — never from a URL or from tool arguments; arguments reach the code as a value.
 */
import { verify as cryptoVerify } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { canonicalJson, keyringFromPublicKeys, sha256Hex, PublicKeyEntrySchema, type Keyring, type PublicKeyEntry } from '../../protocol/capsule.js';
import { ErrorCode, SandboxError } from '../../protocol/errors.js';
import type { JsonValue } from '../../protocol/json.js';
import { PACKAGE_ROOT } from '../package-paths.js';
import type { CapsuleSigner } from './signer.js';

export const REGISTRY_TAG = 'wasm-sandbox-mcp/registry/v1\0';
export const REGISTRY_DIR = path.join(PACKAGE_ROOT, 'capsules');
export const MANIFEST_SUFFIX = '.capsule.json';
/** Names the built-in tools use; a manifest may not shadow them. */
const RESERVED = new Set(['run_js', 'run_python', 'reset_session']);

export const ManifestSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_]{0,47}$/, 'tool names are lower-case letters, digits and _ (max 48), starting with a letter'),
  title: z.string().max(100).optional(),
  description: z.string().min(1).max(4000),
  version: z.string().regex(/^\d+\.\d+\.\d+$/, 'version is x.y.z'),
  language: z.enum(['js', 'python']),
  /** JSON Schema of the tool's arguments (an object schema). */
  inputSchema: z.looseObject({ type: z.literal('object') }),
  code: z.string().min(1).max(1024 * 1024),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export const SignedManifestSchema = z.strictObject({
  manifest: ManifestSchema,
  keyId: z.string(),
  signature: z.string(),
});
export type SignedManifest = z.infer<typeof SignedManifestSchema>;

export const TrustedKeysSchema = z.strictObject({ keys: z.array(PublicKeyEntrySchema) });

function refuse(what: string): never {
  throw new SandboxError(ErrorCode.CAPSULE_INVALID, what);
}

export function signManifest(manifest: Manifest, signer: CapsuleSigner): SignedManifest {
  const parsed = ManifestSchema.parse(manifest);
  return { manifest: parsed, keyId: signer.keyId, signature: signer.signTagged(REGISTRY_TAG, canonicalJson(parsed as unknown as JsonValue)) };
}

/** Verify a signed manifest document; returns the manifest and its id (SHA-256 of its canonical form). */
export function verifyManifest(doc: unknown, keyring: Keyring): { manifest: Manifest; id: string } {
  const parsed = SignedManifestSchema.safeParse(doc);
  if (!parsed.success) refuse(`not a signed manifest: ${parsed.error.issues[0]?.path.join('.') || '(root)'}: ${parsed.error.issues[0]?.message}`);
  const { manifest, keyId, signature } = parsed.data;
  if (RESERVED.has(manifest.name)) refuse(`the name ${manifest.name} is reserved`);
  const key = keyring.get(keyId);
  if (!key) refuse(`signed by key ${keyId}, which is not in trusted-keys.json`);
  const sig = Buffer.from(signature, 'base64');
  if (sig.length !== 64 || sig.toString('base64') !== signature) refuse('the signature is not 64 bytes of base64');
  const text = canonicalJson(manifest as unknown as JsonValue);
  let ok = false;
  try {
    ok = cryptoVerify(null, Buffer.from(REGISTRY_TAG + text, 'utf8'), key, sig);
  } catch {
    ok = false;
  }
  if (!ok) refuse('the signature does not match the manifest');
  try {
    z.fromJSONSchema(manifest.inputSchema as never);
  } catch (e) {
    refuse(`its inputSchema is not a usable JSON Schema (${(e as Error).message})`);
  }
  return { manifest, id: sha256Hex(text) };
}

export interface LoadedRegistry {
  tools: Array<{ manifest: Manifest; id: string; file: string }>;
  rejected: Array<{ file: string; reason: string }>;
}

export function loadTrustedKeys(dir: string): PublicKeyEntry[] {
  const file = path.join(dir, 'trusted-keys.json');
  if (!fs.existsSync(file)) return [];
  const parsed = TrustedKeysSchema.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) throw new SandboxError(ErrorCode.CONFIG, `invalid ${file}: ${parsed.error.issues[0]?.message}`);
  return parsed.data.keys;
}

/** Load and verify every `*.capsule.json` in `dir`. Never throws for a bad manifest: it is rejected. */
export function loadRegistry(dir: string = REGISTRY_DIR): LoadedRegistry {
  const out: LoadedRegistry = { tools: [], rejected: [] };
  // A registry that was asked for and is not there is a configuration error, not an empty registry.
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new SandboxError(ErrorCode.CONFIG, `the registry directory ${dir} does not exist (--registry, or off for none)`);
  }
  if (!stat.isDirectory()) throw new SandboxError(ErrorCode.CONFIG, `the registry ${dir} is not a directory (--registry, or off for none)`);
  const keyring = keyringFromPublicKeys(loadTrustedKeys(dir));
  const seen = new Set<string>();
  for (const name of fs.readdirSync(dir).sort()) {
    if (!name.endsWith(MANIFEST_SUFFIX)) continue;
    const file = path.join(dir, name);
    try {
      const { manifest, id } = verifyManifest(JSON.parse(fs.readFileSync(file, 'utf8')), keyring);
      if (seen.has(manifest.name)) refuse(`a second manifest named ${manifest.name}`);
      seen.add(manifest.name);
      out.tools.push({ manifest, id, file });
    } catch (e) {
      out.rejected.push({ file, reason: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}
