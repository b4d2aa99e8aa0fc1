/**
 * Protocol fuzzing (issue 8, part 3): fast-check generates ≥ 10,000 stdin lines for ONE running server —
 * malformed JSON, JSON that is not JSON-RPC, JSON-RPC with wrong types, unknown methods and tools, wrong
 * tool arguments, huge strings, deeply nested arguments, extra fields, duplicate ids, batches,
 * notifications/cancelled for unknown ids and interleaved with real calls. Lines are written raw
 * (test/helpers/raw-server.ts), pipelined 100 per property run, then every expected id is awaited.
 *
 * What "answered as the SDK prescribes" means here (@modelcontextprotocol/sdk 1.32, checked by this file):
 * - a line that is not JSON, not a JSON-RPC message, or a JSON-RPC message with a wrong envelope (bad
 *   `jsonrpc`, an id that is not a string or safe integer, non-object params, an extra top-level field,
 *   an array "batch") gets no answer at all — not even -32700/-32600 — and the server keeps going;
 * - a request for an unknown method gets error -32601;
 * - a request whose params do not match its method's schema gets a JSON-RPC error (the SDK uses -32603);
 * - tools/call of an unknown tool gets a *result* with isError: true and the text
 *   "MCP error -32602: Tool <name> not found" (the behaviour we pick and test for unknown tools);
 * - tools/call with arguments the tool's zod schema refuses gets a result with isError: true;
 * - a request that is cancelled gets at most one answer (normally none); notifications get none;
 * - every request with a valid id gets exactly one answer with that id (two for a duplicated id).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idKey, startRawServer, type JsonRpcId, type RawMessage, type RawServer } from '../helpers/raw-server.js';

const SEED = 20_260_808;
const BATCH = 100;
const RUNS = 101; // 101 × 100 generated lines, plus the huge and deep extras
const KNOWN_TOOLS = new Set(['run_js', 'run_python', 'reset_session']);
const SESSION_RE = /^[A-Za-z0-9_-]{1,64}$/;

type Expect =
  /** No answer; none of `watch` (ids that appear in the line) may ever be answered. */
  | { kind: 'none'; watch: JsonRpcId[] }
  | { kind: 'error'; id: JsonRpcId; code?: number }
  | { kind: 'result'; id: JsonRpcId; check?: (result: any) => void }
  | { kind: 'toolError'; id: JsonRpcId; text: string | RegExp }
  | { kind: 'atMostOne'; id: JsonRpcId }
  | { kind: 'twice'; id: JsonRpcId };

interface Msg {
  family: string;
  lines: string[];
  expect: Expect;
}

/** Ids: unique across the whole file, numbers and strings mixed. */
let counter = 0;
const freshId = (): JsonRpcId => (++counter % 3 === 0 ? `fz-${counter}` : counter);
const freshInt = (): number => ++counter;

const j = (v: unknown) => JSON.stringify(v);
const req = (id: JsonRpcId, method: string, params?: unknown) => j({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });

type Spec = (/* built at send time, so ids stay unique even when fast-check replays */) => Msg;
const spec = (family: string, build: () => Omit<Msg, 'family'>): Spec => Object.assign(() => ({ family, ...build() }), { toString: () => family });

// ---- arbitraries ------------------------------------------------------------------------------------

/** Any UTF-16 code unit, lone surrogates included; newlines removed (one line = one message). */
const rawText = (maxLength: number) =>
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength }).map((s) => s.replace(/[\n\r]/g, ' '));
const smallJson = fc.jsonValue({ maxDepth: 3 });
const looksLikeRequest = (text: string) => {
  try {
    const v = JSON.parse(text);
    return v !== null && typeof v === 'object' && ('method' in v || 'id' in v || 'jsonrpc' in v);
  } catch {
    return false;
  }
};

const garbage = rawText(200)
  .filter((s) => !looksLikeRequest(s))
  .map((s) => spec('garbage', () => ({ lines: [s], expect: { kind: 'none', watch: [] } })));

