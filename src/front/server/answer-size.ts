/**
 * Fits a run's answer into one JSON-RPC line a client can read.
 *
 * MCP clients built on the SDK close their stdio transport for good when one line passes 10 MiB,
 * which ends their session with the server. A run's answer carries its result twice (as
 * structuredContent and, as the specification asks, as the same JSON in a text block) and the
 * files it returns: at the default caps, 1 MiB of stdout, 2 MiB of stderr and five 1000 KiB files
 * made a 12.5 MiB line. Here the files get what the text leaves of the budget, and text over the budget
 * (only a policy that raised the output caps gets there) is cut, with the cut said.
 */
import type { ContentBlock } from '@modelcontextprotocol/sdk/types.js';
import { MAX_ATTACHMENTS_TOTAL_BYTES, MAX_ATTACHMENT_BYTES, outputContent, type OutputFile } from '../output-files.js';
import { capUtf8, type RunResult } from '../run-result.js';

const MiB = 1024 * 1024;
/** Bytes of one answer's JSON-RPC line we allow: under the SDK's 10 MiB, with room for the envelope. */
export const ANSWER_BUDGET_BYTES = 9 * MiB;

const jsonBytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');

/** The result and its text block, as they stand in the line. */
function textBytes(r: RunResult): number {
  return textBytesOf(JSON.stringify(r));
}

/** The same from the result's JSON text. */
function textBytesOf(text: string): number {
  return Buffer.byteLength(text, 'utf8') + jsonBytes(text);
}

/**
 * Whether the result's JSON and its text block fit in `budget`, measuring only where a bound cannot
 * tell: JSON text takes at most 3 UTF-8 bytes a character, and escaping it again (the text block)
 * at most doubles that, so 9 bytes a character. A small answer, every call's case, costs nothing more.
 */
function textFits(text: string, budget: number): boolean {
  return text.length * 9 <= budget || textBytesOf(text) <= budget;
}

/**
 * `r`, with its stdout and stderr cut in proportion until it and its text block fit in `budget`
 * bytes; the result goes (whole: a cut value is not the value) only when the streams alone cannot
 * make room.
 */
function fitResult(r: RunResult, budget: number): RunResult {
  if (textBytes(r) <= budget) return r;
  let fitted = r;
  const bare = (x: RunResult): RunResult => ({ ...x, stdout: '', stderr: '' });
  if (fitted.result !== undefined && textBytes(bare(fitted)) > budget / 2) {
    const { result: _omitted, ...rest } = fitted;
    fitted = { ...rest, stderr: `[result omitted: with it the answer would pass the ${ANSWER_BUDGET_BYTES / MiB} MiB a client reads in one message]\n${rest.stderr}` };
  }
  // The request log next (up to 1,000 entries of long URLs and reasons): its first entries stay.
  if (fitted.network.length > 0 && textBytes(bare(fitted)) > budget / 2) {
    const kept = leadingWithin(fitted.network, budget / 4);
    const dropped = fitted.network.length - kept.length;
    fitted = { ...fitted, network: kept, stderr: `[network: ${dropped} of ${fitted.network.length} requests not listed: the answer would pass the ${ANSWER_BUDGET_BYTES / MiB} MiB a client reads in one message]\n${fitted.stderr}` };
  }
  for (let round = 0; round < 3; round++) {
    const size = textBytes(fitted);
    if (size <= budget) return fitted;
    const fixed = textBytes(bare(fitted));
    // The share of each stream that fits; 0.95 for JSON escapes that do not scale with bytes.
    const keep = Math.max(0, ((budget - fixed) / (size - fixed)) * 0.95);
    const stdout = capUtf8(fitted.stdout, Math.floor(Buffer.byteLength(fitted.stdout) * keep));
    const stderr = capUtf8(fitted.stderr, Math.floor(Buffer.byteLength(fitted.stderr) * keep));
    fitted = {
      ...fitted,
      stdout: stdout.text,
      stderr: stderr.text,
      stdoutTruncated: fitted.stdoutTruncated || stdout.truncated,
      stderrTruncated: fitted.stderrTruncated || stderr.truncated,
    };
  }
  return textBytes(fitted) <= budget ? fitted : { ...bare(fitted), stdoutTruncated: true, stderrTruncated: true };
}

/**
 * The longest leading part of `items` whose JSON, in the result and again in its text block, stays
 * within `budget` bytes (the text block at most doubles each byte of JSON text).
 */
function leadingWithin<T>(items: readonly T[], budget: number): T[] {
  let used = 0;
  let n = 0;
  while (n < items.length && (used += 3 * jsonBytes(items[n]) + 3) <= budget) n++;
  return items.slice(0, n);
}

/** The files as content, within what `budget` bytes of the line hold (notes for those left out). */
function fitFiles(files: readonly OutputFile[], scope: string, kept: boolean, budget: number): ContentBlock[] {
  // base64 is 4/3 of the bytes; text files may escape larger, hence the measurement after.
  let total = Math.min(MAX_ATTACHMENTS_TOTAL_BYTES, Math.floor((budget * 3) / 4));
  for (;;) {
    const blocks = outputContent(files, scope, { kept, caps: { perFileBytes: MAX_ATTACHMENT_BYTES, totalBytes: Math.max(0, total) } });
    const size = jsonBytes(blocks);
    if (size <= budget || total <= 0) return blocks;
    total = Math.floor(total * (budget / size) * 0.9);
  }
}

/**
 * The run's result, its JSON text and its files as content, together within ANSWER_BUDGET_BYTES.
 * The text comes first; the files get what it leaves (each file left out gets a note).
 */
export function fitAnswer(
  r: RunResult,
  outputs: readonly OutputFile[],
  scope: string,
  kept: boolean,
): { result: RunResult; text: string; files: ContentBlock[] } {
  // Room kept for the notes of files left out, so that they always fit.
  const budget = ANSWER_BUDGET_BYTES - Math.min(outputs.length * 512, MiB);
  let result = r;
  let text = JSON.stringify(r);
  if (!textFits(text, budget)) {
    result = fitResult(r, budget);
    text = JSON.stringify(result);
  }
  const files = outputs.length === 0 ? [] : fitFiles(outputs, scope, kept, ANSWER_BUDGET_BYTES - textBytesOf(text));
  return { result, text, files };
}
