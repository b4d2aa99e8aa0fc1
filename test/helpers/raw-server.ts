/**
 * A raw stdio harness for protocol abuse: spawns the BUILT server (dist/cli/main.js) and speaks to
 * it in bytes, not through the SDK client, so malformed input really reaches the server. Every
 * byte the server writes to stdout is recorded; each complete line is parsed and filed by its id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { MAIN, childPids, newKeyDir, serverEnv } from './server.js';

export type JsonRpcId = string | number;

export interface RawMessage {
  jsonrpc?: unknown;
  id?: unknown;
  result?: any;
  error?: { code: number; message: string; data?: unknown };
  method?: unknown;
  params?: unknown;
}

/** The key under which responses are filed: `1` and `"1"` are different JSON-RPC ids. */
export const idKey = (id: unknown): string => JSON.stringify(id);

export interface RawServer {
  child: ChildProcess;
  keyDir: string;
  /** Responses received so far, by idKey. */
  responses: Map<string, RawMessage[]>;
  /** Messages without an id (notifications from the server, e.g. logging). */
  notifications: RawMessage[];
  stderr: () => string;
  alive: () => boolean;
  send: (message: unknown) => void;
  sendRaw: (text: string) => void;
  /** Resolves once every id has at least one response; rejects after `timeoutMs` naming the missing ones. */
  waitFor: (ids: JsonRpcId[], timeoutMs?: number) => Promise<void>;
  /** Send a request with a fresh numeric id and wait for its response. */
  request: (method: string, params?: unknown, timeoutMs?: number) => Promise<RawMessage>;
  /** Every byte written to stdout, split into lines, each parsed as JSON-RPC; throws on anything else. */
  assertStdoutIsJsonRpc: () => number;
  stdoutBytes: () => number;
  hostPids: () => number[];
  close: () => Promise<void>;
}

let nextRequestId = 1_000_000_000;

export async function startRawServer(args: string[] = [], env: Record<string, string> = {}): Promise<RawServer> {
  const keyDir = newKeyDir('wsm-raw-keys-');
  const child = spawn(process.execPath, [MAIN, '--key-dir', path.join(keyDir, 'k'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: serverEnv(env),
  });
  const raw: Buffer[] = [];
  let pending: Buffer = Buffer.alloc(0);
  let err = '';
  const responses = new Map<string, RawMessage[]>();
  const notifications: RawMessage[] = [];
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (d: Buffer) => {
    // Keep the tail only: a fuzz run can make the server log a lot.
    err = (err + d.toString('utf8')).slice(-200_000);
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    raw.push(chunk);
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let nl: number;
    while ((nl = pending.indexOf(0x0a)) >= 0) {
      const line = pending.subarray(0, nl).toString('utf8');
      pending = pending.subarray(nl + 1);
      let msg: RawMessage;
      try {
        msg = JSON.parse(line) as RawMessage;
      } catch {
        continue; // assertStdoutIsJsonRpc reports it
      }
      if (msg && typeof msg === 'object' && 'id' in msg && ('result' in msg || 'error' in msg)) {
        const key = idKey(msg.id);
        const list = responses.get(key) ?? [];
        list.push(msg);
        responses.set(key, list);
      } else {
        notifications.push(msg);
      }
    }
    for (const w of [...waiters]) w();
  });
  child.stdin!.on('error', () => undefined); // EPIPE if the server died: the test reports that itself

  const alive = () => child.exitCode === null && child.signalCode === null;
  const sendRaw = (text: string) => {
    child.stdin!.write(text);
  };
  const send = (message: unknown) => sendRaw(`${JSON.stringify(message)}\n`);

  const waitFor = (ids: JsonRpcId[], timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const missing = () => ids.filter((id) => !responses.has(idKey(id)));
      const check = () => {
        if (missing().length === 0) {
          cleanup();
          resolve();
        } else if (!alive()) {
          cleanup();
          reject(new Error(`the server exited (${child.exitCode ?? child.signalCode}); no response to ${missing().slice(0, 5).map(idKey).join(', ')}`));
        }
      };
      const onExit = () => check();
      const timer = setTimeout(() => {
        cleanup();
        const m = missing();
        reject(new Error(`no response within ${timeoutMs} ms to ${m.length} request(s), e.g. ${m.slice(0, 5).map(idKey).join(', ')}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', onExit);
      };
      waiters.add(check);
      child.on('exit', onExit);
      check();
    });

  const request = async (method: string, params?: unknown, timeoutMs = 30_000) => {
    const id = nextRequestId++;
    send({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
    await waitFor([id], timeoutMs);
    return responses.get(idKey(id))![0]!;
  };

  const server: RawServer = {
    child,
    keyDir,
    responses,
    notifications,
    stderr: () => err,
    alive,
    send,
    sendRaw,
    waitFor,
    request,
    assertStdoutIsJsonRpc: () => {
      const text = Buffer.concat(raw).toString('utf8');
      const lines = text.split('\n');
      if (lines.pop() !== '') throw new Error('stdout does not end with a newline-terminated JSON-RPC message');
      lines.forEach((line, i) => {
        try {
          JSONRPCMessageSchema.parse(JSON.parse(line));
        } catch (e) {
          throw new Error(`stdout line ${i + 1} is not JSON-RPC (${(e as Error).message.slice(0, 200)}): ${line.slice(0, 300)}`);
        }
      });
      return lines.length;
    },
    stdoutBytes: () => raw.reduce((n, b) => n + b.length, 0),
    hostPids: () => childPids(child.pid),
    close: async () => {
      if (alive()) {
        const exited = new Promise((r) => child.once('exit', r));
        child.stdin!.end();
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }
      fs.rmSync(keyDir, { recursive: true, force: true });
    },
  };

  const init = await server.request('initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'wasm-sandbox-mcp-raw-tests', version: '0.0.0' },
  });
  if (!init.result) throw new Error(`initialize failed: ${JSON.stringify(init).slice(0, 500)}`);
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return server;
}