const truncated = fc.tuple(fc.constantFrom('ping', 'tools/list', 'tools/call'), fc.double({ min: 0.05, max: 0.95, noNaN: true })).map(([method, cut]) =>
  spec('truncated', () => {
    const id = freshId();
    const full = req(id, method, method === 'tools/call' ? { name: 'run_js', arguments: { code: '1' } } : {});
    return { lines: [full.slice(0, Math.max(1, Math.floor(full.length * cut)))], expect: { kind: 'none', watch: [id] } };
  }),
);

const jsonNotRpc = smallJson
  .filter((v) => !(v !== null && typeof v === 'object' && !Array.isArray(v) && ('method' in v || 'jsonrpc' in v)))
  .map((v) => spec('json-not-rpc', () => ({ lines: [j(v)], expect: { kind: 'none', watch: [] } })));

const badEnvelope = fc
  .oneof(
    fc.record({ what: fc.constant('jsonrpc' as const), value: fc.constantFrom<unknown>('1.0', '2', 2, null, '2.0 ', 'json-rpc') }),
    fc.record({ what: fc.constant('no-jsonrpc' as const), value: fc.constant(undefined) }),
    fc.record({ what: fc.constant('id' as const), value: fc.constantFrom<unknown>(null, true, {}, [], [1], 2 ** 60, -(2 ** 60), Infinity) }),
    fc.record({ what: fc.constant('float-id' as const), value: fc.constant(undefined) }),
    fc.record({ what: fc.constant('method' as const), value: fc.constantFrom<unknown>(1, null, {}, [], true) }),
    fc.record({ what: fc.constant('params' as const), value: fc.constantFrom<unknown>([], 'x', 5, null, true, [1, 2]) }),
    fc.record({ what: fc.constant('progressToken' as const), value: fc.constantFrom<unknown>({}, [], true, null) }),
    fc.record({
      what: fc.constant('extra' as const),
      value: fc.tuple(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !['jsonrpc', 'id', 'method', 'params', '__proto__'].includes(k)), smallJson),
    }),
  )
  .map(({ what, value }) =>
    spec(`bad-envelope:${what}`, () => {
      const id = what === 'float-id' ? freshInt() + 0.5 : freshInt();
      const m: Record<string, unknown> = { jsonrpc: '2.0', id, method: 'ping', params: {} };
      const watch: JsonRpcId[] = [id];
      if (what === 'jsonrpc') m.jsonrpc = value;
      if (what === 'no-jsonrpc') delete m.jsonrpc;
      if (what === 'id') {
        m.id = value;
        watch.length = 0;
        if (typeof value === 'number' && Number.isFinite(value)) watch.push(value);
      }
      if (what === 'method') m.method = value;
      if (what === 'params') m.params = value;
      if (what === 'progressToken') m.params = { _meta: { progressToken: value } };
      if (what === 'extra') m[(value as [string, unknown])[0]] = (value as [string, unknown])[1];
      return { lines: [j(m)], expect: { kind: 'none', watch } };
    }),
  );

const batch = fc.integer({ min: 1, max: 5 }).map((n) =>
  spec('batch', () => {
    const ids = Array.from({ length: n }, freshId);
    return { lines: [j(ids.map((id) => ({ jsonrpc: '2.0', id, method: 'ping' })))], expect: { kind: 'none', watch: ids } };
  }),
);

const TRICKY_METHODS = [
  'prompts/list', 'prompts/get', 'completion/complete', 'tasks/list', 'tasks/get',
  'tools/delete', 'admin/shutdown', '', ' ', 'rpc.discover', '__proto__', 'constructor', 'toString', 'hasOwnProperty',
  'notifications/cancelled', 'notifications/initialized', 'sampling/createMessage', 'roots/list', 'elicitation/create',
  'TOOLS/LIST', 'tools/list ', 'ping\u0000', 'tools/call/../list',
];
const unknownMethod = fc
  .oneof(fc.constantFrom(...TRICKY_METHODS), rawText(40).map((s) => `fuzz/${s}`))
  .map((method) => spec('unknown-method', () => {
    const id = freshId();
    return { lines: [req(id, method, {})], expect: { kind: 'error', id, code: -32601 } };
  }));

const extraParams = fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }).filter((k) => !['_meta', 'task', 'cursor', '__proto__'].includes(k)), smallJson, { maxKeys: 3 });

const ping = extraParams.map((extra) => spec('ping', () => {
  const id = freshId();
  return { lines: [req(id, 'ping', extra)], expect: { kind: 'result', id, check: (r) => expect(r).toEqual({}) } };
}));

