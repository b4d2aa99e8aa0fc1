/**
 * Splits the client's bytes on stdin into JSON-RPC lines before the MCP SDK's stdio transport sees
 * them.
 *
 * The SDK's transport closes itself for good when one line outgrows its buffer (10 MiB by default):
 * a single large `files` input, which the policy allows, would end the server and every session.
 * Here a line over the limit is skipped instead, and the request it carried is answered with an
 * error naming the limit. Complete lines reach the transport as one chunk each, which also spares it
 * re-copying its growing buffer for every 64 KiB piece of a large line.
 */
import type { Policy } from '../policy/schema.js';

const MiB = 1024 * 1024;
/** Below the SDK's own default nothing changes for small policies. */
const MIN_LINE_BYTES = 10 * MiB;
/** A line becomes one string before JSON.parse; V8's longest string is ~512 Mi characters. */
const MAX_LINE_BYTES = 256 * MiB;
const NEWLINE = 0x0a;

/**
 * The longest request line a policy's limits call for: its whole session quota as base64 in `files`,
 * its largest code twice over (JSON escapes), and 1 MiB for paths and the envelope.
 */
export function requestLineLimit(policy: Pick<Policy, 'limits' | 'filesystem'>): number {
  const files = Math.ceil(policy.filesystem.quotaBytes / 3) * 4;
  const wanted = files + 2 * policy.limits.codeBytes + MiB;
  return Math.min(MAX_LINE_BYTES, Math.max(MIN_LINE_BYTES, wanted));
}

export interface OversizedLine {
  /** The line's length in bytes, without its newline. */
  bytes: number;
  /** The request's top-level `id`, when the line had one (a notification has none). */
  id: string | number | undefined;
}

export interface RequestLineOptions {
  maxLineBytes: number;
  /** A complete line, newline included, in one buffer. */
  onLine: (line: Buffer) => void;
  onOversized: (line: OversizedLine) => void;
}

export class RequestLineSplitter {
  readonly #options: RequestLineOptions;
  #parts: Buffer[] = [];
  #bytes = 0;
  /** Set while skipping an oversized line: it only looks for the request's id. */
  #scanner: IdScanner | undefined;

  constructor(options: RequestLineOptions) {
    this.#options = options;
  }

  push(chunk: Buffer): void {
    let start = 0;
    while (start <= chunk.length) {
      const newline = chunk.indexOf(NEWLINE, start);
      const end = newline === -1 ? chunk.length : newline;
      if (end > start) this.#take(chunk.subarray(start, end));
      if (newline === -1) return;
      this.#endLine();
      start = newline + 1;
    }
  }

  #take(piece: Buffer): void {
    this.#bytes += piece.length;
    if (this.#scanner === undefined && this.#bytes > this.#options.maxLineBytes) {
      this.#scanner = new IdScanner();
      for (const held of this.#parts) this.#scanner.feed(held);
      this.#parts = [];
    }
    if (this.#scanner !== undefined) this.#scanner.feed(piece);
    else this.#parts.push(piece);
  }

  #endLine(): void {
    if (this.#scanner !== undefined) this.#options.onOversized({ bytes: this.#bytes, id: this.#scanner.id() });
    else this.#options.onLine(Buffer.concat([...this.#parts, NEWLINE_BUFFER]));
    this.#parts = [];
    this.#bytes = 0;
    this.#scanner = undefined;
  }
}

const NEWLINE_BUFFER = Buffer.from('\n');

/** Longest `id` value kept while scanning (JSON-RPC ids are short numbers or strings). */
const MAX_ID_TEXT = 256;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Finds the top-level `"id"` member of a JSON object streamed past it, without keeping the rest.
 * Multi-byte UTF-8 never contains ASCII bytes, so scanning bytes for structure is exact.
 */
class IdScanner {
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** At depth 1: reading a key, between key and colon, or reading a value. */
  #slot: 'key' | 'colon' | 'value' = 'key';
  #key: number[] | undefined;
  #lastKey = '';
  /** The id value's raw text while it is being read; undefined when not reading it. */
  #idText: number[] | undefined;
  #id: string | number | undefined;

  feed(bytes: Buffer): void {
    for (const b of bytes) this.#byte(b);
  }

  id(): string | number | undefined {
    this.#finishId();
    return this.#id;
  }

  #byte(b: number): void {
    const readingId = this.#idText !== undefined && this.#depth === 1;
    if (this.#inString) {
      if (readingId && this.#idText!.length < MAX_ID_TEXT) this.#idText!.push(b);
      if (this.#escaped) this.#escaped = false;
      else if (b === BACKSLASH) this.#escaped = true;
      else if (b === QUOTE) {
        this.#inString = false;
        if (this.#key !== undefined) {
          this.#lastKey = Buffer.from(this.#key).toString('utf8');
          this.#key = undefined;
          this.#slot = 'colon';
        } else if (readingId) this.#finishId();
      } else if (this.#key !== undefined && this.#key.length <= 8) this.#key.push(b);
      return;
    }
    switch (b) {
      case QUOTE:
        this.#inString = true;
        if (this.#depth === 1 && this.#slot === 'key') this.#key = [];
        else if (readingId) this.#idText!.push(b);
        return;
      case 0x7b: // {
      case 0x5b: // [
        if (readingId) this.#idText = undefined; // an object or array is no id
        this.#depth += 1;
        return;
      case 0x7d: // }
      case 0x5d: // ]
        if (readingId) this.#finishId();
        this.#depth -= 1;
        return;
      case 0x3a: // :
        if (this.#depth === 1 && this.#slot === 'colon') {
          this.#slot = 'value';
          if (this.#lastKey === 'id') this.#idText = [];
        }
        return;
      case 0x2c: // ,
        if (this.#depth === 1) {
          if (readingId) this.#finishId();
          this.#slot = 'key';
        }
        return;
      default:
        if (readingId && b > 0x20 && this.#idText!.length < MAX_ID_TEXT) this.#idText!.push(b);
    }
  }

  #finishId(): void {
    if (this.#idText === undefined) return;
    const text = Buffer.from(this.#idText).toString('utf8');
    this.#idText = undefined;
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) this.#id = value;
    } catch {
      // Not a JSON-RPC id (cut at MAX_ID_TEXT, or not a string or number): answer nothing.
    }
  }
}
