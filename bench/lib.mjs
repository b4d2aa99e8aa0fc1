// Shared helpers for the benchmark: statistics, server lifecycle over stdio, /proc readings,
// and table formatting. Plain ESM, no dependencies beyond the project's own.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const SERVER_MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');

export const now = () => performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// statistics
// ---------------------------------------------------------------------------------------------

/** Nearest-rank percentile of an ascending array (p in 0..100). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summarize(samples) {
  const xs = samples.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return { n: 0, min: null, p50: null, p90: null, p99: null, max: null, mean: null };
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return {
    n: xs.length,
    min: xs[0],
    p50: percentile(xs, 50),
    p90: percentile(xs, 90),
    p99: percentile(xs, 99),
    max: xs[xs.length - 1],
    mean,
  };
}

/** Round every number in a (nested) value to `digits` decimals, for the JSON line. */
export function roundDeep(value, digits = 4) {
  const f = 10 ** digits;
  if (typeof value === 'number') return Number.isFinite(value) ? Math.round(value * f) / f : null;
  if (Array.isArray(value)) return value.map((v) => roundDeep(v, digits));
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = roundDeep(v, digits);
    return out;
  }
  return value;
}

export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// the server under test
// ---------------------------------------------------------------------------------------------

/** Every server this process started and has not closed yet (for the watchdog). */
export const liveServers = new Set();

/** Last resort on exit or a watchdog: no benchmark leaves a server behind. */
export function killLiveServers() {
  for (const s of liveServers) {
    try {
      if (s.pid) process.kill(s.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * Spawn the built server over stdio and complete the MCP handshake with the SDK client.
 * Resolves with timing from just before the spawn to the end of `initialize`.
 */
export async function startServer({ keyDir, cacheDir, connectTimeoutMs = 30_000, extraArgs = [], nodeArgs = [] }) {
  const t0 = now();
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...nodeArgs, SERVER_MAIN, '--key-dir', keyDir, ...(cacheDir ? ['--cache-dir', cacheDir] : []), ...extraArgs],
    cwd: ROOT,
    stderr: 'pipe',
  });
  let stderrTail = '';
  transport.stderr?.on('data', (chunk) => {
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-8192);
  });
  const client = new Client({ name: 'wasm-sandbox-mcp-bench', version: '0.0.0' });
  const server = {
    client,
    transport,
    t0,
    pid: null,
    stderrTail: () => stderrTail,
    closed: false,
    async close() {
      if (server.closed) return;
      server.closed = true;
      liveServers.delete(server);
      try {
        await withTimeout(client.close(), 6000, 'client.close');
      } catch {
        if (server.pid) {
          try {
            process.kill(server.pid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }
    },
  };
  liveServers.add(server);
  try {
    await withTimeout(client.connect(transport), connectTimeoutMs, 'MCP initialize');
  } catch (e) {
    server.pid = transport.pid;
    await server.close();
    const err = new Error(`server did not start: ${e.message}`);
    err.stderrTail = stderrTail;
    throw err;
  }
  server.pid = transport.pid;
  server.connectedMs = now() - t0;
  return server;
}

/** One tool call; never throws. Returns {ok, ms, sc (structuredContent), error}. */
export async function callTool(server, name, args, timeoutMs = 30_000) {
  const t = now();
  try {
    const r = await server.client.callTool({ name, arguments: args }, undefined, { timeout: timeoutMs });
    const ms = now() - t;
    const sc = r.structuredContent;
    if (!sc || typeof sc !== 'object') return { ok: false, ms, sc: undefined, error: 'no structuredContent' };
    const ok = sc.exitCode === 0;
    const error = ok ? undefined : `${sc.error?.code ?? 'exit ' + sc.exitCode}: ${sc.error?.message ?? ''}`.trim();
    return { ok, ms, sc, error };
  } catch (e) {
    return { ok: false, ms: now() - t, sc: undefined, error: `call failed: ${e instanceof Error ? e.message : String(e)}` };
  }
}

// ---------------------------------------------------------------------------------------------
// /proc readings (Linux)
// ---------------------------------------------------------------------------------------------

/** Every descendant pid of `pid` (children, grandchildren...), via pgrep -P. */
export function descendantPids(pid) {
  const out = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift();
    let kids = [];
    try {
      kids = execFileSync('pgrep', ['-P', String(p)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    } catch {
      kids = []; // pgrep exits 1 when there is no child
    }
    for (const k of kids) {
      out.push(k);
      queue.push(k);
    }
  }
  return out;
}

/** VmRSS of one process in KiB, or 0 if it is gone. */
export function rssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Summed VmRSS (MiB) of every descendant of the server process (the sandbox host tree). */
export function hostTreeRssMiB(serverPid) {
  const pids = descendantPids(serverPid);
  return { pids, mib: pids.reduce((s, p) => s + rssKiB(p), 0) / 1024 };
}

/** utime+stime of a process, in clock ticks (100 Hz on Linux). */
function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/**
 * Wait until the server and its host use under `maxBusy` of one core over a `windowMs` window
 * (e.g. background warm-up of spare runtimes has finished), or `maxMs` passed. Returns ms waited.
 */
export async function waitIdle(serverPid, { windowMs = 300, maxBusy = 0.1, maxMs = 15_000, quietWindows = 2 } = {}) {
  const t0 = now();
  let quiet = 0;
  while (now() - t0 < maxMs) {
    const pids = [serverPid, ...descendantPids(serverPid)];
    const before = pids.reduce((s, p) => s + cpuTicks(p), 0);
    const w0 = now();
    await sleep(windowMs);
    const used = (pids.reduce((s, p) => s + cpuTicks(p), 0) - before) * 10; // ticks -> ms
    quiet = used / (now() - w0) <= maxBusy ? quiet + 1 : 0;
    if (quiet >= quietWindows) break;
  }
  return now() - t0;
}

// ---------------------------------------------------------------------------------------------
// formatting
// ---------------------------------------------------------------------------------------------

export function fmtMs(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  if (x < 1) return `${x.toFixed(3)} ms`;
  if (x < 100) return `${x.toFixed(2)} ms`;
  return `${x.toFixed(1)} ms`;
}

export function fmtUs(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  return `${x.toFixed(1)} µs`;
}

export function fmtRatio(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  return `${x.toFixed(3)}×`;
}

/** Render rows (arrays of strings) as an aligned text table with a header rule. */
export function renderTable(header, rows) {
  const all = [header, ...rows.filter((r) => Array.isArray(r))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
  const line = (r) => r.map((c, i) => String(c ?? '').padEnd(widths[i])).join(' │ ').trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('─┼─');
  const out = [line(header), rule];
  for (const r of rows) {
    if (typeof r === 'string') out.push(`── ${r} ${'─'.repeat(Math.max(0, rule.length - r.length - 4))}`);
    else out.push(line(r));
  }
  return out.join('\n');
}
