/**
 * The messages between the front and the sandbox host, over Node's IPC channel.
 * Both sides validate what they receive: the front treats every host message as hostile input
 * (a compromised host could send anything), and the host refuses malformed instructions.
 */
import * as z from 'zod';
import { MAX_JSON_DEPTH, isJsonValue, type JsonValue } from './json.js';

export const SESSION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const LanguageSchema = z.enum(['js', 'python']);

/** Checked in place, never rebuilt: a result keeps every key a guest gave it. */
const JsonValueSchema = z.custom<JsonValue>((v) => isJsonValue(v), `expected JSON data (a tree of at most ${MAX_JSON_DEPTH} levels)`);

const Bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected bytes');

export const SignedCapsuleWire = z.strictObject({
  body: z.string(),
  signature: z.string(),
  keyId: z.string(),
});

/** A session file sent with a run; its path, size and digest are in the signed capsule. `mtimeMs` is unsigned metadata for `stat`. */
export const InputFileWire = z.strictObject({ path: z.string(), data: Bytes, mtimeMs: z.number().nonnegative().optional() });

/** Largest snapshot the front accepts (Pyodide's is ~30 MB). */
export const MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024;

/**
 * A snapshot in the front's signed cache. The front checked the file against its signed record;
 * the host reads it once and accepts the bytes only if they match `size` and `sha256` again (the
 * file may have changed in between). The front thus never holds or sends ~30 MB itself.
 */
export const SnapshotFileRef = z.strictObject({
  path: z.string().min(1).max(4096),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().positive().max(MAX_SNAPSHOT_BYTES),
});
export type SnapshotFileRef = z.infer<typeof SnapshotFileRef>;

// ---- front → host ----------------------------------------------------------------------------

export const InitMessage = z.strictObject({
  t: z.literal('init'),
  keyring: z.array(z.strictObject({ keyId: z.string(), publicKey: z.string() })).min(1),
  /** Warm spare workers kept per language, so a new session starts in milliseconds. */
  spares: z.strictObject({ js: z.number().int().min(0).max(16), python: z.number().int().min(0).max(16) }),
  /** Memory limit of pre-warmed runtimes (the policy's memMb). */
  memMb: z.number().int().min(1).max(65_536),
  /** Grace between the soft stop and `worker.terminate()`. */
  graceMs: z.number().int().min(1).max(10_000),
  /**
   * Python's memory snapshot: the cache file the host reads and checks itself (`file`), its bytes
   * (when it could not be cached), or `pending` when the front is still reading or making it (it
   * follows in a `snapshot` message); none of these: the host takes its own at the first Python run.
   */
  python: z.strictObject({ snapshot: Bytes.optional(), file: SnapshotFileRef.optional(), pending: z.boolean() }).optional(),
  /** The policy's Python wheels; a run gets only those whose bytes match a digest in its capsule. */
  wheels: z.array(z.strictObject({ filename: z.string().max(255), data: Bytes })).max(1000).optional(),
});

/** The snapshot the front promised in `init` (neither data nor file: it has none). */
export const SnapshotMessage = z.strictObject({
  t: z.literal('snapshot'),
  language: z.literal('python'),
  data: Bytes.optional(),
  file: SnapshotFileRef.optional(),
});

export const RunMessage = z.strictObject({
  t: z.literal('run'),
  id: z.number().int().nonnegative(),
  capsule: SignedCapsuleWire,
  files: z.array(InputFileWire),
});

export const CancelMessage = z.strictObject({ t: z.literal('cancel'), id: z.number().int().nonnegative() });
export const DropMessage = z.strictObject({
  t: z.literal('drop'),
  language: LanguageSchema,
  session: z.string().regex(SESSION_NAME),
});

// ---- the network path: guest → host → front (the broker decides) → host → guest -------------

/** What one network message between host and front may carry; the broker keeps its answers within them. */
export const WIRE_LIMITS = { url: 8192, method: 32, headers: 200, headerName: 8192, headerValue: 65_536, statusText: 1024, message: 4096 } as const;

const HeaderPairs = z.array(z.tuple([z.string().max(WIRE_LIMITS.headerName), z.string().max(WIRE_LIMITS.headerValue)])).max(WIRE_LIMITS.headers);

/** A guest's request as the host passes it on; the front's broker validates every part again. */
export const FetchRequestWire = z.strictObject({
  url: z.string().max(WIRE_LIMITS.url),
  method: z.string().max(WIRE_LIMITS.method),
  headers: HeaderPairs,
  body: Bytes.optional(),
  /** A body over the run's network.maxRequestBodyBytes stays in the sandbox host; only its size travels. */
  unsentBodyBytes: z.number().int().nonnegative().optional(),
  /** Why the sandbox host found the guest's request malformed: the broker refuses it, and logs it. */
  malformed: z.string().max(256).optional(),
});
export type FetchRequestWire = z.infer<typeof FetchRequestWire>;

export const FetchResultWire = z.union([
  z.strictObject({
    ok: z.literal(true),
    response: z.strictObject({
      status: z.number().int().min(0).max(999),
      statusText: z.string().max(WIRE_LIMITS.statusText),
      headers: HeaderPairs,
      body: Bytes,
      url: z.string().max(WIRE_LIMITS.url),
      redirected: z.boolean(),
    }),
  }),
  z.strictObject({ ok: z.literal(false), code: z.string().max(64), message: z.string().max(WIRE_LIMITS.message) }),
]);
export type FetchResultWire = z.infer<typeof FetchResultWire>;

