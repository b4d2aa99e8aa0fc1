/**
 * Entry of the sandbox host process. It checks its own restrictions, takes the keyring from the
 * front, and then runs capsules it has verified — nothing else. Every instruction from the IPC
 * channel is validated; a bad one is refused, never half-obeyed.
 */
// First: takes the global `gc` away before anything else runs in this realm.
import { collectGarbage } from './garbage.js';
import { ErrorCode, SandboxError, isSandboxError } from '../protocol/errors.js';
import { keyringFromPublicKeys, sha256Hex, verifyCapsule, type Keyring } from '../protocol/capsule.js';
import { CapsuleFilesystemSchema, guestPrefixes } from '../protocol/guest-filesystem.js';
import {
  FetchRequestWire,
  FrontMessage,
  clipGuestError,
  MAX_REPORTED_FILE_CHANGES,
  WIRE_LIMITS,
  type FetchResultWire,
  type HostMessage,
  type RunMessage,
  type RunOutcomeWire,
  type SnapshotFileRef,
} from '../protocol/messages.js';
import { WorkerPool } from './pool.js';
import { compilePyodideWasm } from './runtimes/pyodide/package.js';
import type { GuestFilesystem } from './runtimes/types.js';
import { selfCheck } from './self-check.js';
import { readSnapshotFile } from './snapshot-file.js';
import { WheelStore } from './wheel-store.js';
import { IDLE_COLLECT_MS, startIdleCollector } from '../shared/idle-collector.js';
import type * as z from 'zod';

function send(msg: HostMessage): void {
  if (process.connected) process.send!(msg);
}

function log(level: 'debug' | 'info' | 'warn' | 'error', msg: string): void {
  send({ t: 'log', level, msg: msg.slice(0, 8000) });
}

const check = selfCheck();
if (!check.ok) {
  // Say why on both channels: the front may not have an IPC listener yet.
  process.stderr.write(`sandbox host refuses to start: restrictions not in force: ${check.failures.join(', ')}\n`);
  log('error', `sandbox host refuses to start: restrictions not in force: ${check.failures.join(', ')}`);
  process.exit(78);
}

let keyring: Keyring | undefined;
let pool: WorkerPool | undefined;
let wheels = new WheelStore();
const inflight = new Map<number, AbortController>();
/** Network requests waiting for the front's answer, by fetch id. */
const fetchWaiters = new Map<number, (result: FetchResultWire) => void>();
let nextFetchId = 1;
/** Settles Python's snapshot when the front sends the one it promised in `init`. */
let deliverPythonSnapshot: ((snapshot: Promise<Uint8Array | undefined>) => void) | undefined;

/**
 * Python's snapshot from what the front sent: the cache file (read and checked here), or bytes.
 * A file that fails its check is no snapshot: the pool then takes its own, which is only slower.
 */
async function pythonSnapshot(from: { data?: Uint8Array | undefined; file?: SnapshotFileRef | undefined }): Promise<Uint8Array | undefined> {
  if (from.data) return from.data;
  if (!from.file) return undefined;
  try {
    const bytes = await readSnapshotFile(from.file);
    log('info', 'python snapshot read from the cache file (digest checked)');
    return bytes;
  } catch (e) {
    log('warn', `${(e as Error).message}; python boots without it`);
    return undefined;
  }
}

/** What the front needs to refuse and log a request off the wire's shape: its clipped URL and method, and why. */
function malformedStub(request: unknown, error: z.ZodError): FetchRequestWire {
  const r = (typeof request === 'object' && request !== null ? request : {}) as { url?: unknown; method?: unknown };
  const clip = (v: unknown, max: number, otherwise: string) => (typeof v === 'string' ? v.slice(0, max) : otherwise);
  const field = error.issues[0]?.path[0];
  const why =
    field === 'url' ? `the URL is not a string of at most ${WIRE_LIMITS.url} characters`
    : field === 'method' ? `the method is not a string of at most ${WIRE_LIMITS.method} characters`
    : field === 'headers' ? `the headers are not at most ${WIRE_LIMITS.headers} [name, value] pairs of bounded size`
    : field === 'body' ? 'the body is not bytes'
    : 'malformed fetch arguments';
  return { url: clip(r.url, WIRE_LIMITS.url, ''), method: clip(r.method, WIRE_LIMITS.method, ''), headers: [], malformed: why };
}

/**
 * Pass a worker's network request to the front (run `id`), after checking its shape. A body over
 * the run's limit is not shipped (the front would only refuse it): its size goes instead.
 */
