// wasm-sandbox-mcp benchmark: the server over real stdio (MCP SDK client) next to the bare
// runtimes in this process. Prints a table with targets and one final JSON line.
// Run after a build: `npm run bench` (= npm run build && node bench/run.mjs).
//
// Bounded: every phase has its own cap and a watchdog ends the run if the total passes
// WATCHDOG_MS. A missed target never fails the run; a server that cannot start does (exit 1).
import { generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ROOT,
  SERVER_MAIN,
  callTool,
  fmtMs,
  fmtRatio,
  fmtUs,
  killLiveServers,
  now,
  renderTable,
  roundDeep,
  startServer,
  summarize,
  waitIdle,
} from './lib.mjs';
import { benchMcpFloor, benchPyodideFloor } from './floors.mjs';
import { benchPython } from './python.mjs';

const BUDGET_MS = 190_000; // phases plan against this
const WATCHDOG_MS = 250_000; // hard stop
const SPAWN_REPS = 5;
const WARMUP_CALLS = 50;
const TRIVIAL_CALLS = 500;
const COMPUTE_REPS = 20;
const THROUGHPUT_SESSIONS = 8;
const THROUGHPUT_MS = 5_000;
const CAPSULE_WARMUP = 200;
const CAPSULE_ITERS = 2_000;