export const FetchResultMessage = z.strictObject({
  t: z.literal('fetch-result'),
  id: z.number().int().nonnegative(),
  fetchId: z.number().int().nonnegative(),
  result: FetchResultWire,
});

export const FrontMessage = z.discriminatedUnion('t', [InitMessage, RunMessage, CancelMessage, DropMessage, FetchResultMessage, SnapshotMessage]);
export type FrontMessage = z.infer<typeof FrontMessage>;
export type RunMessage = z.infer<typeof RunMessage>;
export type InitMessage = z.infer<typeof InitMessage>;

// ---- host → front ----------------------------------------------------------------------------

/** Longest error fields a host→front message may carry (the host clips to these: see `clipGuestError`). */
export const GUEST_ERROR_LIMITS = { type: 200, message: 64 * 1024, traceback: 256 * 1024 } as const;

export const GuestErrorWire = z.strictObject({
  type: z.string().max(GUEST_ERROR_LIMITS.type),
  message: z.string().max(GUEST_ERROR_LIMITS.message),
  traceback: z.string().max(GUEST_ERROR_LIMITS.traceback).optional(),
});

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = '…[truncated]';
  return text.slice(0, max - marker.length) + marker;
}

/**
 * A guest's error as the wire allows it. The guest chooses these strings (a Python class named with
 * 300 characters, a forged runner payload): one over a limit would make the whole host message
 * invalid, which the front answers by restarting the host — every session's state lost.
 */
export function clipGuestError(error: { type: string; message: string; traceback?: string | undefined }): z.infer<typeof GuestErrorWire> {
  const out: z.infer<typeof GuestErrorWire> = { type: clip(String(error.type), GUEST_ERROR_LIMITS.type), message: clip(String(error.message), GUEST_ERROR_LIMITS.message) };
  if (typeof error.traceback === 'string') out.traceback = clip(error.traceback, GUEST_ERROR_LIMITS.traceback);
  return out;
}

/** Most file changes one run's outcome may carry (the host leaves out the rest, with a note). */
export const MAX_REPORTED_FILE_CHANGES = 10_000;

export const OutputFileWire = z.strictObject({
  path: z.string().max(4096),
  kind: z.enum(['file', 'symlink', 'other']),
  data: Bytes.optional(),
  deleted: z.boolean().optional(),
});

export const RunOutcomeWire = z.strictObject({
  /** Stable error code when the run did not succeed. */
  code: z.string().max(64).optional(),
  stdout: z.string(),
  stderr: z.string(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  result: JsonValueSchema.optional(),
  /** Why there is no result; the front appends it to stderr even when stderr is full. */
  note: z.string().max(1024).optional(),
  error: GuestErrorWire.optional(),
  durationMs: z.number().nonnegative(),
  /** The runtime had no earlier state (a new session, or one whose runtime was discarded). */
  freshState: z.boolean(),
  files: z.array(OutputFileWire).max(MAX_REPORTED_FILE_CHANGES).optional(),
});
export type RunOutcomeWire = z.infer<typeof RunOutcomeWire>;

export const ReadyMessage = z.strictObject({
  t: z.literal('ready'),
  pid: z.number().int(),
  node: z.string(),
  restrictions: z.array(z.string()),
});
export const ResultMessage = z.strictObject({ t: z.literal('result'), id: z.number().int().nonnegative(), outcome: RunOutcomeWire });
export const RefusedMessage = z.strictObject({
  t: z.literal('refused'),
  id: z.number().int().nonnegative(),
  code: z.string().max(64),
  message: z.string().max(4096),
});
export const LogMessage = z.strictObject({
  t: z.literal('log'),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  msg: z.string().max(8192),
});

export const FetchMessage = z.strictObject({
  t: z.literal('fetch'),
  /** The run that asks. */
  id: z.number().int().nonnegative(),
  fetchId: z.number().int().nonnegative(),
  request: FetchRequestWire,
});

export const HostMessage = z.discriminatedUnion('t', [ReadyMessage, ResultMessage, RefusedMessage, LogMessage, FetchMessage]);
export type HostMessage = z.infer<typeof HostMessage>;

// ---- the snapshot maker → front ----------------------------------------------------------------

/**
 * What the snapshot maker (sandbox/snapshot-maker.ts, a restricted process that never runs guest
 * code) sends: the snapshot, or why it failed.
 */
export const MakerMessage = z.discriminatedUnion('t', [
  z.strictObject({
    t: z.literal('snapshot'),
    language: z.literal('python'),
    data: Bytes.refine((b) => b.byteLength > 0 && b.byteLength <= MAX_SNAPSHOT_BYTES, 'snapshot size out of range'),
  }),
  // The maker wrote the snapshot into the one file the front made and granted it (front/snapshot/maker.ts).
  z.strictObject({ t: z.literal('written'), size: z.number().int().positive().max(MAX_SNAPSHOT_BYTES) }),
  z.strictObject({ t: z.literal('failed'), message: z.string().max(4096) }),
]);
export type MakerMessage = z.infer<typeof MakerMessage>;