const toolsList = fc.constant(
  spec('tools/list', () => {
    const id = freshId();
    return {
      lines: [req(id, 'tools/list', {})],
      expect: { kind: 'result', id, check: (r) => expect(r.tools.map((t: { name: string }) => t.name)).toEqual(expect.arrayContaining([...KNOWN_TOOLS])) },
    };
  }),
);

const unknownToolName = fc
  .oneof(rawText(60), fc.constantFrom('run_JS', 'run-js', 'run_js ', ' run_js', 'runjs', 'RUN_PYTHON', 'reset', 'exec', 'shell', 'eval', 'fs.readFile', '../run_js', 'run_js\u0000'))
  .filter((n) => !KNOWN_TOOLS.has(n) && !(n in Object.prototype));
const unknownTool = fc.tuple(unknownToolName, fc.option(fc.dictionary(fc.string({ maxLength: 8 }), smallJson, { maxKeys: 4 }))).map(([name, args]) =>
  spec('unknown-tool', () => {
    const id = freshId();
    // JSON.stringify escapes lone surrogates (\udXXX), so the server sees — and echoes — the exact name.
    const seen = name;
    return {
      lines: [req(id, 'tools/call', { name, ...(args === null ? {} : { arguments: args }) })],
      expect: { kind: 'toolError', id, text: `MCP error -32602: Tool ${seen} not found` },
    };
  }),
);

/** Object.prototype names: the SDK looks tools up in a plain object, so these are "disabled", not "not found". */
const prototypeTool = fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf').map((name) =>
  spec('prototype-tool', () => {
    const id = freshId();
    return { lines: [req(id, 'tools/call', { name, arguments: {} })], expect: { kind: 'toolError', id, text: new RegExp(`^MCP error -32602: Tool ${name} (not found|disabled)$`) } };
  }),
);

const notAString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }));
const badSession = fc.oneof(rawText(80).filter((s) => !SESSION_RE.test(s)), notAString, fc.constant('a'.repeat(65)));
const badTimeout = fc.oneof(fc.constantFrom<unknown>(0, -1, 1.5, 2 ** 53, '1000', true, null, [], {}), fc.integer({ max: 0 }), fc.double({ noInteger: true, noNaN: true }));
const badToolArgs = fc
  .oneof(
    fc.record({ tool: fc.constantFrom('run_js', 'run_python'), args: notAString.map((code) => ({ code })) }),
    fc.record({ tool: fc.constantFrom('run_js', 'run_python'), args: fc.constant({}) }),
    fc.record({ tool: fc.constantFrom('run_js', 'run_python'), args: badSession.map((session) => ({ code: '1', session })) }),
    fc.record({ tool: fc.constantFrom('run_js', 'run_python'), args: badTimeout.map((timeoutMs) => ({ code: '1', timeoutMs })) }),
    fc.record({ tool: fc.constant('reset_session'), args: fc.oneof(fc.constant({}), badSession.map((session) => ({ session }))) }),
  )
  .map(({ tool, args }) =>
    spec('bad-tool-args', () => {
      const id = freshId();
      return { lines: [req(id, 'tools/call', { name: tool, arguments: args })], expect: { kind: 'toolError', id, text: /Input validation error/ } };
    }),
  );

const badParams = fc
  .oneof(
    fc.constant({ method: 'tools/call', params: {} as unknown }),
    notAString.map((name) => ({ method: 'tools/call', params: { name } as unknown })),
    fc.constantFrom<unknown>([], 'x', 5, true, [1]).map((a) => ({ method: 'tools/call', params: { name: 'run_js', arguments: a } as unknown })),
    notAString.filter((c) => c !== null).map((cursor) => ({ method: 'tools/list', params: { cursor } as unknown })),
    fc.oneof(rawText(10), notAString).filter((l) => !['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'].includes(l as string)).map((level) => ({ method: 'logging/setLevel', params: { level } as unknown })),
    fc.constant({ method: 'initialize', params: { protocolVersion: 5 } as unknown }),
  )
  .map(({ method, params }) => spec(`bad-params:${method}`, () => {
    const id = freshId();
    return { lines: [req(id, method, params)], expect: { kind: 'error', id } };
  }));

