// The run_python half of the benchmark. Skips itself (available: false) when the server's first
// run_python does not succeed. `tool`/`lang` exist so the control flow can be exercised against
// run_js while the Python runtime is missing; the real benchmark always uses run_python.
import { callTool, hostTreeRssMiB, now, startServer, summarize, waitIdle } from './lib.mjs';

const CODES = {
  python: {
    trivial: '1+1',
    touch: 'x = 1',
    fib: (n) => `def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nfib(${n})`,
  },
  js: {
    trivial: '1+1',
    touch: 'x = 1',
    fib: (n) => `(function fib(n){return n<2?n:fib(n-1)+fib(n-2)})(${n})`,
  },
};

const EXTRA_SESSIONS = 5;
// As for run_js (bench/run.mjs): the pipeline's JIT warms over the first tens of calls.
const WARM_WARMUP_CALLS = 50;
const WARM_CALLS = 300;

export async function benchPython({ keyDir, cacheDir, deadline, log, tool = 'run_python', lang = 'python' }) {
  const codes = CODES[lang];
  const out = { available: false, tool };
  const left = () => deadline - now();

  // 1. spawn -> first run_python result (sessionless), measured from just before the spawn.
  let server;
  const t0 = now();
  try {
    server = await startServer({ keyDir, cacheDir });
  } catch (e) {
    out.reason = e.message;
    return out;
  }
  try {
    const first = await callTool(server, tool, { code: codes.trivial }, 60_000);
    out.spawnToFirstResultMs = now() - t0;
    out.spawnToConnectedMs = server.connectedMs;
    if (!first.ok) {
      out.reason = first.error ?? 'run_python failed';
      out.spawnToFirstResultMs = null;
      return out;
    }
    out.available = true;
    out.firstResult = first.sc.result;
    log(`python: spawn -> first result ${out.spawnToFirstResultMs.toFixed(0)} ms`);

    // 2. warm named session
    out.settleBeforeWarmMs = await waitIdle(server.pid, { maxMs: Math.min(15_000, Math.max(0, left() - 60_000)) });
    {
      const errors = [];
      for (let i = 0; i < WARM_WARMUP_CALLS; i++) {
        const r = await callTool(server, tool, { code: codes.trivial, session: 'py-warm' }, 60_000);
        if (!r.ok) errors.push(r.error);
      }
      const rt = [];
      const dur = [];
      const stopAt = now() + Math.min(30_000, Math.max(5_000, left() - 60_000));
      for (let i = 0; i < WARM_CALLS && now() < stopAt; i++) {
        const r = await callTool(server, tool, { code: codes.trivial, session: 'py-warm' });
        rt.push(r.ms);
        if (r.sc) dur.push(r.sc.durationMs);
        if (!r.ok) errors.push(r.error);
      }
      out.warmSession = { roundTripMs: summarize(rt), durationMs: summarize(dur), errors: errors.length, firstError: errors[0] };
      log(`python: warm session p50 ${out.warmSession.roundTripMs.p50?.toFixed(3)} ms`);
    }

    // 3. bare Pyodide in this process
    let py = null;
    try {
      const tl = now();
      const { loadPyodide } = await import('pyodide');
      py = await loadPyodide();
      out.bareLoadMs = now() - tl;
      const trivial = [];
      for (let i = 0; i < 20; i++) py.runPython('1+1');
      for (let i = 0; i < 100; i++) {
        const t = now();
        py.runPython('1+1');
        trivial.push(now() - t);
      }
      out.bareTrivialMs = summarize(trivial);
      log(`python: bare Pyodide loaded in ${out.bareLoadMs.toFixed(0)} ms`);
    } catch (e) {
      out.bareError = e instanceof Error ? e.message : String(e);
      py = null;
    }

    // 4. compute snippet, interleaved with bare Pyodide
    if (left() > 30_000) {
      const fibCode = CODES.python.fib;
      let n = 22;
      if (py) {
        for (let i = 0; i < 3; i++) py.runPython(fibCode(18));
        for (n = 20; n <= 30; n++) {
          const t = now();
          py.runPython(fibCode(n));
          if (now() - t >= 120) break;
        }
        n = Math.min(n, 30);
      }
      const code = codes.fib(n);
      const errors = [];
      for (let i = 0; i < 3; i++) {
        const r = await callTool(server, tool, { code, session: 'py-compute' }, 60_000);
        if (!r.ok) errors.push(r.error);
        if (py) py.runPython(fibCode(n));
      }
      out.settleBeforeComputeMs = await waitIdle(server.pid, { maxMs: Math.min(15_000, Math.max(0, left() - 40_000)) });
      const oursDur = [];
      const oursRt = [];
      const bare = [];
      let oursValue;
      let bareValue;
      const bareOnce = () => {
        const t = now();
        bareValue = py.runPython(fibCode(n));
        bare.push(now() - t);
      };
      const oursOnce = async () => {
        const r = await callTool(server, tool, { code, session: 'py-compute' }, 60_000);
        oursRt.push(r.ms);
        if (r.ok) {
          oursDur.push(r.sc.durationMs);
          oursValue = r.sc.result;
        } else errors.push(r.error);
      };
      const stopAt = now() + Math.min(25_000, Math.max(5_000, left() - 30_000));
      for (let i = 0; i < 10 && now() < stopAt; i++) {
        if (i % 2 === 0) {
          await oursOnce();
          if (py) bareOnce();
        } else {
          if (py) bareOnce();
          await oursOnce();
        }
      }
      const d = summarize(oursDur);
      const r = summarize(oursRt);
      const b = summarize(bare);
      out.compute = {
        snippet: `fib(${n}) (recursive, Python)`,
        n,
        ours: { durationMs: d, roundTripMs: r, value: oursValue },
        bare: { runMs: b, value: bareValue },
        ratioDuration: b.p50 ? d.p50 / b.p50 : null,
        ratioRoundTrip: b.p50 ? r.p50 / b.p50 : null,
        ratioDurationMin: b.min ? d.min / b.min : null,
        errors: errors.length,
        firstError: errors[0],
      };
      log(`python: compute fib(${n}) ours ${d.p50?.toFixed(1)} ms vs bare ${b.p50?.toFixed(1)} ms`);
    } else out.compute = { skipped: 'time budget' };

    // 5. sessionless: each run gets a fresh single-use runtime
    if (left() > 20_000) {
      out.settleBeforeSessionlessMs = await waitIdle(server.pid, { maxMs: Math.min(15_000, Math.max(0, left() - 20_000)) });
      const rt = [];
      const dur = [];
      const errors = [];
      const stopAt = now() + Math.min(20_000, Math.max(3_000, left() - 20_000));
      for (let i = 0; i < 15 && now() < stopAt; i++) {
        const r = await callTool(server, tool, { code: codes.trivial }, 60_000);
        rt.push(r.ms);
        if (r.sc) dur.push(r.sc.durationMs);
        if (!r.ok) errors.push(r.error);
      }
      out.sessionless = { roundTripMs: summarize(rt), durationMs: summarize(dur), errors: errors.length, firstError: errors[0] };
      log(`python: sessionless p50 ${out.sessionless.roundTripMs.p50?.toFixed(1)} ms (n=${rt.length})`);
      // An agent's calls come seconds apart (a model turn between them): each call here waits until
      // the host is quiet, i.e. the spare interpreters have been refilled in the background.
      const paced = [];
      for (let i = 0; i < 6 && left() > 25_000; i++) {
        await waitIdle(server.pid, { maxMs: 5_000 });
        const r = await callTool(server, tool, { code: codes.trivial }, 60_000);
        paced.push(r.ms);
        if (!r.ok) errors.push(r.error);
      }
      out.sessionlessPaced = { roundTripMs: summarize(paced), errors: errors.length - out.sessionless.errors };
      log(`python: sessionless, one call per quiet host, p50 ${out.sessionlessPaced.roundTripMs.p50?.toFixed(1)} ms (n=${paced.length})`);
    } else out.sessionless = { skipped: 'time budget' };

    // 6. RSS of the sandbox host tree before/after EXTRA_SESSIONS more sessions
    if (left() > 20_000) {
      out.settleBeforeRssMs = await waitIdle(server.pid, { maxMs: Math.min(20_000, Math.max(0, left() - 20_000)) });
      const before = hostTreeRssMiB(server.pid);
      const errors = [];
      let created = 0;
      for (let i = 0; i < EXTRA_SESSIONS && left() > 8_000; i++) {
        const r = await callTool(server, tool, { code: codes.touch, session: `py-extra-${i}` }, 60_000);
        if (r.ok) created++;
        else errors.push(r.error);
      }
      // Spare runtimes taken by the new sessions are replaced in the background; let that finish.
      out.settleAfterRssMs = await waitIdle(server.pid, { maxMs: Math.min(20_000, Math.max(0, left() - 5_000)) });
      const after = hostTreeRssMiB(server.pid);
      out.rss = {
        hostPids: after.pids,
        beforeMiB: before.mib,
        afterMiB: after.mib,
        sessionsCreated: created,
        perSessionMiB: created > 0 ? (after.mib - before.mib) / created : null,
        errors: errors.length,
        firstError: errors[0],
      };
      log(`python: host RSS ${before.mib.toFixed(1)} -> ${after.mib.toFixed(1)} MiB for ${created} sessions`);
    } else out.rss = { skipped: 'time budget' };
    return out;
  } finally {
    await server.close();
  }
}
