/**
 * An undici dispatcher that only ever opens connections the network policy allows.
 *
 * Every new connection (including the ones a redirect to another origin needs) goes through
 * `guardedConnect`, which
 *  1. re-runs the URL classifier on the origin (scheme, port, allow/deny lists, IP literals),
 *  2. resolves a domain itself (node:dns lookup, `all: true`, as an absolute name so resolver
 *     search domains cannot rewrite it) and refuses the host if ANY resolved address is not
 *     allowed,
 *  3. connects to a checked address (never to the name, so there is no second lookup that a
 *     rebinding DNS server could answer differently), with TLS SNI and certificate checks
 *     against the original name,
 *  4. checks the socket's actual peer address and destroys the socket when it is not allowed.
 *
 * It is a plain `Agent`: proxy environment variables (HTTP_PROXY, ...) are never consulted.
 * Response size and timeouts are enforced here too; request bodies, redirects and the
 * per-run request count are for the caller (the fetch bridge) to enforce.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import type { Socket } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { ErrorCode, SandboxError } from '../../protocol/errors.js';
import type { NetworkPolicy } from '../policy/network-schema.js';
import { checkAddress, checkUrl } from './classify.js';

/** A refusal by the network policy (as opposed to a network failure). Code: E_POLICY_DENIED. */
export class NetworkPolicyError extends SandboxError {
  constructor(message: string) {
    super(ErrorCode.POLICY_DENIED, message);
    this.name = 'NetworkPolicyError';
  }
}

/**
 * The policy refusal behind an error, if there is one. undici's `fetch` rejects with
 * `TypeError('fetch failed', { cause })`, so this follows the `cause` chain (bounded).
 */
export function findPolicyRefusal(err: unknown): NetworkPolicyError | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== null && e !== undefined; depth++) {
    if (e instanceof NetworkPolicyError) return e;
    if (typeof e !== 'object') return undefined;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True when `err` (or an error in its cause chain) is a network-policy refusal. */
export function isPolicyRefusal(err: unknown): boolean {
  return findPolicyRefusal(err) !== undefined;
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name (given with a trailing dot) to all its addresses. */
export type LookupFn = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export interface GuardedAgentOptions {
  /** Replaces node:dns lookup (tests, or a custom resolver). */
  lookup?: LookupFn;
  /**
   * Replaces the connector that opens the socket once the address is chosen (tests only).
   * Default: `undici.buildConnector` with the policy's timeout.
   */
  connector?: buildConnector.connector;
}

const defaultLookup: LookupFn = (hostname) => dnsLookup(hostname, { all: true });

/** Error for a failure that is not the policy's doing, shaped like Node's network errors. */
function networkError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(networkError(`${what} timed out after ${ms} ms`, 'ETIMEDOUT')), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function connectWith(connector: buildConnector.connector, opts: buildConnector.Options): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    try {
      connector(opts, (err, socket) => {
        if (err !== null) reject(err);
        else resolve(socket);
      });
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)));
    }
  });
}

function bracketed(hostname: string): string {
  return hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
}

/** Build the dispatcher for one policy. Create one per run (or per policy) and close it after. */
export function createGuardedAgent(policy: NetworkPolicy, options: GuardedAgentOptions = {}): Dispatcher {
  const timeoutMs = policy.requestTimeoutMs;
  const lookup = options.lookup ?? defaultLookup;
  const connector = options.connector ?? buildConnector({ timeout: timeoutMs, allowH2: false });

  async function guardedConnect(opts: buildConnector.Options): Promise<Socket> {
    if (!policy.enabled) throw new NetworkPolicyError('network access is disabled by the policy');
    if (opts.socketPath != null) throw new NetworkPolicyError('unix sockets are not allowed');

    // 1. The origin itself, exactly as the URL classifier sees it.
    const authority = opts.host ?? `${bracketed(opts.hostname)}${opts.port ? `:${opts.port}` : ''}`;
    const target = checkUrl(`${opts.protocol}//${authority}/`, policy);
    if (!target.ok) throw new NetworkPolicyError(target.reason);

    // 2. Every address the host resolves to.
    let addresses: string[];
    if (target.hostKind === 'ip') {
      addresses = [target.host];
    } else {
      const found = await withTimeout(lookup(`${target.host}.`), timeoutMs, `DNS lookup of ${target.host}`);
      addresses = found.map((a) => a.address);
      if (addresses.length === 0) throw networkError(`${target.host} did not resolve to any address`, 'ENOTFOUND');
    }
    for (const address of addresses) {
      const verdict = checkAddress(address, policy);
      if (!verdict.ok) {
        throw new NetworkPolicyError(
          target.hostKind === 'ip' ? verdict.reason : `host "${target.host}" resolves to ${address}: ${verdict.reason}`,
        );
      }
    }

    // 3. Connect to a checked address; try the next one on a network failure.
    let lastError: unknown;
    for (const address of addresses) {
      let socket: Socket;
      try {
        socket = await connectWith(connector, {
          ...opts,
          hostname: address,
          port: String(target.port),
          // SNI and certificate checks use the origin's own name, never one derived from a
          // request's Host header (undici would otherwise take it from there).
          servername: target.hostKind === 'domain' ? target.host : undefined,
        });
      } catch (e) {
        lastError = e;
        continue;
      }
      // 4. The peer we actually reached.
      const peer = socket.remoteAddress;
      const verdict = peer === undefined ? { ok: false as const, reason: 'the connection has no peer address' } : checkAddress(peer, policy);
      if (!verdict.ok) {
        socket.destroy();
        throw new NetworkPolicyError(`connected peer refused: ${verdict.reason}`);
      }
      return socket;
    }
    throw lastError instanceof Error ? lastError : networkError(`could not connect to ${target.host}`, 'ECONNREFUSED');
  }

  const connect: buildConnector.connector = (opts, callback) => {
    guardedConnect(opts).then(
      (socket) => callback(null, socket),
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), null),
    );
  };

  return new Agent({
    connect,
    allowH2: false,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    maxResponseSize: policy.maxResponseBodyBytes,
    keepAliveTimeout: 4_000,
  });
}
