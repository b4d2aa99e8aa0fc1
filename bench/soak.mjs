// wasm-sandbox-mcp soak: hundreds of mixed calls — ordinary and hostile, both languages, several
// sessions — through one server over stdio, then a check that nothing leaked: the RSS of the front
// and of the sandbox host, the host's thread count and the process tree, each compared with a
// baseline taken once everything was warm. Run after a build: `npm run soak`.
//
// Bounded and local: the server speaks stdio only and its policy has no network; the mix is a
// fixed, seeded sequence; a watchdog ends the run. Exit 1 when RSS grew more than 10%, a thread or
// process leaked, the host was replaced, or a call did not end the way its kind must.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { descendantPids, killLiveServers, now, renderTable, rssKiB, sleep, startServer, waitIdle, withTimeout } from './lib.mjs';

const CALLS = Number(process.env.SOAK_CALLS ?? 520);
const CONCURRENCY = 4;
const RSS_GROWTH_LIMIT = 0.1;
const WATCHDOG_MS = 9 * 60_000;
const CALL_TIMEOUT_MS = 90_000;
const RUN_TIMEOUT_MS = 400; // hostile loops hit this
const SEED = 0x5eed;
const QUIET_MS = 20_000;
const WARMUP_MIX = Number(process.env.SOAK_WARMUP_MIX ?? 200);

