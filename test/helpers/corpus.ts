/**
 * The machinery of the adversarial corpora (test/security/*-corpus.test.ts): table-driven rows run
 * through the BUILT server over stdio, each checked against its own safe outcome and the invariants every
 * result must keep, followed by "the server answers the next call"; after the whole corpus, the host state
 * the guest must not reach (canary file, key directories, processes, stdout) is checked.
 *
 * A corpus file declares its rows and calls `defineCorpus()`, which registers the vitest hooks and tests.
 *
 * Rows marked `bug` reproduce confirmed defects of src/: they run as `it.fails` on servers of their own
 * ("fragile"), so a defect that kills or wedges something cannot disturb the other rows. When a defect is
 * fixed its row starts to fail as "expected to fail": turn it into a normal row. `WSM_SHOW_BUGS=1` runs them as
 * ordinary tests, to see how each one fails today.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startServer, type TestServer } from './server.js';
import { withUtf8SafeStdout } from './utf8-stdout.js';

export type Category = 'escape' | 'exhaustion' | 'protocol-smuggling' | 'realm-poisoning' | 'info-leak' | 'isolation';
export type Target = 'main' | 'lowmem' | 'fragile' | 'fragileLowmem';

export const CATEGORIES: Category[] = ['escape', 'exhaustion', 'protocol-smuggling', 'realm-poisoning', 'info-leak', 'isolation'];

/** What rows may know of the host (to aim at it): never what they must not get back. */
export interface Ctx {
  canaryPath: string;
  root: string;
  /** Names of environment variables of the server process that hold a secret. */
  envSecretNames: string[];
  /** A loopback TCP port the test listens on (when the corpus asked for one; 0 otherwise). */
  listenerPort: number;
}

export interface Outcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  result?: any;
  error?: { type: string; message: string; traceback?: string; code: string };
  durationMs: number;
  session?: string;
  /** Wall time of the call as the client saw it. */
  wallMs: number;
  /** The raw CallToolResult (for rows whose input is refused before any run). */
  raw: any;
}

export interface Harness {
  srv: TestServer;
  /** One call of the corpus's tool. */
  run: (code: string, extra?: Record<string, unknown>) => Promise<Outcome>;
}

export interface Row {
  category: Category;
  name: string;
  /** Guest code, or a function of the test's context (canary path, repo root). */
  code?: string | ((c: Ctx) => string);
  /** Extra tool arguments (session, timeoutMs, or deliberately wrong fields). */
  args?: Record<string, unknown>;
  /** Calls made before the row's own call (setting up sessions). Their results are not checked. */
  before?: Array<{ code: string; session?: string }>;
  /** The input is refused before any run: no structuredContent; only `raw` is meaningful. */
  refused?: boolean;
  server?: Target;
  expect?: (r: Outcome, h: Harness) => void | Promise<void>;
  /** For rows that need several calls; replaces code/expect. */
  run?: (h: Harness) => Promise<void>;
  /** A confirmed defect of src/ that this row reproduces: the row runs as it.fails. */
  bug?: string;
}

/** A row table with the `add(category, name, code, expect, opts)` shorthand. */
export function rowTable(): { rows: Row[]; add: (category: Category, name: string, code: Row['code'], expectFn: Row['expect'], opts?: Partial<Row>) => void } {
  const rows: Row[] = [];
  const add = (category: Category, name: string, code: Row['code'], expectFn: Row['expect'], opts: Partial<Row> = {}) => {
    rows.push({ category, name, code, expect: expectFn, ...opts });
  };
  return { rows, add };
}

// ---- expectations shared by the corpora -------------------------------------------------------------

