/**
 * The network broker: the only way guest code reaches the network.
 *
 * It lives in the trusted front. The guest (in the sandbox) sends a request description; the
 * broker treats it as hostile input, decides, performs it with undici through the guarded agent
 * (connect-time address checks on every hop), reads the response body within the caps and hands
 * back plain data. One broker per run; `close()` when the run ends.
 *
 * Decisions (see also the contract's "Network inside the sandbox"):
 *
 *  - **Request counting.** `maxRequestsPerRun` counts HTTP requests actually dispatched, and
 *    every redirect hop is one (as the policy field's description says: "redirect hops count").
 *    That bounds the real egress of a run, however the guest splits it between requests and
 *    redirects. Requests refused before dispatch (policy, malformed input, body too large) do
 *    not use the budget; they are only logged.
 *  - **Compression.** The broker always sends `accept-encoding: identity` (the guest's own value
 *    is dropped). A server that compresses anyway is decoded by undici (gzip, deflate, br, and
 *    zstd where Node has it) and the size cap counts the DECODED bytes as they stream, so a
 *    decompression bomb stops at the cap. The agent's `maxResponseSize` also caps the raw bytes.
 *    When the body was decoded, `content-encoding` and `content-length` are removed from the
 *    returned headers, because they no longer describe the bytes handed back.
 *  - **Deadline.** One deadline per guest request, covering every hop and the body:
 *    `min(now + requestTimeoutMs, run deadline)`. On expiry the request is aborted, which
 *    destroys its socket, and the result is `E_TIMEOUT`.
 *  - **Redirects** are followed here (`redirect: 'manual'`), never by undici: each hop is
 *    re-checked with `checkUrl` and connects through the guarded agent; at most `maxRedirects`;
 *    303 (unless HEAD) and 301/302 after POST become GET without a body; `authorization` and
 *    `cookie` are dropped once the origin changes (and stay dropped).
 *  - **Headers.** Hop-by-hop headers (Connection, Keep-Alive, Proxy-*, TE, Trailer,
 *    Transfer-Encoding, Upgrade), `Host`, `Content-Length`, `Expect` and `Accept-Encoding` from the
 *    guest are dropped silently; malformed names or values are refused. Response headers come
 *    back with lower-case names, one entry per `set-cookie`.
 *  - **Log.** Every attempt, allowed or blocked, in order, one entry per hop. `blocked` carries
 *    the reason whenever the policy or one of its limits (size, count, deadline, redirects)
 *    stopped the request; `error` (an optional extra field) a plain network failure. The log is
 *    bounded (`MAX_LOG_ENTRIES`); entries beyond that are only counted in `droppedLogEntries`.
 *  - **Errors** carry no host internals: messages are fixed phrases or the policy's reason,
 *    never an underlying error's text or stack.
 */
import { types as utilTypes } from 'node:util';
import zlib from 'node:zlib';
import { fetch as undiciFetch, type Dispatcher } from 'undici';
import type { NetworkPolicy } from '../policy/network-schema.js';
import { checkUrl } from './classify.js';
import { createGuardedAgent, findPolicyRefusal, type LookupFn } from './guarded-agent.js';
import { WIRE_LIMITS } from '../../protocol/messages.js';

export interface BrokerRequest {
  url: string;
  method: string;
  headers: Array<[string, string]>;
  body?: Uint8Array;
  /**
   * Set instead of `body` by the sandbox host for a body over the policy's limit, which it does not
   * ship: the request is refused and logged here like any other.
   */
  unsentBodyBytes?: number;
  /** Set by the sandbox host for a request off the wire's shape: refused, and logged. */
  malformed?: string;
}

export interface BrokerResponse {
  status: number;
  statusText: string;
  /** Lower-case names; `set-cookie` once per cookie. */
  headers: Array<[string, string]>;
  body: Uint8Array;
  /** The final URL (after redirects). */
  url: string;
  redirected: boolean;
}

export interface NetworkLogEntry {
  url: string;
  method: string;
  status?: number;
  /** Why the policy (or one of its limits) stopped this attempt. */
  blocked?: string;
  /** A network failure that was not the policy's doing (connection refused, reset, ...). */
  error?: string;
}