const setLevel = fc.constantFrom('debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency').map((level) =>
  spec('logging/setLevel', () => {
    const id = freshId();
    return { lines: [req(id, 'logging/setLevel', { level })], expect: { kind: 'result', id, check: (r) => expect(r).toEqual({}) } };
  }),
);

const initializeAgain = fc.constant(
  spec('initialize-again', () => {
    const id = freshId();
    return {
      lines: [req(id, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'again', version: '1' } })],
      expect: { kind: 'result', id, check: (r) => expect(r.serverInfo.name).toBe('wasm-sandbox-mcp') },
    };
  }),
);

/** Depth-n nesting, written as text (no recursion on our side either). */
const deep = (n: number, leaf = '1') => `${'['.repeat(n)}${leaf}${']'.repeat(n)}`;
const deepObj = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
const deepNesting = fc.tuple(fc.integer({ min: 1000, max: 5000 }), fc.constantFrom('meta', 'tool-args', 'code', 'params')).map(([depth, where]) =>
  spec(`deep:${where}`, () => {
    const id = freshId();
    const head = `{"jsonrpc":"2.0","id":${j(id)},`;
    if (where === 'meta') return { lines: [`${head}"method":"ping","params":{"_meta":{"x":${deep(depth)}}}}`], expect: { kind: 'result', id } };
    if (where === 'tool-args') return { lines: [`${head}"method":"tools/call","params":{"name":"no_such_tool","arguments":{"a":${deepObj(depth)}}}}`], expect: { kind: 'toolError', id, text: 'MCP error -32602: Tool no_such_tool not found' } };
    if (where === 'code') return { lines: [`${head}"method":"tools/call","params":{"name":"run_js","arguments":{"code":${deep(depth)}}}}`], expect: { kind: 'toolError', id, text: /Input validation error/ } };
    return { lines: [`${head}"method":"ping","params":${deep(depth)}}`], expect: { kind: 'none', watch: [id] } };
  }),
);

const duplicateIds = fc.constantFrom('ping', 'tools/list').map((method) => spec('duplicate-id', () => {
  const id = freshId();
  return { lines: [req(id, method, {}), req(id, method, {})], expect: { kind: 'twice', id } };
}));

const cancelUnknown = fc.oneof(
  fc.tuple(fc.option(rawText(30)), fc.boolean()).map(([reason, asString]) =>
    spec('cancel-unknown', () => {
      const rid = asString ? `never-${freshInt()}` : freshInt() + 5_000_000;
      return { lines: [j({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: rid, ...(reason === null ? {} : { reason }) } })], expect: { kind: 'none', watch: [rid] } };
    }),
  ),
  fc.constantFrom<unknown>('x', [], null, {}, { requestId: {} }, { requestId: null }).map((params) =>
    spec('cancel-malformed', () => ({ lines: [j({ jsonrpc: '2.0', method: 'notifications/cancelled', params })], expect: { kind: 'none', watch: [] } })),
  ),
);

const otherNotification = fc.oneof(
  rawText(20).map((s) => `notifications/${s}`),
  fc.constantFrom('notifications/initialized', 'notifications/progress', 'notifications/roots/list_changed', 'notifications/message', 'tools/list'),
).chain((method) => extraParams.map((params) => spec('notification', () => ({ lines: [j({ jsonrpc: '2.0', method, params })], expect: { kind: 'none', watch: [] } }))));

const clientResponse = fc.boolean().map((ok) => spec('client-response', () => {
  const id = freshId();
  const line = ok ? j({ jsonrpc: '2.0', id, result: {} }) : j({ jsonrpc: '2.0', id, error: { code: -1, message: 'x' } });
  return { lines: [line], expect: { kind: 'none', watch: [id] } };
}));