function fetchViaFront(id: number, request: unknown, maxBodyBytes: number, signal: AbortSignal): Promise<FetchResultWire> {
  const parsed = FetchRequestWire.safeParse(request);
  // Off the wire's shape: the front still hears of it (every attempt is logged), as a stub it refuses.
  const wire = parsed.success ? parsed.data : malformedStub(request, parsed.error);
  if (wire.body !== undefined && wire.body.byteLength > maxBodyBytes) {
    const { body, ...rest } = wire;
    return fetchViaFront(id, { ...rest, unsentBodyBytes: body.byteLength }, maxBodyBytes, signal);
  }
  const fetchId = nextFetchId++;
  return new Promise((resolve) => {
    const settle = (result: FetchResultWire) => {
      fetchWaiters.delete(fetchId);
      signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const onAbort = () => settle({ ok: false, code: ErrorCode.CANCELLED, message: 'the run ended' });
    signal.addEventListener('abort', onAbort, { once: true });
    fetchWaiters.set(fetchId, settle);
    send({ t: 'fetch', id, fetchId, request: wire });
  });
}

/**
 * The guest's filesystem for a run, from the signed policy and the verified files. A capsule
 * without a filesystem section gets no access at all; a malformed one is refused.
 */
function guestFilesystem(policy: unknown, files: RunMessage['files']): GuestFilesystem {
  if (policy === undefined) {
    return { initial: [], writable: [], readonly: [], limits: { quotaBytes: 0, maxFiles: 0, maxFileBytes: 0 } };
  }
  const parsed = CapsuleFilesystemSchema.safeParse(policy);
  if (!parsed.success) throw new SandboxError(ErrorCode.CAPSULE_INVALID, 'capsule refused: policy.filesystem is malformed');
  const fs = parsed.data;
  return {
    initial: files.map((f) => (f.mtimeMs === undefined ? { path: f.path, data: f.data } : { path: f.path, data: f.data, mtimeMs: f.mtimeMs })),
    ...guestPrefixes(fs),
    limits: { quotaBytes: fs.quotaBytes, maxFiles: fs.maxFiles, maxFileBytes: fs.maxFileBytes },
  };
}

/** Whether the signed policy enables the network (anything malformed means no). */
function networkEnabled(network: unknown): boolean {
  return typeof network === 'object' && network !== null && (network as { enabled?: unknown }).enabled === true;
}

/** The signed policy's request-body limit (the front checks it again); 0 where it is missing. */
function maxRequestBodyBytes(network: unknown): number {
  const max = typeof network === 'object' && network !== null ? (network as { maxRequestBodyBytes?: unknown }).maxRequestBodyBytes : undefined;
  return typeof max === 'number' && Number.isSafeInteger(max) && max >= 0 ? max : 0;
}

const RUN_ENDED = 'the run ended';

async function handleRun(msg: RunMessage): Promise<void> {
  const abort = new AbortController();
  inflight.set(msg.id, abort);
  try {
    if (!keyring || !pool) throw new SandboxError(ErrorCode.INTERNAL, 'sandbox host is not initialised');
    // Verify first; run exactly the verified bytes.
    const { body } = verifyCapsule(msg.capsule, keyring, Date.now());
    if (msg.files.length !== body.files.length) throw new SandboxError(ErrorCode.CAPSULE_INVALID, 'input files do not match the capsule');
    body.files.forEach((f, i) => {
      const got = msg.files[i]!;
      if (got.path !== f.path || got.data.byteLength !== f.size || sha256Hex(got.data) !== f.sha256) {
        throw new SandboxError(ErrorCode.CAPSULE_INVALID, `input file ${JSON.stringify(f.path)} does not match its digest in the capsule`);
      }
    });
    const limits = body.policy.limits;
    const r = await pool.run(
      body.language,
      body.session,
      {
        code: body.code,
        typescript: body.typescript === true,
        limits: { timeoutMs: limits.timeoutMs, memMb: limits.memMb, stdoutBytes: limits.stdoutBytes, stderrBytes: limits.stderrBytes },
        files: guestFilesystem(body.policy.filesystem, msg.files),
        input: body.input,
        network: networkEnabled(body.policy.network),
        ...(body.language === 'python' ? { packages: wheels.forCapsule(body.policy['python']) } : {}),
      },
      abort.signal,
      (request) => fetchViaFront(msg.id, request, maxRequestBodyBytes(body.policy.network), abort.signal),
    );
    const outcome: RunOutcomeWire = {
      ...r.output,
      durationMs: r.durationMs,
      freshState: r.freshState,
    };
    if (r.outcome.status === 'ok') {
      if (r.outcome.result !== undefined) outcome.result = r.outcome.result;
      if (r.outcome.note !== undefined) outcome.note = r.outcome.note.slice(0, 1024);
    } else {
      outcome.code = r.outcome.code;
      outcome.error = clipGuestError(r.outcome.error);
    }
    const files = r.outcome.files ?? [];
    if (files.length > MAX_REPORTED_FILE_CHANGES) {
      outcome.files = files.slice(0, MAX_REPORTED_FILE_CHANGES);
      outcome.stderr += `[files: the run changed ${files.length} files; only the first ${MAX_REPORTED_FILE_CHANGES} changes were kept]\n`;
    } else if (files.length > 0) outcome.files = files;
    send({ t: 'result', id: msg.id, outcome });
  } catch (e) {
    const code = isSandboxError(e) ? e.code : ErrorCode.INTERNAL;
    const message = isSandboxError(e) ? e.message : 'the sandbox host failed to run the capsule';
    if (!isSandboxError(e)) log('error', `run ${msg.id} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    send({ t: 'refused', id: msg.id, code, message });
  } finally {
    // Network requests still waiting end with the run. A reason of our own: abort() without one
    // builds a DOMException with a stack: ~3% of this thread's busy time in warm runs (CPU profile).
    abort.abort(RUN_ENDED);
    inflight.delete(msg.id);
  }
}

/** Gives back this thread's garbage once the front has sent nothing for a while. */
const idle = startIdleCollector({ idleMs: IDLE_COLLECT_MS, collect: collectGarbage });

process.on('message', (raw: unknown) => {
  idle.touch();
  const parsed = FrontMessage.safeParse(raw);
  if (!parsed.success) {
    // Refuse, never half-obey; but answer a run or a request we can identify, so nothing waits.
    const r = raw as { t?: unknown; id?: unknown; fetchId?: unknown } | null;
    if (r && typeof r === 'object' && r.t === 'run' && Number.isSafeInteger(r.id) && (r.id as number) >= 0) {
      send({ t: 'refused', id: r.id as number, code: ErrorCode.CAPSULE_INVALID, message: 'capsule refused: the run message is malformed (unsigned or incomplete)' });
    } else if (r && typeof r === 'object' && r.t === 'fetch-result' && fetchWaiters.has(r.fetchId as number)) {
      // The guest waits on this request: it gets an error, not a wait until its time limit.
      fetchWaiters.get(r.fetchId as number)!({ ok: false, code: 'E_NETWORK', message: 'the response could not be passed into the sandbox' });
      log('warn', 'a malformed network response from the front was refused');
    } else log('warn', 'ignored a malformed message from the front');
    return;
  }
  const msg = parsed.data;
  switch (msg.t) {
    case 'init': {
      if (keyring) return log('warn', 'ignored a second init');
      keyring = keyringFromPublicKeys(msg.keyring);
      wheels = new WheelStore(msg.wheels);
      pool = new WorkerPool({
        spares: msg.spares,
        memMb: msg.memMb,
        graceMs: msg.graceMs,
        onWorkerError: (language, e) => log('error', `${language} runtime worker failed: ${e.message}`),
      });
      const python = msg.python;
      const snapshot: Promise<Uint8Array | undefined> = python?.pending
        ? new Promise<Uint8Array | undefined>((resolve) => (deliverPythonSnapshot = resolve))
        : pythonSnapshot({ data: python?.snapshot, file: python?.file });
      pool.setup('python', {
        // Compiled once here and cloned into each worker: a worker then only instantiates it.
        compile: () =>
          compilePyodideWasm().catch((e: Error) => {
            log('warn', `could not precompile Python's WebAssembly (each worker compiles its own): ${e.message}`);
            return undefined;
          }),
        snapshot,
      });
      // JavaScript first: it loads in a fraction of Python's time, and on a small machine the two
      // loading at once slowed the first run_js by ~0.2 s without making Python's first run sooner.
      const started = pool;
      started.warm('js');
      // (A JS spare that never settles must not keep Python cold: 5 s at most.)
      void Promise.race([started.firstSpareSettled('js'), new Promise((resolve) => setTimeout(resolve, 5000).unref())]).then(() => started.warm('python'));
      send({ t: 'ready', pid: process.pid, node: process.version, restrictions: check.restrictions });
      return;
    }
    case 'run':
      void handleRun(msg);
      return;
    case 'cancel':
      inflight.get(msg.id)?.abort();
      return;
    case 'fetch-result':
      fetchWaiters.get(msg.fetchId)?.(msg.result);
      return;
    case 'drop':
      pool?.drop(msg.language, msg.session);
      return;
    case 'snapshot':
      deliverPythonSnapshot?.(pythonSnapshot({ data: msg.data, file: msg.file }));
      deliverPythonSnapshot = undefined;
      return;
  }
});

// The front is our only reason to exist: when it goes, we go.
process.on('disconnect', () => {
  void pool?.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
});
