/**
 * The guest's `fetch` in run_js: a WHATWG-shaped wrapper in the guest realm over one host function.
 * The host function only carries the request out (worker → host → front, where the broker decides
 * and performs it) and the answer back; nothing here decides policy. Every request is a host
 * promise, so the QuickJS sync variant stays interruptible while requests are in flight.
 */
import type { QuickJSContext, QuickJSDeferredPromise, QuickJSHandle } from 'quickjs-emscripten-core';
import { readExactString } from './quickjs-strings.js';
import type { GuestFetchRequest, GuestFetchResult } from './types.js';

/** Defined before guest code runs; `hostFetch(requestJson, body)` resolves to a plain record. */
const FETCH_WRAPPER_SOURCE = String.raw`((hostFetch, bytesOf) => {
  const headerMap = (pairs) => {
    const m = new Map();
    for (const [k, v] of pairs) { const key = ('' + k).toLowerCase(); m.set(key, m.has(key) ? m.get(key) + ', ' + v : '' + v); }
    const key = (n) => ('' + n).toLowerCase();
    return {
      get: (n) => (m.has(key(n)) ? m.get(key(n)) : null),
      has: (n) => m.has(key(n)),
      forEach: (cb) => m.forEach((v, k) => cb(v, k)),
      entries: () => m.entries(), keys: () => m.keys(), values: () => m.values(),
      [Symbol.iterator]: () => m.entries(),
    };
  };
  const headerPairs = (h) => {
    if (h === undefined || h === null) return [];
    if (Array.isArray(h)) return h.map((p) => ['' + p[0], '' + p[1]]);
    if (typeof h.forEach === 'function') { const out = []; h.forEach((v, k) => out.push(['' + k, '' + v])); return out; }
    return Object.keys(h).map((k) => [k, '' + h[k]]);
  };
  return async function fetch(resource, init = {}) {
    const url = resource !== null && typeof resource === 'object' && 'url' in resource ? '' + resource.url : '' + resource;
    const method = init.method === undefined ? 'GET' : ('' + init.method).toUpperCase();
    if (init.signal && init.signal.aborted) { const e = new Error('the request was aborted'); e.name = 'AbortError'; throw e; }
    let body;
    if (init.body !== undefined && init.body !== null) {
      body = typeof init.body === 'string' ? init.body : bytesOf(init.body);
      if (body === undefined) throw new TypeError('fetch: body must be a string, an ArrayBuffer or a typed array');
    }
    const r = await hostFetch(JSON.stringify({ url, method, headers: headerPairs(init.headers) }), body);
    let used = false;
    const take = () => { if (used) throw new TypeError('body has already been read'); used = true; };
    return {
      status: r.status, statusText: r.statusText, ok: r.status >= 200 && r.status < 300,
      url: r.url, redirected: r.redirected, headers: headerMap(r.headers),
      get bodyUsed() { return used; },
      text: async () => { take(); return r.text; },
      json: async () => { take(); return JSON.parse(r.text); },
      arrayBuffer: async () => { take(); return r.body; },
      bytes: async () => { take(); return new Uint8Array(r.body); },
    };
  };
})`;

export interface FetchHelpers {
  bytesOf: QuickJSHandle;
  fromJson: QuickJSHandle;
  quote: QuickJSHandle;
}

export interface FetchBridge {
  /** The running run's network path, or undefined when the policy has no network. */
  current(): ((request: GuestFetchRequest) => Promise<GuestFetchResult>) | undefined;
  /** A request settled: wake the event loop. */
  settled(): void;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

export class QuickJsFetch {
  private readonly fetchFn: QuickJSHandle;
  /** Requests of the current run still waiting; disposed when the run ends. */
  private readonly pending = new Set<QuickJSDeferredPromise>();