export type BrokerErrorCode =
  | 'E_POLICY_DENIED'
  | 'E_NETWORK'
  | 'E_TIMEOUT'
  | 'E_RESPONSE_TOO_LARGE'
  | 'E_REQUEST_TOO_LARGE'
  | 'E_TOO_MANY_REQUESTS'
  | 'E_TOO_MANY_REDIRECTS';

export type BrokerResult = { ok: true; response: BrokerResponse } | { ok: false; code: BrokerErrorCode; message: string };

export interface NetworkBrokerOptions {
  /** Replaces DNS resolution in the guarded agent (tests). */
  lookup?: LookupFn;
  /** Clock for deadlines, epoch ms (tests). */
  now?: () => number;
}

export interface BrokerFetchOptions {
  /** The run's own deadline, absolute epoch ms. */
  deadline: number;
  /** Aborts the request (the guest's AbortSignal, or the run being cancelled). */
  signal?: AbortSignal;
}

/** Longest URL accepted from the guest. */
export const MAX_URL_LENGTH = WIRE_LIMITS.url;
/** Most request headers accepted from the guest. */
export const MAX_HEADER_COUNT = 100;
/** Most bytes of request header names and values together. */
export const MAX_HEADER_BYTES = 64 * 1024;
/** Entries kept in `log`; later ones are only counted. */
export const MAX_LOG_ENTRIES = 1000;

const MAX_METHOD_LENGTH = WIRE_LIMITS.method;
const MAX_HEADER_NAME_LENGTH = 256;
const MAX_LOGGED_URL_LENGTH = 2048;

/** RFC 7230 `token`. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 7230 `field-value` characters: HTAB, SP, VCHAR, obs-text. No CR, LF, NUL or other controls. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Methods undici's fetch normalises to upper case (the Fetch standard's list). */
const NORMALISED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

/** Request headers from the guest that are dropped (hop-by-hop, or the broker's to set). */
const DROPPED_HEADERS = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
  'accept-encoding',
  'http2-settings',
]);
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);
/** Headers that describe a request body; dropped when a redirect drops the body. */
const BODY_HEADERS = new Set(['content-type', 'content-encoding', 'content-language', 'content-location']);

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
/** Content codings undici's fetch decodes (it leaves the body raw when any other coding is listed). */
const HAS_ZSTD = typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';
const DECODED_CODINGS = new Set(['gzip', 'x-gzip', 'deflate', 'br', ...(HAS_ZSTD ? ['zstd'] : [])]);
const MAX_DECODED_CODINGS = 5;

type Failure = { ok: false; code: BrokerErrorCode; message: string };

/** Why these response headers cannot reach the guest (the wire's limits), or undefined. */
function oversizedHeaders(headers: ReadonlyArray<readonly [string, string]>): string | undefined {
  if (headers.length > WIRE_LIMITS.headers) return `the response has ${headers.length} headers; at most ${WIRE_LIMITS.headers} reach the sandbox`;
  const big = headers.find(([n, v]) => n.length > WIRE_LIMITS.headerName || v.length > WIRE_LIMITS.headerValue);
  if (big !== undefined) {
    return `the response header ${JSON.stringify(big[0].slice(0, 64))} is too large to reach the sandbox (name up to ${WIRE_LIMITS.headerName} characters, value up to ${WIRE_LIMITS.headerValue})`;
  }
  return undefined;
}

/** Longest reason kept (a reason may quote what the guest sent, such as a 5,000-character host). */
const MAX_REASON_LENGTH = 1024;

function failure(code: BrokerErrorCode, message: string): Failure {
  return { ok: false, code, message: message.length > MAX_REASON_LENGTH ? `${message.slice(0, MAX_REASON_LENGTH - 1)}…` : message };
}

/** Why this broker aborted a request itself. */
type AbortCause = 'timeout' | 'too-large' | 'aborted' | 'closed';

interface Validated {
  url: string;
  method: string;
  headers: Array<[string, string]>;
  body: Uint8Array | undefined;
}

// ---------------------------------------------------------------------------------------------
// Input validation

function describeForLog(raw: unknown, max = MAX_LOGGED_URL_LENGTH): string {
  if (typeof raw !== 'string') return '<not a string>';
  let s = raw;
  try {
    const u = new URL(raw);
    if (u.username !== '' || u.password !== '') {
      u.username = '***';
      u.password = '';
    }
    s = u.href;
  } catch {
    // keep the raw text
  }
  if (s.length > max) s = `${s.slice(0, max)}…`;
  return s.replace(/[\x00-\x1f\x7f]/g, '?');
}

