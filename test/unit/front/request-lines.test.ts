import { describe, expect, it } from 'vitest';
import { RequestLineSplitter, requestLineLimit, type OversizedLine } from '../../../src/front/server/request-lines.js';
import { PolicySchema } from '../../../src/front/policy/schema.js';

const MiB = 1024 * 1024;

/** Feeds `input` in pieces of `size` bytes and records what comes out. */
function split(input: string | Buffer, maxLineBytes: number, size = 7) {
  const lines: string[] = [];
  const oversized: OversizedLine[] = [];
  const s = new RequestLineSplitter({ maxLineBytes, onLine: (l) => lines.push(l.toString('utf8')), onOversized: (o) => oversized.push(o) });
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input);
  for (let i = 0; i < bytes.length; i += size) s.push(bytes.subarray(i, i + size));
  return { lines, oversized };
}

describe('RequestLineSplitter', () => {
  it('hands on each line whole, newline included, however the bytes arrive', () => {
    const text = '{"a":1}\n{"b":"é ü"}\n\n{"c":[1,2]}\n{"partial":';
    for (const size of [1, 3, 7, 64]) {
      expect(split(text, 100, size).lines, `pieces of ${size}`).toEqual(['{"a":1}\n', '{"b":"é ü"}\n', '\n', '{"c":[1,2]}\n']);
    }
  });

  it('skips a line over the limit, reports its size and id, and goes on with the next line', () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { arguments: { code: 'x'.repeat(500) } } });
    const { lines, oversized } = split(`${big}\n{"jsonrpc":"2.0","id":8,"method":"ping"}\n`, 100);
    expect(oversized).toEqual([{ bytes: Buffer.byteLength(big), id: 7 }]);
    expect(lines).toEqual(['{"jsonrpc":"2.0","id":8,"method":"ping"}\n']);
  });

  it('a line of exactly the limit passes', () => {
    const line = `{"id":1,"p":"${'x'.repeat(80)}"}`;
    expect(split(`${line}\n`, Buffer.byteLength(line)).lines).toEqual([`${line}\n`]);
    expect(split(`${line}\n`, Buffer.byteLength(line) - 1).oversized).toHaveLength(1);
  });

  it.each([
    ['after the params, as the SDK client writes it', `{"method":"tools/call","params":{"id":"inner","code":"${'y'.repeat(300)}"},"jsonrpc":"2.0","id":42}`, 42],
    ['a string id with escapes', `{"jsonrpc":"2.0","id":"a\\"b\\\\c","params":{"s":"${'z'.repeat(300)}"}}`, 'a"b\\c'],
    ['keys and quotes inside strings do not count', `{"params":{"s":"\\",\\"id\\":99,${'q'.repeat(300)}"},"id" : -3 }`, -3],
    ['an id nested in arrays is not the request id', `{"params":[{"id":5}],"x":"${'w'.repeat(300)}"}`, undefined],
    ['a notification has none', `{"jsonrpc":"2.0","method":"notifications/x","params":{"s":"${'v'.repeat(300)}"}}`, undefined],
    ['a null id is no id', `{"id":null,"s":"${'u'.repeat(300)}"}`, undefined],
    ['non-ASCII text around it', `{"s":"${'é'.repeat(200)}","id":"ü"}`, 'ü'],
    ['not JSON at all', 'x'.repeat(300), undefined],
  ])('finds the id of an oversized request: %s', (_what, line, id) => {
    for (const size of [1, 5, 64]) {
      const { oversized } = split(`${line}\n`, 100, size);
      expect(oversized, `pieces of ${size}`).toEqual([{ bytes: Buffer.byteLength(line), id }]);
    }
  });
});

describe('requestLineLimit', () => {
  const policy = (fs: object, limits: object) => PolicySchema.parse({ filesystem: fs, limits });

  it("covers the default policy's whole session quota as base64 in one call", () => {
    const p = policy({}, {});
    expect(requestLineLimit(p)).toBeGreaterThanOrEqual(Math.ceil(p.filesystem.quotaBytes / 3) * 4 + p.limits.codeBytes);
  });

  it('never goes below the SDK default of 10 MiB, nor above 256 MiB', () => {
    expect(requestLineLimit(policy({ quotaBytes: 0 }, { codeBytes: 1 }))).toBe(10 * MiB);
    expect(requestLineLimit(policy({ quotaBytes: 2048 * MiB }, {}))).toBe(256 * MiB);
  });
});
