/**
 * Spawns the BUILT server (dist/cli/main.js) the way an MCP client does, speaks to it with the
 * SDK's Client over a transport that also records every byte the server writes to stdout, so
 * tests can prove stdout carries nothing but JSON-RPC.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, type JSONRPCMessage, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = path.join(ROOT, 'dist/cli/main.js');

class RecordingStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly raw: Buffer[] = [];
  private buffer = '';
  // A character split across two chunks must not become U+FFFD.
  private readonly decoder = new StringDecoder('utf8');

  constructor(private readonly child: ChildProcess) {}

  async start(): Promise<void> {
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.raw.push(chunk);
      this.buffer += this.decoder.write(chunk);
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        try {
          this.onmessage?.(JSONRPCMessageSchema.parse(JSON.parse(line)));
        } catch (e) {
          this.onerror?.(e as Error);
        }
      }
    });
    this.child.on('exit', () => this.onclose?.());
  }

  async send(message: JSONRPCMessage): Promise<void> {
    this.child.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  /** Write raw bytes (protocol-abuse tests). */
  sendRaw(text: string): void {
    this.child.stdin!.write(text);
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
  }
}

export interface TestServer {
  client: Client;
  child: ChildProcess;
  transport: RecordingStdioTransport;
  stderr: () => string;
  keyDir: string;
  call: (name: string, args: Record<string, unknown>, options?: { signal?: AbortSignal; timeout?: number }) => Promise<CallToolResult & { structuredContent: any }>;
  /** Every line the server wrote to stdout, each parsed as JSON-RPC (throws on any other byte). */
  assertStdoutIsJsonRpc: () => number;
  hostPids: () => number[];
  close: () => Promise<void>;
}

/** The longest line an MCP client built on the SDK reads: past it, its stdio transport closes for good. */
export const SDK_CLIENT_LINE_LIMIT = 10 * 1024 * 1024;

/** `fn`'s value, and the longest line (in bytes) the server wrote to stdout while it ran. */
export async function longestLineDuring<T>(srv: TestServer, fn: () => Promise<T>): Promise<{ value: T; longest: number }> {
  const before = srv.transport.raw.length;
  const value = await fn();
  const written = Buffer.concat(srv.transport.raw.slice(before));
  let longest = 0;
  for (let start = 0; start < written.length; ) {
    const nl = written.indexOf(0x0a, start);
    const end = nl === -1 ? written.length : nl;
    longest = Math.max(longest, end - start);
    start = end + 1;
  }
  return { value, longest };
}

/**
 * A fresh directory whose `k/` holds a copy of the suite's signing key (test/global-setup.ts), so
 * every server signs with the key the shared Python snapshot cache was signed with, while keeping
 * its own capsule store and key files.
 */
export function newKeyDir(prefix = 'wsm-keys-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const keys = path.join(dir, 'k');
  fs.cpSync(inject('suiteKeyDir'), keys, { recursive: true, preserveTimestamps: true });
  // cpSync keeps file modes but not (on every Node line) the directory's: the key store insists on 0700.
  fs.chmodSync(keys, 0o700);
  return dir;
}

/** The environment a test server starts with: no inherited secrets, the suite's snapshot cache. */
export function serverEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), LOG_LEVEL: 'warn', SANDBOX_CACHE_DIR: inject('suiteCacheDir'), ...env };
}

/** `main`: the server's entry script (default the built dist/cli/main.js; e.g. an installed bin). */
export async function startServer(args: string[] = [], env: Record<string, string> = {}, options: { main?: string } = {}): Promise<TestServer> {
  const keyDir = newKeyDir();
  // A server holding a key of its own would find the suite's snapshot signed by a stranger and
  // replace it with one it signs, for every later server to replace again (seconds of CPU each):
  // it gets no snapshot cache unless the test names one.
  const ownKey = args.includes('--key-dir');
  const child = spawn(process.execPath, [options.main ?? MAIN, '--key-dir', path.join(keyDir, 'k'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: serverEnv(ownKey ? { SANDBOX_CACHE_DIR: 'off', ...env } : env),
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const transport = new RecordingStdioTransport(child);
  const client = new Client({ name: 'wasm-sandbox-mcp-tests', version: '0.0.0' });
  await client.connect(transport);
  return {
    client,
    child,
    transport,
    keyDir,
    stderr: () => err,
    call: async (name, a, options) =>
      (await client.callTool({ name, arguments: a }, undefined, { timeout: options?.timeout ?? 60_000, signal: options?.signal })) as any,
    assertStdoutIsJsonRpc: () => {
      const text = Buffer.concat(transport.raw).toString('utf8');
      const lines = text.split('\n');
      if (lines.pop() !== '') throw new Error('stdout does not end with a newline-terminated JSON-RPC message');
      for (const line of lines) JSONRPCMessageSchema.parse(JSON.parse(line));
      return lines.length;
    },
    hostPids: () => childPids(child.pid),
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.stdin!.end();
        await exited;
      }
      fs.rmSync(keyDir, { recursive: true, force: true });
    },
  };
}

/** The direct child processes of `pid` (the server's sandbox host). */
export function childPids(pid: number | undefined): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function runCli(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const x = e as { status: number | null; stdout: string; stderr: string };
    return { status: x.status, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until `srv` answers a Python call. Its first one waits for the interpreter snapshot, which
 * on a loaded machine can outlast the front's backstop (the host is then restarted): try again.
 */
export async function warmUpPython(srv: TestServer, attempts = 4): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const r = await srv.call('run_python', { code: '1' }, { timeout: 180_000 }).catch(() => undefined);
    if (r?.structuredContent?.result === 1) return;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  throw new Error(`the server did not answer run_python after ${attempts} attempts`);
}