  constructor(
    private readonly vm: QuickJSContext,
    private readonly helpers: FetchHelpers,
    private readonly bridge: FetchBridge,
  ) {
    const host = vm.newFunction('fetch', (reqJson, body) => this.start(reqJson, body));
    const factory = vm.unwrapResult(vm.evalCode(FETCH_WRAPPER_SOURCE, 'fetch.js'));
    this.fetchFn = vm.unwrapResult(vm.callFunction(factory, vm.undefined, host, helpers.bytesOf));
    factory.dispose();
    host.dispose();
  }

  get inFlight(): number {
    return this.pending.size;
  }

  private exposed = false;

  /** Expose `fetch` for this run when the policy has a network; otherwise there is none. */
  beginRun(enabled: boolean): void {
    if (enabled) {
      this.vm.setProp(this.vm.global, 'fetch', this.fetchFn);
      this.exposed = true;
    } else if (this.exposed) {
      this.vm.setProp(this.vm.global, 'fetch', this.vm.undefined);
      this.exposed = false;
    }
  }

  /** A run ended: answers that arrive later are dropped. */
  endRun(): void {
    for (const d of this.pending) d.dispose();
    this.pending.clear();
  }

  private text(h: QuickJSHandle | undefined): string | undefined {
    if (h === undefined || this.vm.typeof(h) !== 'string') return undefined;
    try {
      return readExactString(this.vm, this.helpers, h);
    } catch {
      return undefined;
    }
  }

  private guestValue(value: unknown): QuickJSHandle {
    const json = this.vm.newString(JSON.stringify(value));
    try {
      return this.vm.unwrapResult(this.vm.callFunction(this.helpers.fromJson, this.vm.undefined, json));
    } finally {
      json.dispose();
    }
  }

  private start(reqJson: QuickJSHandle, bodyHandle: QuickJSHandle | undefined): QuickJSHandle | { error: QuickJSHandle } {
    const vm = this.vm;
    const run = this.bridge.current();
    if (!run) return { error: vm.newError({ name: 'TypeError', message: 'fetch: network access is disabled by the policy' }) };
    let request: GuestFetchRequest;
    try {
      const parsed = JSON.parse(this.text(reqJson) ?? '') as { url: string; method: string; headers: Array<[string, string]> };
      request = { url: parsed.url, method: parsed.method, headers: parsed.headers };
    } catch {
      return { error: vm.newError({ name: 'TypeError', message: 'fetch: invalid arguments' }) };
    }
    if (bodyHandle !== undefined && vm.typeof(bodyHandle) !== 'undefined') {
      const text = this.text(bodyHandle);
      if (text !== undefined) request.body = new TextEncoder().encode(text);
      else {
        const ab = vm.getArrayBuffer(bodyHandle);
        request.body = new Uint8Array(ab.value).slice();
        ab.dispose();
      }
    }
    const deferred = vm.newPromise();
    this.pending.add(deferred);
    run(request)
      .then(
        (result) => {
          if (!deferred.alive) return;
          if (result.ok) {
            const res = result.response;
            const obj = this.guestValue({
              status: res.status,
              statusText: res.statusText,
              url: res.url,
              redirected: res.redirected,
              headers: res.headers,
              text: decoder.decode(res.body),
            });
            const ab = vm.newArrayBuffer(res.body.slice().buffer);
            vm.setProp(obj, 'body', ab);
            ab.dispose();
            deferred.resolve(obj);
            obj.dispose();
          } else {
            const err = vm.newError({ name: 'TypeError', message: `fetch failed: ${result.message}` });
            const code = vm.newString(result.code);
            vm.setProp(err, 'code', code);
            code.dispose();
            deferred.reject(err);
            err.dispose();
          }
        },
        () => {
          if (!deferred.alive) return;
          const err = vm.newError({ name: 'TypeError', message: 'fetch failed' });
          deferred.reject(err);
          err.dispose();
        },
      )
      .finally(() => {
        if (this.pending.delete(deferred) && deferred.alive) deferred.dispose();
        this.bridge.settled();
      });
    return deferred.handle;
  }

  dispose(): void {
    this.endRun();
    this.fetchFn.dispose();
  }
}
