// wasm-sandbox-mcp churn: the sandbox host's RSS before and after N calls of one kind, each of which
// starts or ends a runtime worker — the measurement behind the allocator settings in
// src/protocol/host-env.ts. Run after a build: `node bench/churn.mjs [kind] [count]`, e.g.
// `node bench/churn.mjs py-sessionless 100`. Kinds are listed below; bounded, local, no network.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { descendantPids, killLiveServers, rssKiB, sleep, startServer, waitIdle } from './lib.mjs';

const KINDS = {
  'py-sessionless': { name: 'run_python', arguments: { code: 'import json\nlen(json.dumps({"a": list(range(100))}))' } },
  'py-loop': { name: 'run_python', arguments: { code: 'while True:\n    pass', timeoutMs: 400 } },
  'py-memory-bomb': { name: 'run_python', arguments: { code: 'k = []\nwhile True:\n    k.append(bytearray(8 << 20))' } },
  'js-sessionless': { name: 'run_js', arguments: { code: 'JSON.stringify({ a: [1, 2, { b: "c" }] }).length' } },
  'js-loop': { name: 'run_js', arguments: { code: 'for (;;) {}', timeoutMs: 400 } },
  'js-memory-bomb': { name: 'run_js', arguments: { code: 'const k = []; for (;;) k.push(new Uint8Array(1 << 22).fill(7));' } },
};
const [kind = 'py-sessionless', countArg = '100'] = process.argv.slice(2);
if (!KINDS[kind]) {
  console.error(`unknown kind ${kind}; one of: ${Object.keys(KINDS).join(', ')}`);
  process.exit(2);
}
const count = Number(countArg);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'wsm-churn-'));
const watchdog = setTimeout(() => {
  killLiveServers();
  process.exit(1);
}, 10 * 60_000);

const server = await startServer({
  keyDir: path.join(tmp, 'keys'),
  connectTimeoutMs: 60_000,
  extraArgs: ['--max-memory', '128', '--capsule-store', 'off', '--audit-log', 'off', '--log-level', 'warn'],
});
const call = () => server.client.callTool(KINDS[kind], undefined, { timeout: 90_000 });
const host = () => descendantPids(server.pid)[0];
const reading = () => ({ rssMiB: +(rssKiB(host()) / 1024).toFixed(1), threads: readdirSync(`/proc/${host()}/task`).length });
const settle = async () => {
  await waitIdle(server.pid, { windowMs: 500, maxBusy: 0.05, maxMs: 30_000, quietWindows: 3 });
  await sleep(2000);
};

for (let i = 0; i < 3; i++) await call();
await settle();
const before = reading();
const t0 = performance.now();
for (let i = 0; i < count; i++) await call();
const ms = performance.now() - t0;
await settle();
const after = reading();
const growth = (after.rssMiB - before.rssMiB) / before.rssMiB;
console.log(`${kind} × ${count} in ${(ms / 1000).toFixed(1)} s: host RSS ${before.rssMiB} → ${after.rssMiB} MiB (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%), threads ${before.threads} → ${after.threads}`);
await server.close();
clearTimeout(watchdog);
killLiveServers();
rmSync(tmp, { recursive: true, force: true });
