/**
 * run_python's network API: `pyodide.http.pyfetch` (and `open_url`) and `urllib.request.urlopen`,
 * both over one JavaScript function, the bridge, that carries a request out of the interpreter to
 * the run's `fetchSync` (worker → host main thread → front, where the broker decides and performs
 * it) and the answer back. Nothing here decides policy; raw sockets stay cut by the hardening.
 *
 * The bridge speaks only in strings, so no JavaScript object ever reaches Python through it:
 * `bridge(metaJson, bodyLatin1 | None)` returns `answerJson + "\n" + bodyLatin1` (bytes as the
 * code points 0–255; JSON never contains a raw newline). It trusts nothing the guest passes: a
 * guest may hold the bridge itself (Python cannot hide it), which gives it nothing `urlopen` does
 * not. Without a network in the policy it answers the refusal itself: no message leaves the worker.
 *
 * The request blocks the worker thread (Python cannot await a host promise); `pyfetch` is `async`
 * for compatibility but runs its request to completion before it yields, so concurrent pyfetch calls
 * run one after another.
 */
import { Buffer } from 'node:buffer';
import type { GuestFetchRequest, GuestFetchResult, RunContext } from '../types.js';

/** Longest request description (URL, method, headers) accepted from the interpreter. */
const MAX_META_CHARS = 1024 * 1024;
/** Largest request body accepted from the interpreter (the policy's own cap is checked by the broker). */
const MAX_BODY_CHARS = 256 * 1024 * 1024;
/** Most request headers accepted from the interpreter (the host and the broker check again). */
const MAX_HEADERS = 200;

const DISABLED = 'network access is disabled by the policy';

type Answer = { ok: true; status: number; statusText: string; headers: Array<[string, string]>; url: string; redirected: boolean } | { ok: false; code: string; message: string };

function refusal(code: string, message: string): string {
  return JSON.stringify({ ok: false, code, message } satisfies Answer);
}

function isHeaderPairs(v: unknown): v is Array<[string, string]> {
  return (
    Array.isArray(v) &&
    v.length <= MAX_HEADERS &&
    v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string')
  );
}

/** The request as the guest described it, or a refusal text. */
function parseRequest(meta: unknown, body: unknown): { request: GuestFetchRequest; waitMs: number | undefined } | string {
  if (typeof meta !== 'string' || meta.length > MAX_META_CHARS) return 'invalid request: the request description is malformed or too large';
  let m: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(meta);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'invalid request: the request description is malformed';
    m = parsed as Record<string, unknown>;
  } catch {
    return 'invalid request: the request description is malformed';
  }
  const { url, method, headers, waitMs } = m;
  if (typeof url !== 'string' || typeof method !== 'string' || !isHeaderPairs(headers)) return 'invalid request: url, method or headers are malformed';
  if (waitMs !== undefined && (typeof waitMs !== 'number' || !(waitMs >= 0))) return 'invalid request: the timeout is not a non-negative number';
  const request: GuestFetchRequest = { url, method, headers: headers.map(([k, v]) => [k, v]) };
  if (body !== undefined && body !== null) {
    if (typeof body !== 'string') return 'invalid request: the body is not bytes';
    if (body.length > MAX_BODY_CHARS) return `invalid request: the body is larger than ${MAX_BODY_CHARS} bytes`;
    if (/[^\x00-\xff]/.test(body)) return 'invalid request: the body is not bytes';
    request.body = new Uint8Array(Buffer.from(body, 'latin1'));
  }
  return { request, waitMs: typeof waitMs === 'number' ? waitMs : undefined };
}

function encodeAnswer(result: GuestFetchResult): string {
  if (!result.ok) return refusal(String(result.code).slice(0, 64), String(result.message).slice(0, 4096));
  const r = result.response;
  const head: Answer = { ok: true, status: r.status, statusText: r.statusText, headers: r.headers, url: r.url, redirected: r.redirected };
  return `${JSON.stringify(head)}\n${Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength).toString('latin1')}`;
}

/**
 * The bridge for the interpreter. `currentRun` is the running run's context (undefined between
 * runs). Never throws: every failure is an answer.
 */
export function createNetworkBridge(currentRun: () => RunContext | undefined): (meta: unknown, body: unknown) => string {
  return (meta, body) => {
    try {
      const fetchSync = currentRun()?.fetchSync;
      if (!fetchSync) return refusal('E_POLICY_DENIED', DISABLED);
      const parsed = parseRequest(meta, body);
      if (typeof parsed === 'string') return refusal('E_POLICY_DENIED', parsed);
      return encodeAnswer(fetchSync(parsed.request, parsed.waitMs));
    } catch {
      return refusal('E_NETWORK', 'the request failed');
    }
  };
}

/**
 * Python run once per interpreter after the hardening, in a private namespace. It evaluates to its
 * `install(bridge, serve_pyodide_http)` function. It makes `import pyodide.http` serve the sandbox's
 * own module when asked (with the `python` hardening layer, which refuses every other `pyodide.*`;
 * without it — tests only — Pyodide's own package stays importable) and routes every urllib opener's HTTP(S) through the bridge by
 * replacing `AbstractHTTPHandler.do_open`, so custom handlers and openers go the same way; proxies
 * are ignored (the request goes to `req.full_url`). `http.client` itself keeps its socket, which the
 * hardening refuses.
 */