const started = now();
const log = (msg) => process.stderr.write(`[soak +${((now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'wsm-soak-'));

function cleanup() {
  killLiveServers();
  rmSync(tmp, { recursive: true, force: true });
}
const watchdog = setTimeout(() => {
  log(`watchdog: the soak passed ${WATCHDOG_MS / 1000} s; stopping`);
  cleanup();
  process.exit(1);
}, WATCHDOG_MS);

// ---------------------------------------------------------------------------------------------
// the mix: each kind is a call and the outcome it must have
// ---------------------------------------------------------------------------------------------

const JS_SESSIONS = ['js-a', 'js-b', 'js-c'];
const PY_SESSIONS = ['py-a', 'py-b'];
const pick = (rand, list) => list[Math.floor(rand() * list.length)];
const exit = (...codes) => (r) => codes.includes(r.structuredContent?.exitCode);

/** kind → weight, how to build the call, and what its result must look like. */
const KINDS = {
  'js ok (session)': {
    weight: 8,
    args: (rand) => ({
      tool: 'run_js',
      args: {
        session: pick(rand, JS_SESSIONS),
        code: `globalThis.n = (globalThis.n ?? 0) + 1; fs.writeFileSync('/tmp/state.json', JSON.stringify({ n })); [1, 2, 3].map((x) => x * n).reduce((a, b) => a + b)`,
      },
    }),
    ok: exit(0),
  },
  'js ok (sessionless)': { weight: 4, args: () => ({ tool: 'run_js', args: { code: 'JSON.stringify({ a: [1, 2, { b: "c" }] }).length' } }), ok: exit(0) },
  'py ok (session)': {
    weight: 6,
    args: (rand) => ({
      tool: 'run_python',
      args: { session: pick(rand, PY_SESSIONS), code: 'n = globals().get("n", 0) + 1\nsum(i * n for i in range(1000))' },
    }),
    ok: exit(0),
  },
  'py ok (sessionless)': { weight: 2, args: () => ({ tool: 'run_python', args: { code: 'import json\nlen(json.dumps({"a": list(range(100))}))' } }), ok: exit(0) },
  'js infinite loop': { weight: 2, args: () => ({ tool: 'run_js', args: { code: 'for (;;) {}', timeoutMs: RUN_TIMEOUT_MS } }), ok: exit(124) },
  'py infinite loop': { weight: 2, args: () => ({ tool: 'run_python', args: { code: 'while True:\n    pass', timeoutMs: RUN_TIMEOUT_MS } }), ok: exit(124) },
  // Stopped by a limit: the memory cap (137), or on a loaded machine the time limit first (124).
  'js memory bomb': { weight: 1, args: () => ({ tool: 'run_js', args: { code: 'const k = []; for (;;) k.push(new Uint8Array(1 << 22).fill(7));' } }), ok: exit(137, 124) },
  'py memory bomb': { weight: 1, args: () => ({ tool: 'run_python', args: { code: 'k = []\nwhile True:\n    k.append(bytearray(8 << 20))' } }), ok: exit(137, 124) },
  'js output flood': {
    weight: 1,
    args: () => ({ tool: 'run_js', args: { code: 'const s = "x".repeat(4096); for (let i = 0; i < 5000; i++) console.log(s); 1' } }),
    ok: (r) => r.structuredContent?.exitCode === 0 && r.structuredContent.stdoutTruncated === true,
  },
  'py output flood': {
    weight: 1,
    args: () => ({ tool: 'run_python', args: { code: 's = "x" * 4096\nfor i in range(5000):\n    print(s)' } }),
    ok: (r) => r.structuredContent?.exitCode === 0 && r.structuredContent.stdoutTruncated === true,
  },
  'invalid input': {
    weight: 1,
    args: (rand) =>
      pick(rand, [
        { tool: 'run_js', args: { code: 42 } },
        { tool: 'run_python', args: { code: '1', session: '../../etc' } },
        { tool: 'run_js', args: { code: '1', timeoutMs: -5 } },
        { tool: 'no_such_tool', args: {} },
      ]),
    // Refused as a tool error or a JSON-RPC error; either way the server answered.
    ok: (r) => r.isError === true || r.rpcError === true,
  },
  cancelled: {
    weight: 1,
    // A run that never ends by itself, cancelled by the client (notifications/cancelled).
    args: (rand) => (rand() < 0.5 ? { tool: 'run_js', args: { code: 'for (;;) {}' } } : { tool: 'run_python', args: { code: 'while True:\n    pass' } }),
    cancelAfterMs: 150,
    ok: (r) => r.cancelled === true,
  },
};

/** A seeded PRNG (mulberry32): the same mix every run. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function plan(count, rand) {
  const bag = Object.entries(KINDS).flatMap(([name, k]) => Array(k.weight).fill(name));
  return Array.from({ length: count }, () => {
    const kind = pick(rand, bag);
    return { kind, ...KINDS[kind].args(rand) };
  });
}

async function perform(server, call) {
  const controller = new AbortController();
  let timer;
  const cancelAfterMs = KINDS[call.kind].cancelAfterMs;
  if (cancelAfterMs) timer = setTimeout(() => controller.abort(), cancelAfterMs);
  try {
    const r = await server.client.callTool({ name: call.tool, arguments: call.args }, undefined, { timeout: CALL_TIMEOUT_MS, signal: controller.signal });
    return r;
  } catch (e) {
    if (controller.signal.aborted) return { cancelled: true };
    // A JSON-RPC error (unknown tool, invalid params) is an answer; a timeout or closed connection is not.
    if (typeof e?.code === 'number' && e.code !== -32001 && e.code !== -32000) return { rpcError: true };
    return { failure: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
  }
}

async function runCalls(server, calls, tally) {
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const call = calls[next++];
      const t0 = now();
      const r = await perform(server, call);
      const t = (tally[call.kind] ??= { n: 0, ok: 0, ms: 0, bad: [] });
      t.n++;
      t.ms += now() - t0;
      if (KINDS[call.kind].ok(r)) t.ok++;
      else t.bad.push(r.failure ?? JSON.stringify(r.structuredContent ?? r).slice(0, 300));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

// ---------------------------------------------------------------------------------------------
// measurements
// ---------------------------------------------------------------------------------------------

const threadCount = (pid) => {
  try {
    return readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
};

/** The host's threads by name (e.g. {"node": 1, "V8 DefaultWorke": 2}), to say which kind leaked. */
function threadNames(pid) {
  const names = {};
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const name = readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      names[name] = (names[name] ?? 0) + 1;
    }
  } catch {
    /* gone */
  }
  return names;
}

/** Median of a few readings a little apart: one reading can catch a GC mid-way. */
async function measure(frontPid) {
  const samples = [];
  for (let i = 0; i < 5; i++) {
    const tree = descendantPids(frontPid);
    const host = tree[0];
    samples.push({ front: rssKiB(frontPid), host: host ? rssKiB(host) : 0, threads: host ? threadCount(host) : 0, procs: tree.length, hostPid: host });
    await sleep(400);
  }
  const median = (key) => samples.map((s) => s[key]).sort((a, b) => a - b)[2];
  const hostPid = samples[4].hostPid;
  return {
    front: median('front'),
    host: median('host'),
    threads: median('threads'),
    procs: median('procs'),
    hostPid,
    threadNames: hostPid ? threadNames(hostPid) : {},
    mappings: { front: rssByMapping(frontPid), host: hostPid ? rssByMapping(hostPid) : {} },
  };
}

/**
 * RSS by kind of mapping (MiB), from /proc/PID/smaps: which allocator a change in RSS came from.
 * V8 allocates its heap in 256 KiB pages; glibc's heap is `[heap]`; anonymous mappings of 4 MiB or
 * more are mostly the runtimes' WebAssembly memories.
 */
function rssByMapping(pid) {
  const kinds = { 'V8 heap pages': 0, 'glibc heap': 0, 'anonymous ≥ 4 MiB (WebAssembly memories)': 0, 'other anonymous': 0, files: 0 };
  let kind;
  try {
    for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (m) {
        const kib = (parseInt(m[2], 16) - parseInt(m[1], 16)) / 1024;
        const name = m[3];
        kind = name === '[heap]' ? 'glibc heap' : name.startsWith('/') ? 'files' : name ? undefined : kib === 256 ? 'V8 heap pages' : kib >= 4096 ? 'anonymous ≥ 4 MiB (WebAssembly memories)' : 'other anonymous';
        continue;
      }
      const rss = /^Rss:\s+(\d+)/.exec(line);
      if (rss && kind) kinds[kind] += Number(rss[1]) / 1024;
    }
  } catch {
    /* gone */
  }
  return kinds;
}

async function settle(pid) {
  await waitIdle(pid, { windowMs: 500, maxBusy: 0.05, maxMs: 30_000, quietWindows: 3 });
  // Let the runtimes' idle-time work finish: spare workers, and V8's memory reducer, which starts
  // ~8 s after a process goes quiet and returns pages over the next seconds. The baseline and the
  // final reading get the same quiet period.
  await sleep(QUIET_MS);
}

// ---------------------------------------------------------------------------------------------
// the run
// ---------------------------------------------------------------------------------------------

const server = await startServer({
  keyDir: path.join(tmp, 'keys'),
  connectTimeoutMs: 60_000,
  extraArgs: ['--max-memory', '128', '--max-stdout', '65536', '--capsule-store', 'off', '--audit-log', 'off', '--log-level', 'warn'],
});
const frontPid = server.pid;
log(`server ${frontPid} up; warming every kind twice`);

// Warm-up: every kind twice, so lazy start-up (the Python snapshot, spare workers, each session's
// runtime, code paths of every limit) is in the baseline, not counted as growth.
const warmTally = {};
const warmCalls = Object.keys(KINDS).flatMap((kind) => {
  const rand = prng(SEED ^ kind.length);
  return [0, 1].map(() => ({ kind, ...KINDS[kind].args(rand) }));
});
for (const s of [...JS_SESSIONS, ...PY_SESSIONS]) warmCalls.push({ kind: s.startsWith('js') ? 'js ok (session)' : 'py ok (session)', tool: s.startsWith('js') ? 'run_js' : 'run_python', args: { session: s, code: '0' } });
await runCalls(server, warmCalls, warmTally);

// Then each kind that starts or ends a runtime, 4 at a time (the load's concurrency): the most
// runtimes alive at once is what the allocators' high-water marks follow (glibc keeps a freed
// block's pages when a live one sits above it), and that peak belongs in the baseline; the soak is
// after what keeps growing with the number of calls.
const PEAK_KINDS = ['py ok (sessionless)', 'py output flood', 'py memory bomb', 'py infinite loop', 'js output flood', 'js memory bomb', 'js infinite loop'];
const peakRand = prng(SEED ^ 0x9e37);
log(`warming each runtime-churning kind ${CONCURRENCY} at a time`);
await runCalls(server, PEAK_KINDS.flatMap((kind) => Array.from({ length: CONCURRENCY }, () => ({ kind, ...KINDS[kind].args(peakRand) }))), warmTally);

// Then a slice of the mix itself (another seed): much of the front's allocator growth (V8's old
// space and code, glibc's heap and the arenas of V8's helper threads; its JS heap's live data stays
// flat: SECURITY.md, "Soak") comes in the first few hundred calls. That step belongs in the
// baseline; the soak is after what keeps growing.
log(`warming with ${WARMUP_MIX} calls of the mix`);
await runCalls(server, plan(WARMUP_MIX, prng(SEED ^ 0xa5a5)), warmTally);
// The host keeps up to 4 idle sessionless JS workers (src/sandbox/pool.ts): fill that bounded pool
// last, with as many sessionless runs at once as the load will make, so it is in the baseline.
const fill = Array.from({ length: CONCURRENCY * 2 }, () => ({ kind: 'js ok (sessionless)', ...KINDS['js ok (sessionless)'].args() }));
await runCalls(server, fill, warmTally);
await settle(frontPid);
const before = await measure(frontPid);
log(`baseline: front ${(before.front / 1024).toFixed(1)} MiB, host ${(before.host / 1024).toFixed(1)} MiB, ${before.threads} host threads, ${before.procs} process(es)`);

const calls = plan(CALLS, prng(SEED));
const tally = {};
const loadStart = now();
await runCalls(server, calls, tally);
const loadMs = now() - loadStart;
log(`${calls.length} calls in ${(loadMs / 1000).toFixed(1)} s; settling`);

await settle(frontPid);
const after = await measure(frontPid);
const grew = (a, b) => (a - b) / b;

await withTimeout(server.close(), 10_000, 'server close').catch(() => undefined);
await sleep(1500);
const leftovers = [before.hostPid, after.hostPid].filter((p) => {
  try {
    process.kill(p, 0);
    return true;
  } catch {
    return false;
  }
});

// ---------------------------------------------------------------------------------------------
// report
// ---------------------------------------------------------------------------------------------

const rows = Object.entries(tally)
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([kind, t]) => [kind, String(t.n), String(t.ok), String(t.n - t.ok), `${(t.ms / t.n).toFixed(0)} ms`]);
const total = Object.values(tally).reduce((s, t) => s + t.n, 0);
const totalOk = Object.values(tally).reduce((s, t) => s + t.ok, 0);
rows.push(['all', String(total), String(totalOk), String(total - totalOk), `${(loadMs / 1000).toFixed(1)} s wall`]);
console.log(`\nwasm-sandbox-mcp soak — ${process.version}, ${os.cpus().length} cpus, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
console.log(renderTable(['kind', 'calls', 'as expected', 'unexpected', 'mean'], rows));

const pct = (a, b) => `${grew(a, b) >= 0 ? '+' : ''}${(grew(a, b) * 100).toFixed(1)}%`;
const mib = (k) => `${(k / 1024).toFixed(1)} MiB`;
const checks = [
  ['front RSS', mib(before.front), mib(after.front), pct(after.front, before.front), grew(after.front, before.front) <= RSS_GROWTH_LIMIT],
  ['sandbox host RSS', mib(before.host), mib(after.host), pct(after.host, before.host), grew(after.host, before.host) <= RSS_GROWTH_LIMIT],
  ['sandbox host threads', String(before.threads), String(after.threads), String(after.threads - before.threads), after.threads <= before.threads],
  ['processes under the front', String(before.procs), String(after.procs), String(after.procs - before.procs), after.procs <= before.procs],
  ['sandbox host pid', String(before.hostPid), String(after.hostPid), before.hostPid === after.hostPid ? 'same' : 'replaced', before.hostPid === after.hostPid],
  ['processes left after shutdown', '', String(leftovers.length), '', leftovers.length === 0],
];
console.log(`\n${renderTable(['measure', 'before', 'after', 'change', 'pass'], checks.map((c) => [...c.slice(0, 4), c[4] ? 'yes' : 'NO']))}`);

const mappingRows = ['front', 'host'].flatMap((proc) =>
  Object.keys(before.mappings[proc]).map((k) => {
    const b = before.mappings[proc][k] ?? 0;
    const a = after.mappings[proc][k] ?? 0;
    return [`${proc === 'front' ? 'front' : 'sandbox host'}: ${k}`, b.toFixed(1), a.toFixed(1), `${a - b >= 0 ? '+' : ''}${(a - b).toFixed(1)}`];
  }),
);
console.log(`\nRSS by kind of mapping, MiB (/proc/PID/smaps; not checked, it says where a change came from)\n${renderTable(['mapping', 'before', 'after', 'change'], mappingRows)}`);

const threadDiff = Object.keys({ ...before.threadNames, ...after.threadNames })
  .filter((n) => (before.threadNames[n] ?? 0) !== (after.threadNames[n] ?? 0))
  .map((n) => `${n}: ${before.threadNames[n] ?? 0} → ${after.threadNames[n] ?? 0}`);
if (threadDiff.length) console.log(`\nhost threads by name that changed: ${threadDiff.join(', ')}`);
const unexpected = Object.entries(tally).filter(([, t]) => t.bad.length > 0);
for (const [kind, t] of unexpected) console.log(`\nunexpected outcomes of "${kind}" (${t.bad.length}), first: ${t.bad[0]}`);
const warmBad = Object.entries(warmTally).filter(([, t]) => t.bad.length > 0);
for (const [kind, t] of warmBad) console.log(`\nunexpected outcome during warm-up of "${kind}": ${t.bad[0]}`);

const passed = checks.every((c) => c[4]) && unexpected.length === 0 && warmBad.length === 0 && total >= 500;
console.log(`\nsoak ${passed ? 'PASSED' : 'FAILED'}: ${total} calls, RSS growth limit ${RSS_GROWTH_LIMIT * 100}%`);
console.log(
  JSON.stringify({
    soak: { calls: total, asExpected: totalOk, loadMs: Math.round(loadMs), before, after, leftovers: leftovers.length, passed, node: process.version },
  }),
);
clearTimeout(watchdog);
cleanup();
process.exit(passed ? 0 : 1);