const REAL_RUNS: Array<[string, (sc: any) => void]> = [
  ['6 * 7', (sc) => expect(sc).toMatchObject({ exitCode: 0, result: 42 })],
  ['"x".repeat(3)', (sc) => expect(sc).toMatchObject({ exitCode: 0, result: 'xxx' })],
  ['console.log("hi"); 1', (sc) => expect(sc).toMatchObject({ exitCode: 0, stdout: 'hi\n', result: 1 })],
  ['throw new Error("fuzz")', (sc) => expect(sc).toMatchObject({ exitCode: 1, error: { type: 'Error', message: 'fuzz' } })],
  ['[1, 2, 3].map((x) => x * 2)', (sc) => expect(sc).toMatchObject({ exitCode: 0, result: [2, 4, 6] })],
  ['console.log(\'{"jsonrpc":"2.0","id":1,"result":{}}\'); 0', (sc) => expect(sc).toMatchObject({ exitCode: 0, stdout: '{"jsonrpc":"2.0","id":1,"result":{}}\n' })],
];
const realRun = fc.constantFrom(...REAL_RUNS).map(([code, check]) =>
  spec('run_js', () => {
    const id = freshId();
    return { lines: [req(id, 'tools/call', { name: 'run_js', arguments: { code } })], expect: { kind: 'result', id, check: (r) => check(r.structuredContent) } };
  }),
);

const runThenCancel = fc.constantFrom('while (true) {}', 'await new Promise((r) => setTimeout(r, 10000))').map((code) =>
  spec('run-then-cancel', () => {
    const id = freshId();
    return {
      lines: [
        req(id, 'tools/call', { name: 'run_js', arguments: { code, timeoutMs: 3000 } }),
        j({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'fuzz' } }),
      ],
      expect: { kind: 'atMostOne', id },
    };
  }),
);

const message: fc.Arbitrary<Spec> = fc.oneof(
  { weight: 12, arbitrary: garbage },
  { weight: 6, arbitrary: truncated },
  { weight: 8, arbitrary: jsonNotRpc },
  { weight: 12, arbitrary: badEnvelope },
  { weight: 3, arbitrary: batch },
  { weight: 10, arbitrary: unknownMethod },
  { weight: 4, arbitrary: ping },
  { weight: 2, arbitrary: toolsList },
  { weight: 10, arbitrary: unknownTool },
  { weight: 1, arbitrary: prototypeTool },
  { weight: 10, arbitrary: badToolArgs },
  { weight: 6, arbitrary: badParams },
  { weight: 1, arbitrary: setLevel },
  { weight: 1, arbitrary: initializeAgain },
  { weight: 2, arbitrary: deepNesting },
  { weight: 2, arbitrary: duplicateIds },
  { weight: 5, arbitrary: cancelUnknown },
  { weight: 3, arbitrary: otherNotification },
  { weight: 2, arbitrary: clientResponse },
  { weight: 2, arbitrary: realRun },
  { weight: 1, arbitrary: runThenCancel },
);

/** Rare, expensive extras: ~1 MB strings and depth-100,000 nesting, at most one per batch. */
const MB = 1024 * 1024;
const huge: fc.Arbitrary<Spec> = fc.constantFrom('ping-meta', 'unknown-tool-args', 'garbage', 'run-js-code', 'deep-100k', 'tool-name').map((kind) =>
  spec(`huge:${kind}`, () => {
    const id = freshId();
    switch (kind) {
      case 'ping-meta':
        return { lines: [req(id, 'ping', { _meta: { blob: 'x'.repeat(MB) } })], expect: { kind: 'result', id } };
      case 'unknown-tool-args':
        return { lines: [req(id, 'tools/call', { name: 'nope', arguments: { s: 'é'.repeat(MB / 2) } })], expect: { kind: 'toolError', id, text: 'MCP error -32602: Tool nope not found' } };
      case 'garbage':
        return { lines: [`{"jsonrpc":"2.0","id":${j(id)},"method":"ping","params":{"s":"${'y'.repeat(MB)}`], expect: { kind: 'none', watch: [id] } };
      case 'run-js-code':
        return {
          lines: [req(id, 'tools/call', { name: 'run_js', arguments: { code: `/*${'z'.repeat(MB - 100)}*/ 7` } })],
          expect: { kind: 'result', id, check: (r) => expect(r.structuredContent).toMatchObject({ exitCode: 0, result: 7 }) },
        };
      case 'deep-100k':
        return { lines: [`{"jsonrpc":"2.0","id":${j(id)},"method":"ping","params":{"_meta":{"x":${deep(100_000)}}}}`], expect: { kind: 'result', id } };
      default:
        return { lines: [req(id, 'tools/call', { name: 'n'.repeat(MB / 4) })], expect: { kind: 'toolError', id, text: /^MCP error -32602: Tool n+ not found$/ } };
    }
  }),
);

