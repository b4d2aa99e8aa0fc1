import { serialize, deserialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, isJsonValue } from '../../../src/protocol/json.js';
import { ResultMessage } from '../../../src/protocol/messages.js';

/** A run's outcome as the sandbox host sends it, with `result` in place. */
const resultMessage = (result: unknown) => ({
  t: 'result',
  id: 1,
  outcome: { stdout: '', stderr: '', stdoutTruncated: false, stderrTruncated: false, result, durationMs: 1, freshState: false },
});

/** What the front receives: the host's message after the IPC channel's structured clone. */
const overIpc = <T>(v: T): T => deserialize(serialize(v)) as T;

const nested = (depth: number): unknown => {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

describe('isJsonValue', () => {
  it('accepts JSON data of every kind, as JSON.parse makes it', () => {
    for (const text of ['null', 'true', '-0.5', '"s"', '[]', '{}', '[1, "a", null, {"b": [false, {}]}]', '{"": 1, "a b": {"c": [[]]}}']) {
      expect(isJsonValue(JSON.parse(text)), text).toBe(true);
    }
    expect(isJsonValue(Object.assign(Object.create(null), { a: 1 }))).toBe(true);
  });

  it('refuses what JSON cannot carry', () => {
    class K {}
    const cases: unknown[] = [undefined, NaN, Infinity, 1n, Symbol('s'), () => 1, new Date(0), new Map(), new K(), new Uint8Array(1), [1, undefined], { a: undefined }];
    // eslint-disable-next-line no-sparse-arrays
    cases.push([1, , 3]);
    cases.push(Object.defineProperty({}, 'g', { get: () => 1, enumerable: true }));
    for (const c of cases) expect(isJsonValue(c), String(typeof c)).toBe(false);
  });

  it('refuses cycles and shared objects, which the structured clone can carry and a walk would multiply', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(isJsonValue(overIpc(cyclic))).toBe(false);
    // 2^100 paths through 100 shared arrays: refused at the first shared one, not walked.
    let dag: unknown = 0;
    for (let i = 0; i < 100; i++) dag = [dag, dag];
    expect(isJsonValue(overIpc(dag))).toBe(false);
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels, without recursion`, () => {
    expect(isJsonValue(nested(MAX_JSON_DEPTH))).toBe(true);
    expect(isJsonValue(nested(MAX_JSON_DEPTH + 1))).toBe(false);
    expect(isJsonValue(nested(1_000_000))).toBe(false);
  });
});

describe('a result crossing from the sandbox host to the front', () => {
  it("keeps an own __proto__ key as data: it neither disappears nor becomes the object's prototype", () => {
    const result = JSON.parse('{"__proto__": {"polluted": 1}, "a": [{"__proto__": null}]}');
    const parsed = ResultMessage.parse(overIpc(resultMessage(result)));
    const out = parsed.outcome.result as Record<string, unknown>;
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":1},"a":[{"__proto__":null}]}');
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
  });

  it('refuses a result the runtimes could never send', () => {
    let dag: unknown = 0;
    for (let i = 0; i < 60; i++) dag = [dag, dag];
    expect(ResultMessage.safeParse(overIpc(resultMessage(dag))).success).toBe(false);
    expect(ResultMessage.safeParse(resultMessage(NaN)).success).toBe(false);
    expect(ResultMessage.safeParse(resultMessage(nested(MAX_JSON_DEPTH + 1))).success).toBe(false);
  });
});
