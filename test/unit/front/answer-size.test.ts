import { describe, expect, it } from 'vitest';
import { ANSWER_BUDGET_BYTES, fitAnswer } from '../../../src/front/server/answer-size.js';
import type { OutputFile } from '../../../src/front/output-files.js';
import type { RunResult } from '../../../src/front/run-result.js';

const MiB = 1024 * 1024;
/** What the client reads, as the server writes it: one JSON-RPC line with the tool result. */
const SDK_CLIENT_LINE_LIMIT = 10 * MiB;

const base = (over: Partial<RunResult> = {}): RunResult => ({
  exitCode: 0,
  stdout: '',
  stderr: '',
  stdoutTruncated: false,
  stderrTruncated: false,
  durationMs: 1,
  capsule: { id: 'c'.repeat(64), keyId: 'k'.repeat(16) },
  files: [],
  network: [],
  ...over,
});

const file = (i: number, bytes: number): OutputFile => ({ path: `/output/f${i}.bin`, mimeType: 'application/octet-stream', data: new Uint8Array(bytes).fill(i) });

/** The answer's line as the transport writes it. */
function lineBytes(r: RunResult, outputs: OutputFile[]): { bytes: number; answer: ReturnType<typeof fitAnswer> } {
  const answer = fitAnswer(r, outputs, 'run', false);
  const line = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: answer.text }, ...answer.files], structuredContent: answer.result, isError: false } });
  return { bytes: Buffer.byteLength(line), answer };
}

describe('fitAnswer', () => {
  it('cuts a request log too long for the line, keeping its first entries and saying how many went', () => {
    // 1,000 refused requests with 2 KiB URLs of quotes and 1 KiB reasons: ~12 MiB as written.
    const entry = (i: number) => ({ url: `http://${'"'.repeat(2040)}${i}/`, method: 'GET', blocked: `host ${'"'.repeat(1000)} is not a valid host name` });
    const network = Array.from({ length: 1000 }, (_, i) => entry(i));
    const { bytes, answer } = lineBytes(base({ network, stderr: 'own text\n' }), []);
    expect(bytes).toBeLessThanOrEqual(ANSWER_BUDGET_BYTES);
    expect(answer.result.network.length).toBeGreaterThan(100);
    expect(answer.result.network).toEqual(network.slice(0, answer.result.network.length));
    expect(answer.result.stderr).toMatch(new RegExp(`^\\[network: ${1000 - answer.result.network.length} of 1000 requests not listed`));
    expect(answer.result.stderr).toContain('own text');
  });

  it('leaves a small answer as it is', () => {
    const r = base({ stdout: 'hi\n', result: { a: [1, 2] } });
    const { answer } = lineBytes(r, [file(1, 100)]);
    expect(answer.result).toBe(r);
    expect(answer.text).toBe(JSON.stringify(r));
    expect(answer.files).toHaveLength(1);
  });

  it('never lets an answer past unmeasured that does not fit: € takes 6 bytes a JSON character in the line', () => {
    // Under the budget by character count, over it in bytes: a length bound looser than 6 would let it through.
    const r = base({ stdout: '€'.repeat(Math.floor(ANSWER_BUDGET_BYTES / 5.5)) });
    const { bytes, answer } = lineBytes(r, []);
    expect(bytes).toBeLessThanOrEqual(ANSWER_BUDGET_BYTES);
    expect(answer.result.stdoutTruncated).toBe(true);
  });

  it("keeps the default caps' full stdout and stderr, and returns what files fit, naming the others", () => {
    // 1 MiB of stdout, 2 MiB of stderr and five 1000 KiB files: a 12.5 MiB line before.
    const r = base({ stdout: 'o'.repeat(MiB), stderr: 'e'.repeat(2 * MiB) });
    const outputs = [0, 1, 2, 3, 4].map((i) => file(i, 1000 * 1024));
    const { bytes, answer } = lineBytes(r, outputs);
    expect(bytes).toBeLessThanOrEqual(ANSWER_BUDGET_BYTES);
    expect(answer.result).toBe(r);
    const notes = answer.files.filter((b) => b.type === 'text');
    expect(notes.length).toBeGreaterThan(0);
    expect(answer.files.length).toBe(5);
    for (const n of notes) expect((n as { text: string }).text).toMatch(/^\[\/output\/f\d\.bin \(.+\) is not attached: /);
  });

  it('cuts streams a policy let grow past what one message carries, and flags them', () => {
    const r = base({ stdout: 'a'.repeat(20 * MiB), stderr: 'b'.repeat(10 * MiB), result: 42 });
    const { bytes, answer } = lineBytes(r, []);
    expect(bytes).toBeLessThan(SDK_CLIENT_LINE_LIMIT);
    expect(answer.result).toMatchObject({ stdoutTruncated: true, stderrTruncated: true, result: 42 });
    expect(answer.result.stdout.length).toBeGreaterThan(MiB);
    expect(answer.result.stdout.length / answer.result.stderr.length).toBeCloseTo(2, 0);
  });

  it('cuts control characters, whose JSON escapes take six or seven times their bytes, as well', () => {
    const r = base({ stdout: '\u0001'.repeat(4 * MiB) });
    const { bytes, answer } = lineBytes(r, []);
    expect(bytes).toBeLessThan(SDK_CLIENT_LINE_LIMIT);
    expect(answer.result.stdoutTruncated).toBe(true);
  });

  it('drops a result too large for one message, whole, and says so', () => {
    const r = base({ stdout: 'kept\n', result: 'x'.repeat(6 * MiB) });
    const { bytes, answer } = lineBytes(r, []);
    expect(bytes).toBeLessThan(SDK_CLIENT_LINE_LIMIT);
    expect(answer.result).not.toHaveProperty('result');
    expect(answer.result.stdout).toBe('kept\n');
    expect(answer.result.stderr).toMatch(/^\[result omitted: .* client reads in one message\]/);
  });
});