export const brief = (r: Outcome) => JSON.stringify({ exitCode: r.exitCode, result: r.result, error: r.error, stdout: r.stdout?.slice(0, 300), stderr: r.stderr?.slice(0, 300) }).slice(0, 1500);
export const exitIs = (r: Outcome, ...codes: number[]) => expect(codes, brief(r)).toContain(r.exitCode);
export const ok = (r: Outcome) => expect(r.exitCode, brief(r)).toBe(0);
export const okWith = (value: unknown) => (r: Outcome) => {
  ok(r);
  expect(r.result).toEqual(value);
};
export const timedOut = (r: Outcome) => {
  expect(r.exitCode, brief(r)).toBe(124);
  expect(r.error!.code).toBe('E_TIMEOUT');
};
export const outOfMemory = (r: Outcome) => {
  expect(r.exitCode, brief(r)).toBe(137);
  expect(r.error!.code).toBe('E_MEMORY_LIMIT');
};
/**
 * Stopped by a limit: 137, or 124 — close to the memory limit a runtime can spend its time in garbage
 * collection (or many small allocations) until the deadline passes (seen under CPU contention), which is as safe.
 */
export const memoryStopped = (r: Outcome) => {
  expect([124, 137], brief(r)).toContain(r.exitCode);
  expect(r.error!.code).toBe(r.exitCode === 137 ? 'E_MEMORY_LIMIT' : 'E_TIMEOUT');
};
export const guestError = (type?: string | RegExp) => (r: Outcome) => {
  expect(r.exitCode, brief(r)).toBe(1);
  expect(r.error!.code).toBe('E_GUEST_ERROR');
  if (typeof type === 'string') expect(r.error!.type).toBe(type);
  else if (type) expect(r.error!.type).toMatch(type);
};
export const wellFormed = (s: string) => expect(Buffer.from(s, 'utf8').toString('utf8')).toBe(s);

// ---- the corpus ---------------------------------------------------------------------------------------

export interface CorpusSpec {
  /** Label in log lines, e.g. 'js-corpus'. */
  label: string;
  tool: 'run_js' | 'run_python';
  rows: Row[];
  minRows: number;
  /** Server arguments per target; every target's stdout/stderr caps are `cap`. */
  serverArgs: Record<Target, string[]>;
  cap: number;
  /**
   * The "next call" after every row: code and its expected result, sessionless unless `session` is given
   * (a runtime whose fresh interpreter is costly can answer from one warm session; the rows' own calls
   * still exercise fresh interpreters, and a sessionless probe ends the corpus).
   */
  probe: { code: string; result: unknown; session?: string };
  /** Listen on a loopback port (ctx.listenerPort) and prove afterwards that no connection reached it. */
  hostListener?: boolean;
}

