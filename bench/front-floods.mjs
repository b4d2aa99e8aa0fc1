// The front's RSS across output floods: one server, one call to start, then five rounds of ten
// run_js calls that each print past the policy's 1 MiB stdout cap; RSS after each round. A flood's
// result crosses the front as a few MiB-sized strings and buffers (the host's message, the result,
// its text block, the JSON-RPC line): RSS 1 s after each round, while that garbage can still be
// there, and again once the front has been quiet long enough to give it back. Run after a build:
// `node bench/front-floods.mjs`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { callTool, killLiveServers, rssKiB, startServer } from './lib.mjs';

const FLOOD = 'const s = "x".repeat(4096); for (let i = 0; i < 5000; i++) console.log(s); 1';
const rssMiB = (pid) => rssKiB(pid) / 1024;
const QUIET_MS = 7000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-floods-'));
// No snapshot cache: a server making a snapshot would hold its ~30 MB in the front meanwhile.
const server = await startServer({ keyDir: path.join(dir, 'keys'), cacheDir: 'off' });
try {
  const pid = server.transport.pid;
  await callTool(server, 'run_js', { code: '0' });
  const start = rssMiB(pid);
  const busy = [];
  const quiet = [];
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 10; i++) {
      const r = await callTool(server, 'run_js', { code: FLOOD }, 60_000);
      if (!r.ok) throw new Error(`a flood call failed: ${r.error}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    busy.push(rssMiB(pid));
    // Past the front's idle collection (5 s without a message: src/shared/idle-collector.ts).
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    quiet.push(rssMiB(pid));
  }
  const fmt = (list) => list.map((r) => r.toFixed(1)).join(' → ');
  console.log(`front RSS at start: ${start.toFixed(1)} MiB`);
  console.log(`1 s after each round of 10 floods:  ${fmt(busy)}`);
  console.log(`${QUIET_MS / 1000} s after each round (quiet): ${fmt(quiet)}`);
} finally {
  await server.close();
  killLiveServers();
  fs.rmSync(dir, { recursive: true, force: true });
}