const started = now();
const deadline = started + BUDGET_MS;
const left = () => deadline - now();
const log = (msg) => process.stderr.write(`[bench +${((now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'wsm-bench-'));
const keyDir = path.join(tmp, 'keys');
const cacheDir = path.join(tmp, 'cache');
// Python's signed snapshot, made once as a first install would (`prepare`); every server then
// starts Python from the cache, which is what a user sees from the second start on.
log('preparing the python snapshot cache (once)...');
const prepareStarted = now();
execFileSync(process.execPath, [SERVER_MAIN, 'prepare', '--key-dir', keyDir, '--cache-dir', cacheDir], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } });
const snapshotPrepareMs = Math.round(now() - prepareStarted);
log(`python snapshot made and cached in ${snapshotPrepareMs} ms`);

const results = {
  meta: {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    loadavgStart: os.loadavg(),
    startedAt: new Date().toISOString(),
  },
  js: {},
  capsule: {},
  python: {},
  floors: {},
};

function cleanup() {
  killLiveServers();
  rmSync(tmp, { recursive: true, force: true });
}

const watchdog = setTimeout(() => {
  log(`watchdog: the run passed ${WATCHDOG_MS / 1000} s; stopping with partial results`);
  results.meta.aborted = 'watchdog';
  try {
    report();
  } finally {
    cleanup();
    process.exit(3);
  }
}, WATCHDOG_MS);
watchdog.unref();

// ---------------------------------------------------------------------------------------------
// phases
// ---------------------------------------------------------------------------------------------

/** 1. spawn -> tools/list, fresh process each time. */
async function phaseSpawn() {
  const toList = [];
  const connect = [];
  const firstRun = [];
  const errors = [];
  for (let i = 0; i < SPAWN_REPS && (i === 0 || left() > 120_000); i++) {
    let server;
    try {
      server = await startServer({ keyDir, cacheDir });
    } catch (e) {
      if (i === 0) throw Object.assign(e, { fatal: true }); // the server cannot be started at all
      errors.push(e.message);
      continue;
    }
    try {
      const { tools } = await server.client.listTools();
      toList.push(now() - server.t0);
      connect.push(server.connectedMs);
      if (i === 0) results.js.tools = tools.map((t) => t.name);
      const r = await callTool(server, 'run_js', { code: '1+1' });
      firstRun.push(r.ms);
      if (!r.ok) errors.push(r.error);
    } catch (e) {
      errors.push(e.message);
    } finally {
      await server.close();
    }
  }
  results.js.spawnToToolsListMs = summarize(toList);
  results.js.spawnToInitializedMs = summarize(connect);
  results.js.firstRunAfterListMs = summarize(firstRun);
  results.js.spawnErrors = errors.length;
  if (errors.length) results.js.spawnFirstError = errors[0];
  log(`spawn -> tools/list p50 ${fmtMs(results.js.spawnToToolsListMs.p50)} (n=${toList.length})`);
}

/** Many sequential trivial calls (after a warm-up), round trip and server-reported durationMs. */
async function trivialSeries(server, session, capMs) {
  const args = session ? { code: '1+1', session } : { code: '1+1' };
  const errors = [];
  for (let i = 0; i < WARMUP_CALLS; i++) {
    const r = await callTool(server, 'run_js', args);
    if (!r.ok) errors.push(r.error);
  }
  const rt = [];
  const dur = [];
  let wrong = 0;
  const stopAt = now() + capMs;
  for (let i = 0; i < TRIVIAL_CALLS && now() < stopAt; i++) {
    const r = await callTool(server, 'run_js', args);
    rt.push(r.ms);
    if (r.sc) dur.push(r.sc.durationMs);
    if (!r.ok) errors.push(r.error);
    else if (r.sc.result !== 2) wrong++;
  }
  const out = { roundTripMs: summarize(rt), durationMs: summarize(dur), errors: errors.length, wrongResults: wrong };
  if (errors.length) out.firstError = errors[0];
  return out;
}

/** Bare QuickJS trivial eval: persistent context, and a fresh runtime+context per eval. */
function bareTrivial(mod) {
  const rt = mod.newRuntime();
  const ctx = rt.newContext();
  const once = () => {
    const t = now();
    const h = ctx.unwrapResult(ctx.evalCode('1+1'));
    const v = ctx.getNumber(h);
    h.dispose();
    const ms = now() - t;
    if (v !== 2) throw new Error('bare QuickJS: 1+1 !== 2');
    return ms;
  };
  for (let i = 0; i < WARMUP_CALLS; i++) once();
  const persistent = [];
  for (let i = 0; i < TRIVIAL_CALLS; i++) persistent.push(once());
  ctx.dispose();
  rt.dispose();
  const fresh = [];
  for (let i = 0; i < 20 + 200; i++) {
    const t = now();
    const r = mod.newRuntime();
    const c = r.newContext();
    c.unwrapResult(c.evalCode('1+1')).dispose();
    c.dispose();
    r.dispose();
    if (i >= 20) fresh.push(now() - t);
  }
  return { persistentEvalMs: summarize(persistent), freshRuntimeEvalMs: summarize(fresh) };
}

const fibJs = (n) => `(function fib(n){return n<2?n:fib(n-1)+fib(n-2)})(${n})`;

/** Bare QuickJS: new runtime+context, timed evalCode of the snippet. */
function bareCompute(mod, code) {
  const rt = mod.newRuntime();
  const ctx = rt.newContext();
  try {
    const t = now();
    const res = ctx.evalCode(code);
    const ms = now() - t;
    const h = ctx.unwrapResult(res);
    const value = ctx.dump(h);
    h.dispose();
    return { ms, value };
  } finally {
    ctx.dispose();
    rt.dispose();
  }
}

/** 4. compute snippet: ours (durationMs and round trip) vs bare QuickJS, interleaved. */
async function phaseCompute(server, mod) {
  // Warm the bare module's compiled code, then pick n so the bare run takes >= ~120 ms.
  for (let i = 0; i < 3; i++) bareCompute(mod, fibJs(25));
  let n = 26;
  for (; n < 32; n++) {
    const a = bareCompute(mod, fibJs(n)).ms;
    const b = bareCompute(mod, fibJs(n)).ms;
    if (Math.min(a, b) >= 120) break;
  }
  const code = fibJs(n);
  const errors = [];
  for (let i = 0; i < 3; i++) {
    const r = await callTool(server, 'run_js', { code, session: 'compute' });
    if (!r.ok) errors.push(r.error);
    bareCompute(mod, code);
  }
  const oursDur = [];
  const oursRt = [];
  const bare = [];
  let oursValue;
  let bareValue;
  const ours = async () => {
    const r = await callTool(server, 'run_js', { code, session: 'compute' });
    oursRt.push(r.ms);
    if (r.ok) {
      oursDur.push(r.sc.durationMs);
      oursValue = r.sc.result;
    } else errors.push(r.error);
  };
  const bareOnce = () => {
    const b = bareCompute(mod, code);
    bare.push(b.ms);
    bareValue = b.value;
  };
  const stopAt = now() + Math.min(30_000, Math.max(5_000, left() - 110_000));
  for (let i = 0; i < COMPUTE_REPS && now() < stopAt; i++) {
    // alternate the order so neither side always runs right after the other
    if (i % 2 === 0) {
      await ours();
      bareOnce();
    } else {
      bareOnce();
      await ours();
    }
  }
  const d = summarize(oursDur);
  const r = summarize(oursRt);
  const b = summarize(bare);
  results.js.compute = {
    snippet: `fib(${n}) (recursive)`,
    n,
    ours: { durationMs: d, roundTripMs: r, value: oursValue },
    bare: { evalMs: b, value: bareValue },
    sameValue: oursValue === bareValue,
    ratioDuration: b.p50 ? d.p50 / b.p50 : null,
    ratioRoundTrip: b.p50 ? r.p50 / b.p50 : null,
    ratioDurationMin: b.min ? d.min / b.min : null,
    errors: errors.length,
  };
  if (errors.length) results.js.compute.firstError = errors[0];
  log(`compute fib(${n}): ours ${fmtMs(d.p50)} (rt ${fmtMs(r.p50)}) vs bare ${fmtMs(b.p50)}`);
}

/** 5. throughput: THROUGHPUT_SESSIONS loops, each in its own session, for THROUGHPUT_MS. */
async function phaseThroughput(server) {
  const sessions = Array.from({ length: THROUGHPUT_SESSIONS }, (_, i) => `tp-${i}`);
  await Promise.all(sessions.map((s) => callTool(server, 'run_js', { code: '1+1', session: s })));
  await Promise.all(sessions.map((s) => callTool(server, 'run_js', { code: '1+1', session: s })));
  const lat = [];
  let calls = 0;
  let errors = 0;
  let firstError;
  const t0 = now();
  const stopAt = t0 + THROUGHPUT_MS;
  await Promise.all(
    sessions.map(async (session) => {
      while (now() < stopAt) {
        const r = await callTool(server, 'run_js', { code: '1+1', session });
        calls++;
        lat.push(r.ms);
        if (!r.ok) {
          errors++;
          firstError ??= r.error;
        }
      }
    }),
  );
  const elapsed = now() - t0;
  results.js.throughput = {
    sessions: THROUGHPUT_SESSIONS,
    elapsedMs: elapsed,
    calls,
    okCalls: calls - errors,
    callsPerSec: (calls / elapsed) * 1000,
    okCallsPerSec: ((calls - errors) / elapsed) * 1000,
    latencyMs: summarize(lat),
    errors,
  };
  if (firstError) results.js.throughput.firstError = firstError;
  log(`throughput: ${calls} calls in ${(elapsed / 1000).toFixed(2)} s = ${results.js.throughput.callsPerSec.toFixed(0)} calls/s (${errors} errors)`);
  for (const s of sessions) await server.client.callTool({ name: 'reset_session', arguments: { session: s } }).catch(() => {});
}

async function phaseJs() {
  const { newQuickJSWASMModuleFromVariant } = await import('quickjs-emscripten-core');
  const mod = await newQuickJSWASMModuleFromVariant(import('@jitl/quickjs-wasmfile-release-sync'));
  let server;
  try {
    server = await startServer({ keyDir, cacheDir });
  } catch (e) {
    e.fatal = true;
    throw e;
  }
  try {
    results.js.serverPid = server.pid;
    // The host warms spare runtimes in the background after start; measure on a quiet server.
    results.js.settleMs = await waitIdle(server.pid, { maxMs: 15_000 });

    results.js.warmSession = await trivialSeries(server, 'warm', Math.min(40_000, Math.max(5_000, left() - 140_000)));
    log(`warm session: p50 ${fmtMs(results.js.warmSession.roundTripMs.p50)} p99 ${fmtMs(results.js.warmSession.roundTripMs.p99)}`);
    results.js.sessionless = await trivialSeries(server, undefined, Math.min(40_000, Math.max(5_000, left() - 125_000)));
    log(`sessionless: p50 ${fmtMs(results.js.sessionless.roundTripMs.p50)} p99 ${fmtMs(results.js.sessionless.roundTripMs.p99)}`);
    results.js.bareTrivial = bareTrivial(mod);
    await phaseCompute(server, mod);
    await phaseThroughput(server);
  } finally {
    await server.close();
  }
}

/** 6. capsule sign + verify in this process. */
async function phaseCapsule() {
  const signerPath = path.join(ROOT, 'dist', 'front', 'capsule', 'signer.js');
  const capsulePath = path.join(ROOT, 'dist', 'protocol', 'capsule.js');
  const { CapsuleSigner, buildCapsuleBody } = await import(pathToFileURL(signerPath).href);
  const { verifyCapsule, keyringFromPublicKeys, capsuleSigningInput } = await import(pathToFileURL(capsulePath).href);
  const signer = CapsuleSigner.generate();
  const keyring = keyringFromPublicKeys(signer.publicKeys());
  const unit = 'const v = [1, 2, 3].map((x) => x * 2);\n';
  const code = unit.repeat(Math.ceil(2048 / unit.length)).slice(0, 2048);
  const policy = { limits: { timeoutMs: 1000, memMb: 64, stdoutBytes: 1024, stderrBytes: 1024 } };
  const total = [];
  const sign = [];
  const verify = [];
  for (let i = 0; i < CAPSULE_WARMUP + CAPSULE_ITERS; i++) {
    const body = buildCapsuleBody({ language: 'js', code, session: null, policy, files: [], keyId: signer.keyId });
    const t0 = now();
    const wire = signer.sign(body);
    const t1 = now();
    const v = verifyCapsule(wire, keyring, Date.now());
    const t2 = now();
    if (v.body.code !== code) throw new Error('capsule round trip changed the code');
    if (i >= CAPSULE_WARMUP) {
      total.push((t2 - t0) * 1000);
      sign.push((t1 - t0) * 1000);
      verify.push((t2 - t1) * 1000);
    }
  }
  // The floor: Ed25519 alone (node:crypto, the same library ours calls) over the same signing input,
  // interleaved with nothing else; what sign+verify costs beyond it is ours.
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const input = capsuleSigningInput(signer.sign(buildCapsuleBody({ language: 'js', code, session: null, policy, files: [], keyId: signer.keyId })).body);
  const bareTotal = [];
  for (let i = 0; i < CAPSULE_WARMUP + CAPSULE_ITERS; i++) {
    const t0 = now();
    const signature = cryptoSign(null, input, privateKey);
    if (!cryptoVerify(null, input, publicKey, signature)) throw new Error('bare Ed25519 did not verify');
    if (i >= CAPSULE_WARMUP) bareTotal.push((now() - t0) * 1000);
  }
  results.capsule = {
    codeBytes: Buffer.byteLength(code),
    iterations: CAPSULE_ITERS,
    signVerifyUs: summarize(total),
    signUs: summarize(sign),
    verifyUs: summarize(verify),
    bareEd25519Us: summarize(bareTotal),
  };
  log(`capsule sign+verify p50 ${fmtUs(results.capsule.signVerifyUs.p50)}`);
}

/** 7. floors: the MCP SDK over stdio and bare Pyodide in a fresh process, alone (bench/floors.mjs). */
async function phaseFloors() {
  try {
    results.floors.mcp = await benchMcpFloor();
    log(`floor: MCP no-op tool warm p50 ${fmtMs(results.floors.mcp.warmRoundTripMs.p50)}, spawn → tools/list p50 ${fmtMs(results.floors.mcp.spawnToToolsListMs.p50)}`);
  } catch (e) {
    results.floors.mcp = { error: e.message };
  }
  if (!results.python.available || left() < 15_000) return;
  try {
    results.floors.pyodide = await benchPyodideFloor({ cacheDir });
    log(`floor: bare Pyodide from the snapshot, spawn → first result p50 ${fmtMs(results.floors.pyodide.spawnToFirstResultMs?.p50)}`);
  } catch (e) {
    results.floors.pyodide = { error: e.message };
  }
}

// ---------------------------------------------------------------------------------------------
// report
// ---------------------------------------------------------------------------------------------

function target(name, value, op, limit, unit) {
  let status;
  if (value === null || value === undefined || !Number.isFinite(value)) status = 'NOT MET (no data)';
  else status = (op === '<=' ? value <= limit : value >= limit) ? 'MET' : 'NOT MET';
  return { name, value, op, limit, unit, status };
}

function report() {
  const js = results.js;
  const py = results.python;
  const cap = results.capsule;
  results.meta.loadavgEnd = os.loadavg();
  results.meta.totalMs = now() - started;
  const T = [];
  const push = (t) => (T.push(t), `${t.op === '<=' ? '≤' : '≥'} ${t.limit}${t.unit}`);
  const st = (name) => T.find((t) => t.name === name)?.status ?? '';
  const errNote = (o) => (o && o.errors ? ` (${o.errors} errors: ${String(o.firstError ?? '').slice(0, 60)})` : '');

  const rows = [];
  rows.push('run_js over stdio (SDK client) vs bare QuickJS in the bench process');
  if (js.spawnToToolsListMs) {
    const s = js.spawnToToolsListMs;
    const tg = push(target('js.spawnToToolsList.p50', s.p50, '<=', 200, ' ms'));
    rows.push([`spawn → tools/list p50 (n=${s.n})`, fmtMs(s.p50), '', '', tg, st('js.spawnToToolsList.p50')]);
    rows.push([`spawn → tools/list min / max`, `${fmtMs(s.min)} / ${fmtMs(s.max)}`, '', '', '', '']);
    rows.push([`  first run_js after tools/list p50`, fmtMs(js.firstRunAfterListMs?.p50), '', '', '', js.spawnErrors ? `${js.spawnErrors} errors` : '']);
  }
  if (js.warmSession) {
    const w = js.warmSession;
    const bare = js.bareTrivial?.persistentEvalMs;
    const tg50 = push(target('js.warmSession.p50', w.roundTripMs.p50, '<=', 1, ' ms'));
    const tg99 = push(target('js.warmSession.p99', w.roundTripMs.p99, '<=', 5, ' ms'));
    rows.push([`trivial 1+1, warm session, round trip p50 (n=${w.roundTripMs.n})`, fmtMs(w.roundTripMs.p50), fmtMs(bare?.p50), fmtRatio(bare?.p50 ? w.roundTripMs.p50 / bare.p50 : null), tg50, st('js.warmSession.p50') + errNote(w)]);
    rows.push([`trivial 1+1, warm session, round trip p99`, fmtMs(w.roundTripMs.p99), fmtMs(bare?.p99), '', tg99, st('js.warmSession.p99')]);
    rows.push([`trivial 1+1, warm session, server durationMs p50 / p99`, `${fmtMs(w.durationMs.p50)} / ${fmtMs(w.durationMs.p99)}`, '', '', '', '']);
    rows.push([`  → transport + front overhead p50 (rt − durationMs)`, fmtMs(w.roundTripMs.p50 - w.durationMs.p50), '', '', '', '']);
  }
  if (js.sessionless) {
    const s = js.sessionless;
    const bare = js.bareTrivial?.freshRuntimeEvalMs;
    rows.push([`trivial 1+1, sessionless, round trip p50 (n=${s.roundTripMs.n})`, fmtMs(s.roundTripMs.p50), fmtMs(bare?.p50), fmtRatio(bare?.p50 ? s.roundTripMs.p50 / bare.p50 : null), '', errNote(s).trim()]);
    rows.push([`trivial 1+1, sessionless, round trip p99`, fmtMs(s.roundTripMs.p99), fmtMs(bare?.p99), '', '', '']);
    rows.push([`trivial 1+1, sessionless, server durationMs p50 / p99`, `${fmtMs(s.durationMs.p50)} / ${fmtMs(s.durationMs.p99)}`, '', '', '', '']);
  }
  if (js.bareTrivial) rows.push([`  (bare: persistent-context eval; sessionless bare: new runtime+context+eval)`, '', '', '', '', '']);
  if (js.compute) {
    const c = js.compute;
    const tgD = push(target('js.compute.ratioDuration', c.ratioDuration, '<=', 1.05, '×'));
    const tgR = push(target('js.compute.ratioRoundTrip', c.ratioRoundTrip, '<=', 1.05, '×'));
    rows.push([`compute ${c.snippet}, in-sandbox durationMs p50 (n=${c.ours.durationMs.n})`, fmtMs(c.ours.durationMs.p50), fmtMs(c.bare.evalMs.p50), fmtRatio(c.ratioDuration), tgD, st('js.compute.ratioDuration') + errNote(c)]);
    rows.push([`compute ${c.snippet}, full round trip p50`, fmtMs(c.ours.roundTripMs.p50), fmtMs(c.bare.evalMs.p50), fmtRatio(c.ratioRoundTrip), tgR, st('js.compute.ratioRoundTrip')]);
    rows.push([`  fastest run, durationMs min vs bare min (load-robust view)`, fmtMs(c.ours.durationMs.min), fmtMs(c.bare.evalMs.min), fmtRatio(c.ratioDurationMin), '', 'info']);
    rows.push([`  same result as bare`, String(c.sameValue), '', '', '', '']);
  }
  if (js.throughput) {
    const t = js.throughput;
    const tg = push(target('js.throughput.callsPerSec', t.callsPerSec, '>=', 1000, ' calls/s'));
    rows.push([`throughput, ${t.sessions} sessions × ${(t.elapsedMs / 1000).toFixed(1)} s: calls/s`, `${t.callsPerSec.toFixed(0)} calls/s`, '', '', tg, st('js.throughput.callsPerSec') + errNote(t)]);
    rows.push([`throughput: total calls / latency p50 / p99`, `${t.calls} / ${fmtMs(t.latencyMs.p50)} / ${fmtMs(t.latencyMs.p99)}`, '', '', '', '']);
  }
  rows.push('capsule (in process)');
  if (cap.signVerifyUs) {
    const tg = push(target('capsule.signVerify.p50', cap.signVerifyUs.p50 / 1000, '<=', 0.35, ' ms'));
    rows.push([`sign+verify, ${cap.codeBytes} B code, p50 (n=${cap.iterations})`, fmtUs(cap.signVerifyUs.p50), '', '', tg, st('capsule.signVerify.p50')]);
    rows.push([`  sign p50 / verify p50 / sign+verify p99`, `${fmtUs(cap.signUs.p50)} / ${fmtUs(cap.verifyUs.p50)} / ${fmtUs(cap.signVerifyUs.p99)}`, '', '', '', '']);
    const floor = cap.bareEd25519Us?.p50;
    if (floor) {
      const ratio = fmtRatio(cap.signVerifyUs.p50 / floor);
      rows.push([`  floor: Ed25519 sign + verify alone (node:crypto), same input, p50`, fmtUs(cap.signVerifyUs.p50), fmtUs(floor), ratio, '≤ 0.35 ms', floor > 350 ? 'target below floor' : 'floor under target']);
    }
  }
  rows.push('run_python over stdio vs bare Pyodide in the bench process');
  const pyTargets = [
    ['python.warmSession.p50', py.warmSession?.roundTripMs?.p50, '<=', 3, ' ms'],
    ['python.sessionless.p50', py.sessionless?.roundTripMs?.p50, '<=', 50, ' ms'],
    ['python.spawnToFirstResult', py.spawnToFirstResultMs, '<=', 1000, ' ms'],
    ['python.compute.ratioDuration', py.compute?.ratioDuration, '<=', 1.05, '×'],
    ['python.compute.ratioRoundTrip', py.compute?.ratioRoundTrip, '<=', 1.05, '×'],
    ['python.rss.perSessionMiB', py.rss?.perSessionMiB, '<=', 60, ' MB'],
  ];
  if (!py.available) {
    const why = String(py.reason ?? py.skipped ?? 'not run').slice(0, 90);
    rows.push([`run_python unavailable: ${why}`, 'n/a', '', '', '', 'SKIPPED']);
    for (const [name, , op, limit, unit] of pyTargets) {
      T.push({ name, value: null, op, limit, unit, status: 'SKIPPED (python unavailable)' });
      rows.push([`  ${name}`, 'n/a', '', '', `${op === '<=' ? '≤' : '≥'} ${limit}${unit}`, 'SKIPPED']);
    }
  } else {
    const tgs = Object.fromEntries(pyTargets.map(([name, v, op, limit, unit]) => [name, push(target(name, v, op, limit, unit))]));
    const w = py.warmSession;
    if (w) {
      rows.push([`trivial 1+1, warm session, round trip p50 (n=${w.roundTripMs.n})`, fmtMs(w.roundTripMs.p50), fmtMs(py.bareTrivialMs?.p50), fmtRatio(py.bareTrivialMs?.p50 ? w.roundTripMs.p50 / py.bareTrivialMs.p50 : null), tgs['python.warmSession.p50'], st('python.warmSession.p50') + errNote(w)]);
      rows.push([`trivial 1+1, warm session, p99 / durationMs p50`, `${fmtMs(w.roundTripMs.p99)} / ${fmtMs(w.durationMs.p50)}`, fmtMs(py.bareTrivialMs?.p99), '', '', '']);
    }
    const s = py.sessionless;
    if (s?.roundTripMs) {
      rows.push([`trivial 1+1, sessionless, round trip p50 (n=${s.roundTripMs.n})`, fmtMs(s.roundTripMs.p50), '', '', tgs['python.sessionless.p50'], st('python.sessionless.p50') + errNote(s)]);
      rows.push([`trivial 1+1, sessionless, p99 / durationMs p50`, `${fmtMs(s.roundTripMs.p99)} / ${fmtMs(s.durationMs.p50)}`, '', '', '', '']);
      const sp = py.sessionlessPaced?.roundTripMs;
      if (sp?.n) rows.push([`  one call per quiet host (agent cadence; spares refilled) p50 (n=${sp.n})`, fmtMs(sp.p50), '', '', '', 'info']);
    } else rows.push([`trivial 1+1, sessionless`, 'skipped', '', '', tgs['python.sessionless.p50'], st('python.sessionless.p50')]);
    rows.push([`spawn → first run_python result (snapshot cached)`, fmtMs(py.spawnToFirstResultMs), `load ${fmtMs(py.bareLoadMs)}`, '', tgs['python.spawnToFirstResult'], st('python.spawnToFirstResult')]);
    rows.push([`  making the snapshot once (prepare, first start)`, fmtMs(py.snapshotPrepareMs), '', '', '', 'info']);
    const c = py.compute;
    if (c?.ours) {
      rows.push([`compute ${c.snippet}, durationMs p50 (n=${c.ours.durationMs.n})`, fmtMs(c.ours.durationMs.p50), fmtMs(c.bare.runMs.p50), fmtRatio(c.ratioDuration), tgs['python.compute.ratioDuration'], st('python.compute.ratioDuration') + errNote(c)]);
      rows.push([`compute ${c.snippet}, full round trip p50`, fmtMs(c.ours.roundTripMs.p50), fmtMs(c.bare.runMs.p50), fmtRatio(c.ratioRoundTrip), tgs['python.compute.ratioRoundTrip'], st('python.compute.ratioRoundTrip')]);
      rows.push([`  fastest run, durationMs min vs bare min (load-robust view)`, fmtMs(c.ours.durationMs.min), fmtMs(c.bare.runMs.min), fmtRatio(c.ratioDurationMin), '', 'info']);
    } else rows.push([`compute snippet`, 'skipped', '', '', tgs['python.compute.ratioDuration'], st('python.compute.ratioDuration')]);
    const r = py.rss;
    if (r?.afterMiB !== undefined) {
      rows.push([`host RSS per extra session (${r.sessionsCreated} created)`, r.perSessionMiB === null ? 'n/a' : `${r.perSessionMiB.toFixed(1)} MB`, '', '', tgs['python.rss.perSessionMiB'], st('python.rss.perSessionMiB') + errNote(r)]);
      rows.push([`  host tree RSS before → after`, `${r.beforeMiB.toFixed(1)} → ${r.afterMiB.toFixed(1)} MB`, '', '', '', '']);
    } else rows.push([`host RSS per extra session`, 'skipped', '', '', tgs['python.rss.perSessionMiB'], st('python.rss.perSessionMiB')]);
  }

  rows.push('floors: what the parts we must use cost alone, in this run (bench/floors.mjs); ours vs floor');
  const floorRow = (label, ours, floor, limit, unit) => {
    const below = Number.isFinite(floor) && floor > limit;
    rows.push([label, fmtMs(ours), fmtMs(floor), fmtRatio(Number.isFinite(ours) && floor ? ours / floor : null), `≤ ${limit}${unit}`, below ? 'target below floor' : 'floor under target']);
  };
  const fm = results.floors.mcp;
  if (fm?.warmRoundTripMs) {
    floorRow('MCP SDK over stdio, answer-at-once tool: spawn → tools/list p50', js.spawnToToolsListMs?.p50, fm.spawnToToolsListMs.p50, 200, ' ms');
    floorRow('  same: warm round trip p50, vs run_js warm session', js.warmSession?.roundTripMs?.p50, fm.warmRoundTripMs.p50, 1, ' ms');
    floorRow('  same: warm round trip p50, vs run_python warm session', py.warmSession?.roundTripMs?.p50, fm.warmRoundTripMs.p50, 3, ' ms');
  } else rows.push(['MCP floor', 'n/a', '', '', '', String(fm?.error ?? 'not run').slice(0, 60)]);
  const fp = results.floors.pyodide;
  if (fp?.spawnToFirstResultMs) {
    floorRow('fresh node + bare Pyodide from our snapshot: spawn → first result p50', py.spawnToFirstResultMs, fp.spawnToFirstResultMs.p50, 1000, ' ms');
    rows.push(['  of which inside the bare process (import, load, run) p50', '', fmtMs(fp.inProcessMs.p50), '', '', 'info']);
  } else rows.push(['Pyodide floor', 'n/a', '', '', '', String(fp?.error ?? fp?.skipped ?? 'not run').slice(0, 60)]);

  results.targets = T;
  const m = results.meta;
  const head = [
    '',
    `wasm-sandbox-mcp benchmark — node ${m.node}, ${m.cpus} CPU (${m.cpuModel ?? '?'}), ${m.platform}`,
    `load average at start ${m.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, at end ${m.loadavgEnd.map((x) => x.toFixed(2)).join(' ')}; total ${(m.totalMs / 1000).toFixed(1)} s${m.aborted ? ` (ABORTED: ${m.aborted})` : ''}`,
    'ratio = ours / bare; MB = MiB; percentiles are nearest-rank',
    '',
  ].join('\n');
  process.stdout.write(`${head}${renderTable(['metric', 'ours', 'bare', 'ratio', 'target', 'status'], rows)}\n`);
  const met = T.filter((t) => t.status === 'MET').length;
  const missed = T.filter((t) => t.status.startsWith('NOT MET')).length;
  const skipped = T.filter((t) => t.status.startsWith('SKIPPED')).length;
  process.stdout.write(`\ntargets: ${met} MET, ${missed} NOT MET, ${skipped} SKIPPED\n`);
  process.stdout.write(`${JSON.stringify(roundDeep({ bench: 'wasm-sandbox-mcp', ...results }))}\n`);
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(SERVER_MAIN)) {
    process.stderr.write(`bench: ${SERVER_MAIN} is missing; run \`npm run build\` first\n`);
    return 1;
  }
  try {
    await phaseSpawn();
    await phaseJs();
  } catch (e) {
    if (e.fatal) {
      process.stderr.write(`bench: the server could not be started: ${e.message}\n`);
      if (e.stderrTail) process.stderr.write(`--- server stderr (tail) ---\n${e.stderrTail}\n`);
      cleanup();
      return 1;
    }
    results.meta.error = `run_js phase failed: ${e.message}`;
    log(results.meta.error);
  }
  await phaseCapsule();
  if (left() > 45_000) {
    try {
      results.python = await benchPython({ keyDir, cacheDir, deadline, log });
      results.python.snapshotPrepareMs = snapshotPrepareMs;
    } catch (e) {
      results.python = { available: false, reason: `bench error: ${e.message}` };
    }
  } else results.python = { available: false, skipped: 'time budget' };
  if (!results.python.available) log(`python: unavailable (${results.python.reason ?? results.python.skipped})`);
  await phaseFloors();
  report();
  return 0;
}

const code = await main();
clearTimeout(watchdog);
cleanup();
process.exit(code);