// ---- the run ------------------------------------------------------------------------------------------

let srv: RawServer;
const sent: Msg[] = [];
let linesSent = 0;
const families = new Map<string, number>();

function responsesOf(id: JsonRpcId): RawMessage[] {
  return srv.responses.get(idKey(id)) ?? [];
}

function checkMessage(m: Msg): void {
  const e = m.expect;
  const where = `${m.family}: ${m.lines.map((l) => l.slice(0, 160)).join(' ⏎ ')}`;
  switch (e.kind) {
    case 'none':
      for (const id of e.watch) expect(responsesOf(id), `answered a message that must get no answer (${where})`).toHaveLength(0);
      return;
    case 'atMostOne':
      expect(responsesOf(e.id).length, where).toBeLessThanOrEqual(1);
      return;
    case 'twice':
      expect(responsesOf(e.id), where).toHaveLength(2);
      for (const r of responsesOf(e.id)) expect(r.result, where).toBeDefined();
      return;
    default: {
      const rs = responsesOf(e.id);
      expect(rs, `expected exactly one answer (${where})`).toHaveLength(1);
      const r = rs[0]!;
      expect(r.jsonrpc).toBe('2.0');
      if (e.kind === 'error') {
        expect(r.error, `expected a JSON-RPC error (${where}): ${j(r).slice(0, 300)}`).toBeDefined();
        expect(Number.isInteger(r.error!.code)).toBe(true);
        if (e.code !== undefined) expect(r.error!.code, where).toBe(e.code);
      } else {
        expect(r.result, `expected a result (${where}): ${j(r).slice(0, 300)}`).toBeDefined();
        if (e.kind === 'toolError') {
          expect(r.result.isError, where).toBe(true);
          const text = r.result.content?.[0]?.text as string;
          if (typeof e.text === 'string') expect(text, where).toBe(e.text);
          else expect(text, where).toMatch(e.text);
        } else e.check?.(r.result);
      }
    }
  }
}