export function defineCorpus(spec: CorpusSpec): void {
  const { rows, cap, tool } = spec;
  const ENV_SECRET = `env-secret-${crypto.randomBytes(9).toString('hex')}`;
  const CANARY_CONTENT = `CANARY-${crypto.randomBytes(12).toString('hex')}`;
  const canaryDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-canary-'));
  const canaryPath = path.join(canaryDir, 'canary.txt');
  const HOSTNAME = os.hostname();
  const env = { WSM_TEST_SECRET: ENV_SECRET, SANDBOX_TEST_TOKEN: ENV_SECRET };
  const ctx: Ctx = { canaryPath, root: ROOT, envSecretNames: Object.keys(env), listenerPort: 0 };

  const servers: Partial<Record<Target, TestServer>> = {};
  const keyDirSnapshots = new Map<string, string>();
  let canaryStat: fs.BigIntStats;
  let atimeWorks = false;
  let listener: http.Server | undefined;
  let connections = 0;

  function snapshotDir(dir: string): string {
    const out: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else {
          const st = fs.statSync(p);
          out.push(`${p} ${st.size} ${st.mtimeMs} ${st.mode.toString(8)} ${crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`);
        }
      }
    };
    walk(dir);
    return out.sort().join('\n');
  }

  function needlesFor(code: string): Array<{ label: string; test: (s: string) => boolean }> {
    const list: Array<[string, string]> = [
      ['repo root', ROOT],
      ['/work path', '/work/'],
      ['node_modules', 'node_modules'],
      ['dist/', 'dist/'],
      ['file URL', 'file://'],
      ['environment value', ENV_SECRET],
      ['canary content', CANARY_CONTENT],
      ['canary dir', canaryDir],
      ['home dir', `${os.homedir()}/`],
      ...Object.values(servers).map((s) => ['key dir', s!.keyDir] as [string, string]),
    ];
    const needles = list.filter(([, n]) => n.length > 1 && !code.includes(n)).map(([label, n]) => ({ label, test: (s: string) => s.includes(n) }));
    if (HOSTNAME && !code.includes(HOSTNAME)) {
      const esc = HOSTNAME.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const re = HOSTNAME.length >= 8 ? new RegExp(esc) : new RegExp(`(^|[^A-Za-z0-9_-])${esc}([^A-Za-z0-9_-]|$)`);
      needles.push({ label: 'hostname', test: (s) => re.test(s) });
    }
    return needles;
  }

  function assertNoLeaks(value: unknown, code: string): void {
    const { capsule: _capsule, ...rest } = (value ?? {}) as Record<string, unknown>;
    const text = JSON.stringify(rest) ?? '';
    for (const n of needlesFor(code)) expect(n.test(text), `the guest got back the host's ${n.label}: ${text.slice(0, 500)}`).toBe(false);
  }

  function makeHarness(srv: TestServer): Harness {
    const run = async (code: string, extra: Record<string, unknown> = {}): Promise<Outcome> => {
      const t0 = Date.now();
      const raw = await srv.call(tool, { code, ...extra }, { timeout: 60_000 });
      const sc = raw.structuredContent ?? {};
      return { ...sc, wallMs: Date.now() - t0, raw } as Outcome;
    };
    return { srv, run };
  }

  function assertInvariants(r: Outcome, code: string): void {
    const sc = r.raw.structuredContent;
    expect(sc, `no structuredContent: ${JSON.stringify(r.raw).slice(0, 500)}`).toBeTruthy();
    expect([0, 1, 124, 130, 137]).toContain(r.exitCode);
    expect(r.raw.isError).toBe(r.exitCode !== 0);
    if (r.exitCode !== 0) expect(r.error?.code).toMatch(/^E_[A-Z_]+$/);
    else expect(r.error).toBeUndefined();
    const fromText = JSON.parse(r.raw.content[0].text);
    for (const k of new Set([...Object.keys(fromText), ...Object.keys(sc)])) {
      const a = JSON.stringify(fromText[k]) ?? '', b = JSON.stringify(sc[k]) ?? '';
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      expect(a === b, `text block and structuredContent differ in ${k} at ${i} of ${a.length}/${b.length}: ${JSON.stringify(a.slice(Math.max(0, i - 20), i + 20))} vs ${JSON.stringify(b.slice(Math.max(0, i - 20), i + 20))}`).toBe(true);
    }
    expect(Buffer.byteLength(r.stdout)).toBeLessThanOrEqual(cap);
    expect(Buffer.byteLength(r.stderr)).toBeLessThanOrEqual(cap);
    wellFormed(r.stdout);
    wellFormed(r.stderr);
    assertNoLeaks(sc, code);
  }

  const answers = (r: Outcome | undefined) => r?.exitCode === 0 && JSON.stringify(r.result) === JSON.stringify(spec.probe.result);

  async function stillAnswers(h: Harness): Promise<void> {
    const r = await h.run(spec.probe.code, spec.probe.session ? { session: spec.probe.session } : {});
    expect(r.exitCode, `the server did not answer the next call: ${brief(r)}`).toBe(0);
    expect(r.result).toEqual(spec.probe.result);
  }

  /** Wait until a fresh server answers the probe promptly. */
  async function warmUp(h: Harness): Promise<void> {
    const end = Date.now() + 120_000;
    for (;;) {
      const r = await h.run(spec.probe.code).catch(() => undefined);
      // Promptly, but with room for a loaded 2-core machine (a fresh Python interpreter per run).
      if (answers(r) && r!.wallMs < 5000) return;
      if (Date.now() > end) throw new Error(`the server did not warm up: ${r ? brief(r) : 'no answer'}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  /** Bring a fragile server back to a state where it answers (after an earlier bug row). */
  async function settle(h: Harness): Promise<void> {
    const end = Date.now() + 20_000;
    for (;;) {
      const r = await h.run(spec.probe.code).catch(() => undefined);
      if (answers(r)) {
        const again = await h.run(spec.probe.code).catch(() => undefined);
        if (answers(again)) return;
      }
      if (Date.now() > end) throw new Error('the fragile server did not recover');
      await new Promise((res) => setTimeout(res, 300));
    }
  }

  const targetOf = (row: Row): Target => row.server ?? (row.bug ? 'fragile' : 'main');

  async function runRow(row: Row): Promise<void> {
    const h = makeHarness(servers[targetOf(row)]!);
    if (row.bug) await settle(h);
    const sessions = new Set<string>();
    for (const b of row.before ?? []) {
      if (b.session) sessions.add(b.session);
      await h.run(b.code, b.session ? { session: b.session } : {});
    }
    if (typeof row.args?.session === 'string') sessions.add(row.args.session);
    try {
      if (row.run) {
        await row.run(h);
      } else {
        const code = typeof row.code === 'function' ? row.code(ctx) : row.code;
        const args = { ...(code === undefined ? {} : { code }), ...row.args };
        const t0 = Date.now();
        const raw = await h.srv.call(tool, args, { timeout: 60_000 });
        const r = { ...(raw.structuredContent ?? {}), wallMs: Date.now() - t0, raw } as Outcome;
        const allCode = [code ?? '', ...(row.before ?? []).map((b) => b.code)].join('\n');
        if (row.refused) assertNoLeaks({ content: raw.content }, allCode);
        else assertInvariants(r, allCode);
        await row.expect?.(r, h);
      }
    } finally {
      for (const s of sessions) await h.srv.call('reset_session', { session: s }).catch(() => undefined);
    }
    await stillAnswers(h);
  }

  beforeAll(async () => {
    // The canary: atime older than mtime, so any read (relatime) would move atime.
    fs.writeFileSync(canaryPath, CANARY_CONTENT, { mode: 0o644 });
    fs.utimesSync(canaryPath, new Date('2001-01-01T00:00:00Z'), new Date('2002-01-01T00:00:00Z'));
    // Does this filesystem record reads at all? Prove the sensor on a twin file.
    const twin = path.join(canaryDir, 'sensor.txt');
    fs.writeFileSync(twin, 'x');
    fs.utimesSync(twin, new Date('2001-01-01T00:00:00Z'), new Date('2002-01-01T00:00:00Z'));
    const a0 = fs.statSync(twin).atimeMs;
    fs.readFileSync(twin);
    atimeWorks = fs.statSync(twin).atimeMs !== a0;
    fs.rmSync(twin);
    canaryStat = fs.statSync(canaryPath, { bigint: true });

    if (spec.hostListener) {
      listener = http.createServer((_req, res) => res.end('reached'));
      listener.on('connection', () => connections++);
      ctx.listenerPort = await new Promise<number>((r) => listener!.listen(0, '127.0.0.1', () => r((listener!.address() as AddressInfo).port)));
    }

    const targets = [...new Set([...rows.map(targetOf), 'main'])] as Target[];
    await Promise.all(targets.map(async (t) => (servers[t] = withUtf8SafeStdout(await startServer(spec.serverArgs[t], env)))));
    // The signing keys live in <keyDir>/k (startServer passes --key-dir <keyDir>/k); the server may keep
    // other state (e.g. a capsule store) next to them, which legitimately changes.
    for (const s of Object.values(servers)) keyDirSnapshots.set(path.join(s!.keyDir, 'k'), snapshotDir(path.join(s!.keyDir, 'k')));
    // Warm up: the corpus measures attacks, not cold starts (a busy machine can make a first run slow).
    await Promise.all(Object.values(servers).map((s) => warmUp(makeHarness(s!))));
  });

  afterAll(async () => {
    await Promise.all(Object.values(servers).map((s) => s!.close()));
    if (listener) {
      listener.closeAllConnections();
      await new Promise((r) => listener!.close(r));
    }
    fs.rmSync(canaryDir, { recursive: true, force: true });
  });

  describe('the corpus', () => {
    it(`has at least ${spec.minRows} rows in the six categories`, () => {
      const counts = Object.fromEntries(CATEGORIES.map((c) => [c, rows.filter((r) => r.category === c).length]));
      console.error(`[${spec.label}] rows by category: ${JSON.stringify(counts)}; total ${rows.length}; confirmed-bug rows ${rows.filter((r) => r.bug).length}`);
      expect(rows.length).toBeGreaterThanOrEqual(spec.minRows);
      for (const c of CATEGORIES) expect(counts[c]).toBeGreaterThan(0);
      expect(new Set(rows.map((r) => `${r.category}/${r.name}`)).size).toBe(rows.length);
    });
  });

  for (const category of CATEGORIES) {
    describe(category, () => {
      for (const row of rows.filter((r) => r.category === category)) {
        // WSM_SHOW_BUGS=1 runs the confirmed-bug rows as ordinary tests, to see how each one fails.
        if (row.bug && process.env.WSM_SHOW_BUGS !== '1') it.fails(`${row.name} [confirmed bug]`, () => runRow(row), 60_000);
        else it(row.name, () => runRow(row), 60_000);
      }
    });
  }

  describe('after the whole corpus', () => {
    it('left the canary file untouched: not read, not written, not replaced', () => {
      expect(fs.readdirSync(canaryDir)).toEqual(['canary.txt']);
      const now = fs.statSync(canaryPath, { bigint: true });
      expect(now.ino).toBe(canaryStat.ino);
      expect(now.size).toBe(canaryStat.size);
      expect(now.mtimeNs).toBe(canaryStat.mtimeNs);
      expect(now.ctimeNs).toBe(canaryStat.ctimeNs);
      if (atimeWorks) expect(now.atimeNs).toBe(canaryStat.atimeNs);
      else console.error(`[${spec.label}] this filesystem does not record reads (atime); the read check of the canary was skipped`);
      // Read last: reading moves atime.
      expect(fs.readFileSync(canaryPath, 'utf8')).toBe(CANARY_CONTENT);
    });

    it('left every server key directory unchanged', () => {
      for (const [dir, snap] of keyDirSnapshots) expect(snapshotDir(dir)).toBe(snap);
    });

    if (spec.probe.session) {
      it('every server still answers a sessionless call', async () => {
        for (const s of Object.values(servers)) {
          const r = await makeHarness(s!).run(spec.probe.code);
          expect(answers(r), brief(r)).toBe(true);
        }
      });
    }

    it('left each server with exactly one sandbox host', async () => {
      for (const [name, s] of Object.entries(servers)) {
        const end = Date.now() + 10_000;
        while (s!.hostPids().length !== 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
        expect(s!.hostPids(), name).toHaveLength(1);
      }
    });

    if (spec.hostListener) {
      it("no connection ever reached the test's loopback listener", () => {
        expect(connections).toBe(0);
      });
    }

    it('every byte every server wrote to stdout is JSON-RPC', () => {
      for (const [name, s] of Object.entries(servers)) {
        const lines = s!.assertStdoutIsJsonRpc();
        expect(lines, name).toBeGreaterThan(1);
      }
    });

    it('the servers never logged a host path of the guest to stdout (stderr is the log channel)', () => {
      for (const s of Object.values(servers)) {
        const text = Buffer.concat(s!.transport.raw).toString('utf8');
        expect(text).not.toContain(ENV_SECRET);
        expect(text).not.toContain(CANARY_CONTENT);
      }
    });
  });
}