export const NETWORK_SOURCE = String.raw`
import sys, io, json, types, shutil, tempfile, os
import importlib.abc, importlib.machinery
import urllib.request, urllib.error, http.client

_state = {"bridge": None}
_dumps = json.dumps
_loads = json.loads


def _header_pairs(headers):
    if headers is None:
        return []
    items = headers.items() if hasattr(headers, "items") else headers
    out = []
    for pair in items:
        k, v = pair
        out.append([str(k), str(v)])
    return out


def _exchange(url, method, headers, body, wait_s=None):
    # One request through the bridge: (answer, body bytes) or (refusal, None).
    meta = {"url": str(url), "method": str(method), "headers": _header_pairs(headers)}
    if wait_s is not None:
        meta["waitMs"] = max(0.0, float(wait_s) * 1000.0)
    bridge = _state["bridge"]
    if bridge is None:
        return {"ok": False, "code": "E_POLICY_DENIED", "message": "network access is disabled by the policy"}, None
    raw = bridge(_dumps(meta), None if body is None else body.decode("latin-1"))
    if type(raw) is not str:
        return {"ok": False, "code": "E_NETWORK", "message": "the request failed"}, None
    nl = raw.find("\n")
    head = _loads(raw if nl < 0 else raw[:nl])
    if head.get("ok") is True:
        return head, raw[nl + 1:].encode("latin-1")
    if head.get("code") == "E_STOPPED":
        # The host asked the run to stop (time limit, cancellation) while the request was out.
        raise KeyboardInterrupt
    return head, None


def _body_bytes(data, text_encoding):
    if data is None:
        return None
    if isinstance(data, str):
        return data.encode(text_encoding)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if hasattr(data, "read"):
        chunks = []
        while True:
            c = data.read(65536)
            if not c:
                break
            chunks.append(c.encode(text_encoding) if isinstance(c, str) else bytes(c))
        return b"".join(chunks)
    try:
        parts = iter(data)
    except TypeError:
        raise TypeError("the request body must be bytes, a file object or an iterable of bytes") from None
    return b"".join(c.encode(text_encoding) if isinstance(c, str) else bytes(c) for c in parts)


# ---- pyodide.http ---------------------------------------------------------------------------


class AbortError(OSError):
    """The request did not complete (as in Pyodide, an OSError)."""


class FetchError(AbortError):
    """The request was refused by the sandbox's network policy or failed; code says which."""

    def __init__(self, code, message):
        super().__init__("fetch failed: " + message)
        self.code = code


class BodyUsedError(OSError):
    def __init__(self, *args):
        super().__init__("Response body is already used")


class HttpStatusError(OSError):
    def __init__(self, status, status_text, url):
        self.status = status
        self.status_text = status_text
        self.url = url
        kind = "Client Error" if 400 <= status < 500 else "Server Error" if 500 <= status < 600 else "Invalid error code not between 400 and 599"
        super().__init__(str(status) + " " + kind + ": " + status_text + " for url: " + url)


def _merged_headers(pairs):
    out = {}
    for k, v in pairs:
        k = k.lower()
        out[k] = out[k] + ", " + v if k in out else v
    return out


class FetchResponse:
    """The answer of pyfetch: status and headers at once, the body (already read) by the async methods."""

    def __init__(self, head, body):
        self._head = head
        self._body = body
        self._used = False

    @property
    def url(self):
        return self._head["url"]

    @property
    def status(self):
        return self._head["status"]

    @property
    def status_text(self):
        return self._head["statusText"]

    @property
    def ok(self):
        return 200 <= self._head["status"] < 300

    @property
    def redirected(self):
        return bool(self._head["redirected"])

    @property
    def type(self):
        return "basic"

    @property
    def headers(self):
        return _merged_headers(self._head["headers"])

    @property
    def body_used(self):
        return self._used

    def _take(self):
        if self._used:
            raise BodyUsedError
        self._used = True
        return self._body

    def raise_for_status(self):
        if 400 <= self.status < 600:
            raise HttpStatusError(self.status, self.status_text, self.url)

    def clone(self):
        if self._used:
            raise BodyUsedError
        return FetchResponse(self._head, self._body)

    def abort(self, reason=None):
        raise ValueError("abort_controller is not set")

    async def bytes(self):
        return self._take()

    async def buffer(self):
        # Pyodide returns a JavaScript ArrayBuffer here; the sandbox has no JavaScript objects.
        return memoryview(self._take())

    async def memoryview(self):
        return memoryview(self._take())

    async def text(self):
        return self._take().decode("utf-8", "replace")

    async def string(self):
        return await self.text()

    async def json(self, **kwargs):
        return json.loads(await self.text(), **kwargs)

    async def unpack_archive(self, *, extract_dir=None, format=None):
        data = self._take()
        name = self.url.rsplit("/", 1)[-1] or "archive"
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            shutil.unpack_archive(path, extract_dir, format)


def _fetch(url, method, headers, body):
    head, data = _exchange(url, str(method).upper(), headers, _body_bytes(body, "utf-8"))
    if data is None:
        raise FetchError(str(head.get("code", "E_NETWORK")), str(head.get("message", "the request failed")))
    return FetchResponse(head, data)


async def pyfetch(url, /, *, method="GET", headers=None, body=None, signal=None, fetcher=None, **kwargs):
    """Fetch url through the sandbox's network policy. Options as in Pyodide (method, headers,
    body); the other fetch options are accepted and ignored."""
    if not isinstance(url, str):
        raise TypeError("pyfetch: the request must be a URL string here")
    return _fetch(url, method, headers, body)


def open_url(url):
    """Fetch url synchronously and return its text as a StringIO (Pyodide's open_url)."""
    return io.StringIO(_fetch(str(url), "GET", None, None)._take().decode("utf-8", "replace"))


_http = types.ModuleType("pyodide.http", "Network access through the sandbox's policy: pyfetch, open_url.")
for _name, _value in {
    "pyfetch": pyfetch, "open_url": open_url, "FetchResponse": FetchResponse, "AbortError": AbortError,
    "FetchError": FetchError, "BodyUsedError": BodyUsedError, "HttpStatusError": HttpStatusError,
}.items():
    setattr(_http, _name, _value)
    if hasattr(_value, "__module__"):
        try:
            _value.__module__ = "pyodide.http"
        except (AttributeError, TypeError):
            pass
_http.__all__ = ["pyfetch", "open_url", "FetchResponse", "AbortError", "FetchError", "BodyUsedError", "HttpStatusError"]
_pkg = types.ModuleType("pyodide", "The sandbox offers only pyodide.http from Pyodide's package.")
_pkg.__path__ = []
_pkg.http = _http
_SERVED = {"pyodide": _pkg, "pyodide.http": _http}


class _ServedLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return _SERVED[spec.name]

    def exec_module(self, module):
        pass


class _ServedFinder(importlib.abc.MetaPathFinder):
    # Ahead of the hardening's blocker: only these two names; every other pyodide.* stays refused.
    def find_spec(self, fullname, path=None, target=None):
        if fullname in _SERVED:
            return importlib.machinery.ModuleSpec(fullname, _ServedLoader(), is_package=fullname == "pyodide")
        return None


def _serve_pyodide_http():
    for name in list(sys.modules):
        if name in _SERVED:
            del sys.modules[name]
    sys.meta_path.insert(0, _ServedFinder())


# ---- urllib.request ----------------------------------------------------------------------------


class _Response(io.BytesIO):
    """What urlopen returns: the body (already read) as a file, with http.client's response API."""

    def __init__(self, head, body, req_url):
        super().__init__(body)
        self.status = self.code = head["status"]
        self.reason = self.msg = head["statusText"]
        self.url = head["url"] or req_url
        self.version = 11
        self.headers = http.client.HTTPMessage()
        for k, v in head["headers"]:
            self.headers[k] = v
        self.length = len(body)

    def info(self):
        return self.headers

    def getcode(self):
        return self.status

    def geturl(self):
        return self.url

    def getheader(self, name, default=None):
        values = self.headers.get_all(name)
        return default if not values else ", ".join(values)

    def getheaders(self):
        return list(self.headers.items())

    def isclosed(self):
        return self.closed

    def fileno(self):
        raise io.UnsupportedOperation("the response has no file descriptor in the sandbox")

    def __repr__(self):
        return "<http.client.HTTPResponse status=" + str(self.status) + " (sandbox)>"


def _do_open(self, http_class, req, **http_conn_args):
    # Replaces AbstractHTTPHandler.do_open for every opener: the broker performs the request
    # (and follows redirects, re-checking each hop); the host part of a proxy setting is ignored.
    if not req.host:
        raise urllib.error.URLError("no host given")
    headers = dict(req.unredirected_hdrs)
    headers.update({k: v for k, v in req.headers.items() if k not in headers})
    headers = [[k.title(), v] for k, v in headers.items()]
    timeout = req.timeout
    wait = timeout if isinstance(timeout, (int, float)) and timeout is not True and timeout is not False else None
    head, data = _exchange(req.full_url, req.get_method(), headers, _body_bytes(req.data, "iso-8859-1"), wait)
    if data is None:
        message = str(head.get("message", "the request failed"))
        if head.get("code") == "E_TIMEOUT":
            raise urllib.error.URLError(TimeoutError(message))
        raise urllib.error.URLError(message)
    return _Response(head, data, req.full_url)


urllib.request.AbstractHTTPHandler.do_open = _do_open
if not hasattr(urllib.request, "HTTPSHandler"):
    # Without the ssl module urllib has no https handler: the broker speaks TLS, so add one.
    urllib.request.HTTPHandler.https_open = lambda self, req: self.do_open(None, req)
    urllib.request.HTTPHandler.https_request = urllib.request.AbstractHTTPHandler.do_request_
urllib.request.install_opener(None)


def install(bridge, serve_pyodide_http):
    _state["bridge"] = bridge
    if serve_pyodide_http:
        _serve_pyodide_http()


install
`;