async function sendAndCheck(specs: Spec[]): Promise<void> {
  const msgs = specs.map((s) => s());
  const awaited: JsonRpcId[] = [];
  for (const m of msgs) {
    sent.push(m);
    families.set(m.family.split(':')[0]!, (families.get(m.family.split(':')[0]!) ?? 0) + 1);
    for (const line of m.lines) srv.sendRaw(`${line}\n`);
    linesSent += m.lines.length;
    if (m.expect.kind !== 'none' && m.expect.kind !== 'atMostOne') awaited.push(m.expect.id);
  }
  await srv.waitFor(awaited, 60_000);
  // Duplicated ids: wait for the second answer as well.
  for (const m of msgs) {
    if (m.expect.kind !== 'twice') continue;
    const end = Date.now() + 10_000;
    while (responsesOf(m.expect.id).length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  }
  expect(srv.alive(), 'the server died').toBe(true);
  for (const m of msgs) checkMessage(m);
}

beforeAll(async () => {
  srv = await startRawServer(['--timeout', '3000', '--max-stdout', '65536']);
  // Warm up: a first run on a busy machine can be slow; the fuzz is about the protocol, not cold starts.
  const end = Date.now() + 60_000;
  for (;;) {
    const t0 = Date.now();
    const r = await srv.request('tools/call', { name: 'run_js', arguments: { code: '1 + 1' } }, 60_000);
    if (r.result?.structuredContent?.result === 2 && Date.now() - t0 < 1000) break;
    if (Date.now() > end) throw new Error(`the server did not warm up: ${JSON.stringify(r).slice(0, 300)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}, 120_000);
afterAll(async () => {
  await srv?.close();
});

describe('protocol fuzzing of one running server', () => {
  it(`answers ${RUNS * BATCH}+ generated lines as the SDK prescribes, without a crash`, async () => {
    const t0 = Date.now();
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: BATCH, maxLength: BATCH }), fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: huge }), async (specs, extra) => {
        await sendAndCheck(extra === null ? specs : [...specs, extra]);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    const seconds = (Date.now() - t0) / 1000;
    console.error(`[protocol-fuzz] ${linesSent} lines (${sent.length} generated messages) in ${seconds.toFixed(1)} s; by family: ${j(Object.fromEntries([...families].sort()))}`);
    expect(linesSent).toBeGreaterThanOrEqual(10_000);
  }, 240_000);

  it('sent every family, and the huge and deep extras', () => {
    for (const f of ['garbage', 'truncated', 'json-not-rpc', 'bad-envelope', 'batch', 'unknown-method', 'unknown-tool', 'prototype-tool', 'bad-tool-args', 'bad-params', 'deep', 'duplicate-id', 'cancel-unknown', 'notification', 'client-response', 'run_js', 'run-then-cancel', 'huge']) {
      expect(families.get(f) ?? 0, f).toBeGreaterThan(0);
    }
  });

  it('after the fuzz, late answers changed nothing: every id was answered exactly as expected, and only ids we sent', async () => {
    // One more round trip, so anything still in flight has landed.
    await new Promise((r) => setTimeout(r, 500));
    const last = await srv.request('ping', {});
    expect(last.result).toEqual({});
    const expectedKeys = new Set<string>();
    for (const m of sent) {
      checkMessage(m);
      if (m.expect.kind !== 'none') expectedKeys.add(idKey(m.expect.id));
    }
    const unexpected = [...srv.responses.keys()].filter((k) => !expectedKeys.has(k) && !/^1\d{9}$/.test(k)); // 1e9+: the harness's own requests
    expect(unexpected.slice(0, 10)).toEqual([]);
  });

  it('is still alive with one sandbox host, and a real run_js call still works', async () => {
    expect(srv.alive()).toBe(true);
    const r = await srv.request('tools/call', { name: 'run_js', arguments: { code: 'const v = [1, 2, 3]; v.reduce((a, b) => a + b, 0)' } });
    expect(r.result.structuredContent).toMatchObject({ exitCode: 0, result: 6 });
    expect(srv.hostPids()).toHaveLength(1);
  });

  it('every byte it wrote to stdout is JSON-RPC', () => {
    const lines = srv.assertStdoutIsJsonRpc();
    const parsed = [...srv.responses.values()].reduce((n, list) => n + list.length, 0) + srv.notifications.length;
    expect(lines).toBe(parsed);
    expect(lines).toBeGreaterThan(4000);
  });
});

describe('a request line over the limit the policy sets', () => {
  it('is answered with an error naming the limit; the server, its sessions and the next call are unaffected', async () => {
    // A 1 MiB session quota puts the line limit at its floor, the MCP SDK's own 10 MiB, whose
    // transport would otherwise close for good on the first longer line.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-line-policy-'));
    const policyFile = path.join(dir, 'small.json');
    fs.writeFileSync(policyFile, JSON.stringify({ filesystem: { writable: ['/tmp', '/output'], quotaBytes: MB } }));
    const s = await startRawServer(['--policy', policyFile]);
    try {
      const before = await s.request('tools/call', { name: 'run_js', arguments: { code: 'globalThis.kept = 41; 1', session: 'keep' } });
      expect(before.result.structuredContent).toMatchObject({ exitCode: 0 });
      // The SDK client writes the id last: the server finds it at the end of the skipped line.
      s.sendRaw(`${JSON.stringify({ method: 'tools/call', params: { name: 'run_js', arguments: { code: `/*${'x'.repeat(11 * MB)}*/ 1` } }, jsonrpc: '2.0', id: 1 })}\n`);
      await s.waitFor([1], 10_000);
      const refused = s.responses.get(idKey(1))![0]!;
      expect(refused.error).toMatchObject({ code: -32600, data: { code: 'E_INVALID_INPUT', maxBytes: 10 * MB } });
      expect(refused.error!.message).toMatch(/request too large: its line is 11\.0 MiB .* up to 10\.0 MiB/);
      const after = await s.request('tools/call', { name: 'run_js', arguments: { code: 'kept + 1', session: 'keep' } });
      expect(after.result.structuredContent).toMatchObject({ exitCode: 0, result: 42 });
      expect(s.alive()).toBe(true);
      s.assertStdoutIsJsonRpc();
    } finally {
      await s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