function methodForLog(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_METHOD_LENGTH || !TOKEN.test(raw)) return '<invalid>';
  const upper = raw.toUpperCase();
  return NORMALISED_METHODS.has(upper) ? upper : raw;
}

function isUint8Array(v: unknown): v is Uint8Array {
  return utilTypes.isUint8Array(v);
}

/** Shape, method and headers. Returns a refusal message, or the cleaned request. */
function validate(req: unknown): { ok: true; value: Validated } | { ok: false; message: string } {
  if (typeof req !== 'object' || req === null) return { ok: false, message: 'the request is not an object' };
  const r = req as Record<string, unknown>;

  if (typeof r.url !== 'string') return { ok: false, message: 'the URL is not a string' };
  if (r.url.length > MAX_URL_LENGTH) return { ok: false, message: `the URL is longer than ${MAX_URL_LENGTH} characters` };

  if (typeof r.method !== 'string') return { ok: false, message: 'the method is not a string' };
  if (r.method.length === 0 || r.method.length > MAX_METHOD_LENGTH || !TOKEN.test(r.method)) {
    return { ok: false, message: 'the method is not a valid HTTP method token' };
  }
  const upper = r.method.toUpperCase();
  if (FORBIDDEN_METHODS.has(upper)) return { ok: false, message: `the method ${upper} is not allowed` };
  const method = NORMALISED_METHODS.has(upper) ? upper : r.method;

  const rawHeaders = r.headers ?? [];
  if (!Array.isArray(rawHeaders)) return { ok: false, message: 'the headers are not a list of [name, value] pairs' };
  if (rawHeaders.length > MAX_HEADER_COUNT) return { ok: false, message: `more than ${MAX_HEADER_COUNT} request headers` };
  const headers: Array<[string, string]> = [];
  let headerBytes = 0;
  for (const pair of rawHeaders as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      return { ok: false, message: 'the headers are not a list of [name, value] pairs' };
    }
    const [name, value] = pair as [string, string];
    if (name.length === 0 || name.length > MAX_HEADER_NAME_LENGTH || !TOKEN.test(name)) {
      return { ok: false, message: `header name ${JSON.stringify(name.slice(0, 64))} is not a valid token` };
    }
    if (!FIELD_VALUE.test(value)) {
      return {
        ok: false,
        message: `the value of header "${name}" contains a character not allowed in a header (CR, LF, NUL, control or non-Latin-1)`,
      };
    }
    headerBytes += name.length + value.length;
    if (headerBytes > MAX_HEADER_BYTES) return { ok: false, message: `request headers larger than ${MAX_HEADER_BYTES} bytes` };
    const lower = name.toLowerCase();
    if (DROPPED_HEADERS.has(lower) || lower.startsWith('proxy-')) continue;
    headers.push([lower, value.replace(/^[\t ]+|[\t ]+$/g, '')]);
  }

  let body: Uint8Array | undefined;
  if (r.body !== undefined && r.body !== null) {
    if (!isUint8Array(r.body)) return { ok: false, message: 'the body is not a Uint8Array' };
    if (r.body.byteLength > 0) body = r.body;
  }
  if (body !== undefined && (method === 'GET' || method === 'HEAD')) {
    return { ok: false, message: `a ${method} request cannot have a body` };
  }
  return { ok: true, value: { url: r.url, method, headers, body } };
}

// ---------------------------------------------------------------------------------------------
// Error mapping

