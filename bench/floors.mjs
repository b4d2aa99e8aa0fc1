// Floors: what the parts the product must use cost on their own, measured in the same run as ours.
// - MCP over stdio: the same SDK and tool schemas with a handler that answers at once
//   (bench/floor-server.mjs): spawn → tools/list, and a warm call's round trip.
// - Pyodide in a fresh process: `node` started, Pyodide loaded from the very snapshot our server
//   uses (the bench's cache), `1+1` run (bench/bare-pyodide.mjs) — spawn → first result, with no
//   MCP, no policy, no second process and no hardening.
// A target below its floor cannot be met by this design on this machine; the table says so.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ROOT, now, summarize, withTimeout } from './lib.mjs';

const FLOOR_SERVER = path.join(ROOT, 'bench', 'floor-server.mjs');
const BARE_PYODIDE = path.join(ROOT, 'bench', 'bare-pyodide.mjs');

export async function benchMcpFloor({ spawnReps = 3, calls = 300, warmup = 50 } = {}) {
  const toList = [];
  const rt = [];
  for (let i = 0; i < spawnReps; i++) {
    const t0 = now();
    const transport = new StdioClientTransport({ command: process.execPath, args: [FLOOR_SERVER], cwd: ROOT, stderr: 'inherit' });
    const client = new Client({ name: 'wasm-sandbox-mcp-bench-floor', version: '0.0.0' });
    try {
      await withTimeout(client.connect(transport), 30_000, 'floor connect');
      await client.listTools();
      toList.push(now() - t0);
      if (i === 0) {
        const call = () => client.callTool({ name: 'run_js', arguments: { code: '1+1', session: 'warm' } });
        for (let k = 0; k < warmup; k++) await call();
        for (let k = 0; k < calls; k++) {
          const t = now();
          const r = await call();
          rt.push(now() - t);
          if (r.structuredContent?.result !== 2) throw new Error('floor server answered wrongly');
        }
      }
    } finally {
      await client.close().catch(() => {});
    }
  }
  return { spawnToToolsListMs: summarize(toList), warmRoundTripMs: summarize(rt) };
}

/** spawn → first result of bare Pyodide from `snapshot`, `reps` fresh processes. */
export async function benchPyodideFloor({ cacheDir, reps = 3 }) {
  const file = readdirSync(cacheDir).find((f) => f.endsWith('.snapshot'));
  if (!file) return { skipped: `no snapshot in ${cacheDir}` };
  const times = [];
  const loadInProcess = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    const line = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BARE_PYODIDE, path.join(cacheDir, file)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        // Timed at the answer, as for our server: not the child's exit.
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.on('error', reject);
      child.on('exit', (code) => reject(new Error(`bare Pyodide exited ${code} before answering`)));
    });
    times.push(now() - t0);
    const answer = JSON.parse(line);
    if (answer.result !== 2) throw new Error(`bare Pyodide answered ${line}`);
    loadInProcess.push(answer.inProcessMs);
  }
  return { spawnToFirstResultMs: summarize(times), inProcessMs: summarize(loadInProcess) };
}