function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  let e: unknown = err;
  for (let depth = 0; depth < 8 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return codes;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

const NETWORK_MESSAGES: Record<string, string> = {
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed while sending',
  ENOTFOUND: 'the host name could not be resolved',
  EAI_AGAIN: 'the host name could not be resolved',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  UND_ERR_SOCKET: 'the connection was closed by the server',
  UND_ERR_CLOSED: 'the connection was closed',
  HPE_INVALID_CONSTANT: 'the server sent an invalid HTTP response',
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is not trusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'the server certificate is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server certificate is not trusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server certificate does not match the host name',
  Z_DATA_ERROR: 'the response body could not be decoded',
  Z_BUF_ERROR: 'the response body could not be decoded',
};

function networkMessage(codes: readonly string[]): string {
  for (const c of codes) {
    const m = NETWORK_MESSAGES[c];
    if (m !== undefined) return m;
    if (c.startsWith('HPE_')) return 'the server sent an invalid HTTP response';
    if (c.startsWith('ERR__ERROR') || c.startsWith('Z_')) return 'the response body could not be decoded';
    if (c.startsWith('ERR_TLS') || c.startsWith('ERR_SSL') || c.includes('CERT')) return 'the TLS connection failed';
  }
  return 'the request failed';
}

// ---------------------------------------------------------------------------------------------

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

function originOf(u: URL): string {
  return `${u.protocol}//${u.host}`;
}

/** Did undici's fetch decode this response body (mirrors its rule)? */
function wasDecoded(method: string, status: number, contentEncoding: string | null): boolean {
  if (method === 'HEAD' || NULL_BODY_STATUSES.has(status) || contentEncoding === null || contentEncoding === '') return false;
  const codings = contentEncoding.toLowerCase().split(',');
  if (codings.length > MAX_DECODED_CODINGS) return false;
  return codings.every((c) => DECODED_CODINGS.has(c.trim()));
}

class BodyTooLarge extends Error {}

export class NetworkBroker {
  readonly log: NetworkLogEntry[] = [];
  #dropped = 0;
  #sent = 0;
  #closed = false;
  readonly #policy: NetworkPolicy;
  readonly #now: () => number;
  readonly #agent: Dispatcher;
  readonly #inflight = new Set<(cause: AbortCause) => void>();

  constructor(policy: NetworkPolicy, options: NetworkBrokerOptions = {}) {
    this.#policy = policy;
    this.#now = options.now ?? Date.now;
    this.#agent = createGuardedAgent(policy, options.lookup === undefined ? {} : { lookup: options.lookup });
  }

  /** Log entries not kept because the log reached `MAX_LOG_ENTRIES`. */
  get droppedLogEntries(): number {
    return this.#dropped;
  }

  /** HTTP requests dispatched so far (redirect hops included); compared with maxRequestsPerRun. */
  get requestsSent(): number {
    return this.#sent;
  }

  /** Perform one guest request. Never throws. */
  async fetch(req: BrokerRequest, opts: BrokerFetchOptions): Promise<BrokerResult> {
    try {
      return await this.#fetch(req, opts);
    } catch {
      return failure('E_NETWORK', 'the request failed');
    }
  }

  /** Abort everything in flight and destroy the run's agent. Later requests are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const abort of [...this.#inflight]) abort('closed');
    this.#inflight.clear();
    try {
      await this.#agent.destroy();
    } catch {
      // already destroyed
    }
  }

  #record(entry: NetworkLogEntry): NetworkLogEntry {
    if (this.log.length < MAX_LOG_ENTRIES) this.log.push(entry);
    else this.#dropped++;
    return entry;
  }

  #refuse(url: unknown, method: unknown, code: BrokerErrorCode, reason: string): Failure {
    const refused = failure(code, reason);
    this.#record({ url: describeForLog(url), method: methodForLog(method), blocked: refused.message });
    return refused;
  }

  async #fetch(req: BrokerRequest, opts: BrokerFetchOptions): Promise<BrokerResult> {
    const policy = this.#policy;
    const rawUrl: unknown = (req as unknown as { url?: unknown } | null)?.url;
    const rawMethod: unknown = (req as unknown as { method?: unknown } | null)?.method;

    if (this.#closed) return this.#refuse(rawUrl, rawMethod, 'E_NETWORK', 'the run has finished; no more requests');
    if (!policy.enabled) return this.#refuse(rawUrl, rawMethod, 'E_POLICY_DENIED', 'network access is disabled by the policy');
    const malformed = typeof req === 'object' && req !== null ? (req as { malformed?: unknown }).malformed : undefined;
    if (malformed !== undefined) {
      return this.#refuse(rawUrl, rawMethod, 'E_POLICY_DENIED', `invalid request: ${typeof malformed === 'string' ? malformed : 'malformed fetch arguments'}`);
    }

    if (typeof rawUrl !== 'string') return this.#refuse(rawUrl, rawMethod, 'E_POLICY_DENIED', 'invalid request: the URL is not a string');
    if (rawUrl.length > MAX_URL_LENGTH) {
      return this.#refuse(rawUrl, rawMethod, 'E_POLICY_DENIED', `invalid request: the URL is longer than ${MAX_URL_LENGTH} characters`);
    }
    const first = checkUrl(rawUrl, policy);
    if (!first.ok) return this.#refuse(rawUrl, rawMethod, 'E_POLICY_DENIED', first.reason);
    // Percent-encoding can make a URL longer: its answer must still name it within the limit.
    if (first.url.href.length > MAX_URL_LENGTH) {
      return this.#refuse(rawUrl, rawMethod, 'E_POLICY_DENIED', `invalid request: the URL is longer than ${MAX_URL_LENGTH} characters once encoded`);
    }

    const v = validate(req);
    if (!v.ok) return this.#refuse(rawUrl, rawMethod, 'E_POLICY_DENIED', `invalid request: ${v.message}`);
    const { method: firstMethod, headers: firstHeaders, body: firstBody } = v.value;

    const unsent = (req as { unsentBodyBytes?: unknown }).unsentBodyBytes;
    const bodyBytes = typeof unsent === 'number' && Number.isSafeInteger(unsent) && unsent >= 0 ? unsent : firstBody?.byteLength;
    if (bodyBytes !== undefined && (bodyBytes > policy.maxRequestBodyBytes || unsent !== undefined)) {
      return this.#refuse(
        rawUrl,
        firstMethod,
        'E_REQUEST_TOO_LARGE',
        `the request body (${bodyBytes} bytes) is larger than network.maxRequestBodyBytes (${policy.maxRequestBodyBytes})`,
      );
    }

    if (opts.signal?.aborted === true) return this.#refuse(rawUrl, firstMethod, 'E_NETWORK', 'the request was aborted');

    const started = this.#now();
    const deadline = typeof opts.deadline === 'number' && !Number.isNaN(opts.deadline) ? opts.deadline : started;
    const stopAt = Math.min(started + policy.requestTimeoutMs, deadline);
    const budgetMs = stopAt - started;
    if (budgetMs <= 0) return this.#refuse(rawUrl, firstMethod, 'E_TIMEOUT', "the run's deadline has passed");

    // One controller for the whole guest request (all hops and the body).
    const controller = new AbortController();
    let cause: AbortCause | undefined;
    const abort = (c: AbortCause): void => {
      if (cause !== undefined) return;
      cause = c;
      controller.abort();
    };
    const timer = setTimeout(() => abort('timeout'), budgetMs);
    const onExternalAbort = (): void => abort('aborted');
    opts.signal?.addEventListener('abort', onExternalAbort, { once: true });
    this.#inflight.add(abort);

    const timeoutMessage = `the request did not complete within ${budgetMs} ms`;
    let entry: NetworkLogEntry | undefined;
    const fail = (err: unknown): Failure => {
      let result: Failure;
      const refusal = findPolicyRefusal(err);
      const codes = errorCodes(err);
      if (cause === 'timeout') result = failure('E_TIMEOUT', timeoutMessage);
      else if (cause === 'too-large' || err instanceof BodyTooLarge || codes.includes('UND_ERR_RES_EXCEEDED_MAX_SIZE')) {
        result = failure(
          'E_RESPONSE_TOO_LARGE',
          `the response body is larger than network.maxResponseBodyBytes (${policy.maxResponseBodyBytes} bytes)`,
        );
      } else if (cause === 'aborted') result = failure('E_NETWORK', 'the request was aborted');
      else if (cause === 'closed') result = failure('E_NETWORK', 'the run has finished; the request was aborted');
      else if (refusal !== undefined) result = failure('E_POLICY_DENIED', refusal.message);
      else if (codes.some((c) => TIMEOUT_CODES.has(c))) result = failure('E_TIMEOUT', timeoutMessage);
      else result = failure('E_NETWORK', networkMessage(codes));
      if (entry !== undefined) {
        if (result.code === 'E_NETWORK') entry.error = result.message;
        else entry.blocked = result.message;
      }
      return result;
    };

    try {
      let url = first.url;
      let method = firstMethod;
      let headers = firstHeaders;
      let body = firstBody;
      let redirects = 0;

      for (;;) {
        if (this.#sent >= policy.maxRequestsPerRun) {
          return this.#refuse(
            url.href,
            method,
            'E_TOO_MANY_REQUESTS',
            `the run has made its ${policy.maxRequestsPerRun} requests (network.maxRequestsPerRun; redirect hops count)`,
          );
        }
        this.#sent++;
        entry = this.#record({ url: describeForLog(url.href), method });

        let res: Awaited<ReturnType<typeof undiciFetch>>;
        try {
          res = await undiciFetch(url.href, {
            method,
            headers: [...headers, ['accept-encoding', 'identity']],
            ...(body === undefined ? {} : { body }),
            redirect: 'manual',
            dispatcher: this.#agent,
            signal: controller.signal,
            keepalive: false,
          });
        } catch (err) {
          return fail(err);
        }
        entry.status = res.status;

        const location = REDIRECT_STATUSES.has(res.status) ? res.headers.get('location') : null;
        if (location !== null) {
          // Not interested in a redirect's body: cancelling it closes that connection.
          await res.body?.cancel().catch(() => undefined);

          let next: URL;
          try {
            next = new URL(location, url);
          } catch {
            entry.error = 'the redirect location is not a valid URL';
            return failure('E_NETWORK', 'the server redirected to an invalid URL');
          }
          if (next.href.length > MAX_URL_LENGTH) {
            return this.#refuse(next.href, method, 'E_NETWORK', `the server redirected to a URL longer than ${MAX_URL_LENGTH} characters`);
          }
          if (redirects >= policy.maxRedirects) {
            const reason = `more than ${policy.maxRedirects} redirects (network.maxRedirects)`;
            return this.#refuse(next.href, method, 'E_TOO_MANY_REDIRECTS', reason);
          }
          redirects++;

          let nextMethod = method;
          let nextBody = body;
          let nextHeaders = headers;
          const seeOther = res.status === 303 && method !== 'GET' && method !== 'HEAD';
          const postMoved = (res.status === 301 || res.status === 302) && method === 'POST';
          if (seeOther || postMoved) {
            nextMethod = 'GET';
            nextBody = undefined;
            nextHeaders = nextHeaders.filter(([n]) => !BODY_HEADERS.has(n));
          }
          if (originOf(next) !== originOf(url)) {
            nextHeaders = nextHeaders.filter(([n]) => !CREDENTIAL_HEADERS.has(n));
          }

          const checked = checkUrl(next.href, policy);
          if (!checked.ok) return this.#refuse(next.href, nextMethod, 'E_POLICY_DENIED', checked.reason);
          url = checked.url;
          method = nextMethod;
          body = nextBody;
          headers = nextHeaders;
          continue;
        }

        // The final response: read the body within the cap, counting decoded bytes.
        let bytes: Uint8Array;
        try {
          bytes = await this.#readBody(res.body, () => abort('too-large'));
        } catch (err) {
          return fail(err);
        }
        const decoded = wasDecoded(method, res.status, res.headers.get('content-encoding'));
        const outHeaders: Array<[string, string]> = [];
        for (const [name, value] of res.headers) {
          if (decoded && (name === 'content-encoding' || name === 'content-length')) continue;
          outHeaders.push([name, value]);
        }
        const oversized = oversizedHeaders(outHeaders);
        if (oversized !== undefined) {
          entry.error = oversized;
          return failure('E_NETWORK', oversized);
        }
        return {
          ok: true,
          response: {
            status: res.status,
            statusText: res.statusText.slice(0, WIRE_LIMITS.statusText),
            headers: outHeaders,
            body: bytes,
            url: url.href,
            redirected: redirects > 0,
          },
        };
      }
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onExternalAbort);
      this.#inflight.delete(abort);
    }
  }

  async #readBody(stream: ReadableStream<Uint8Array> | null, onTooLarge: () => void): Promise<Uint8Array> {
    if (stream === null) return new Uint8Array(0);
    const cap = this.#policy.maxResponseBodyBytes;
    const reader = stream.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > cap) {
          onTooLarge(); // aborts the request, which destroys the socket
          await reader.cancel().catch(() => undefined);
          throw new BodyTooLarge();
        }
        chunks.push(value);
      }
    } finally {
      reader.releaseLock();
    }
    return concat(chunks, total);
  }
}
