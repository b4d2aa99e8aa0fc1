/**
 * Files a run wrote under `/output`, as MCP content: images as image blocks, everything else as
 * embedded resources (text where the type is textual and the bytes are valid UTF-8, base64 blob
 * otherwise). Each file and the run's total are capped; a file left out gets a text block that
 * names it and says why, so the client is never silently short of a file it was told about.
 */
import type { ContentBlock } from '@modelcontextprotocol/sdk/types.js';
import { capUtf8 } from './run-result.js';
import type { GuestChangeResult } from './vfs/store.js';

/** The directory whose new or changed files a run returns. */
export const OUTPUT_DIR = '/output';
/** Largest single file returned as content (its raw size). */
export const MAX_ATTACHMENT_BYTES = 1024 * 1024;
/** Most bytes (raw) of all files returned as content by one run. */
export const MAX_ATTACHMENTS_TOTAL_BYTES = 5 * 1024 * 1024;

const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

export interface OutputFile {
  /** Canonical guest path, under OUTPUT_DIR. */
  path: string;
  mimeType: string;
  data: Uint8Array;
}

export interface AttachmentCaps {
  perFileBytes: number;
  totalBytes: number;
}

/** The file starts as an image of this type does (its magic bytes). */
export function hasImageSignature(mimeType: string, data: Uint8Array): boolean {
  const starts = (bytes: number[], at = 0) => bytes.every((b, i) => data[at + i] === b);
  const ascii = (text: string) => [...text].map((c) => c.charCodeAt(0));
  switch (mimeType) {
    case 'image/png':
      return starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    case 'image/jpeg':
      return starts([0xff, 0xd8, 0xff]);
    case 'image/gif':
      return starts(ascii('GIF87a')) || starts(ascii('GIF89a'));
    case 'image/webp':
      return starts(ascii('RIFF')) && starts(ascii('WEBP'), 8);
    default:
      return false;
  }
}

function isTextual(mimeType: string): boolean {
  return mimeType.startsWith('text/') || mimeType === 'application/json' || mimeType === 'image/svg+xml';
}

/** The file's URI: `sandbox://<scope>/output/<segments, percent-encoded>`. */
export function outputUri(scope: string, path: string): string {
  return `sandbox://${encodeURIComponent(scope)}${path.split('/').map(encodeURIComponent).join('/')}`;
}

/** A size for messages: bytes, KiB or MiB with one decimal. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function asText(data: Uint8Array): string | undefined {
  try {
    return utf8.decode(data);
  } catch {
    return undefined;
  }
}

/**
 * Content blocks for `files`, in their order. `scope` is the session name, or "run" for a
 * sessionless run (it names the URI's authority); `kept` says where the client can still find
 * a file that was left out.
 */
export function outputContent(
  files: readonly OutputFile[],
  scope: string,
  options: { kept: boolean; caps?: AttachmentCaps },
): ContentBlock[] {
  const caps = options.caps ?? { perFileBytes: MAX_ATTACHMENT_BYTES, totalBytes: MAX_ATTACHMENTS_TOTAL_BYTES };
  const blocks: ContentBlock[] = [];
  let total = 0;
  const where = options.kept ? `it is kept in session "${scope}"` : 'a sessionless run keeps no files';
  for (const f of files) {
    const size = f.data.byteLength;
    if (size > caps.perFileBytes) {
      blocks.push({ type: 'text', text: `[${f.path} (${formatBytes(size)}) is not attached: larger than the ${formatBytes(caps.perFileBytes)} limit per returned file; ${where}]` });
      continue;
    }
    if (total + size > caps.totalBytes) {
      blocks.push({ type: 'text', text: `[${f.path} (${formatBytes(size)}) is not attached: the files returned by one run are limited to ${formatBytes(caps.totalBytes)} in all; ${where}]` });
      continue;
    }
    total += size;
    const base64 = Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength).toString('base64');
    // An image block only for bytes that are one: a client decodes and shows it.
    if (IMAGE_TYPES.has(f.mimeType) && hasImageSignature(f.mimeType, f.data)) {
      blocks.push({ type: 'image', data: base64, mimeType: f.mimeType });
      continue;
    }
    const uri = outputUri(scope, f.path);
    const text = isTextual(f.mimeType) ? asText(f.data) : undefined;
    blocks.push({
      type: 'resource',
      resource: text !== undefined ? { uri, mimeType: f.mimeType, text } : { uri, mimeType: f.mimeType, blob: base64 },
    });
  }
  return blocks;
}

/** A short stderr note on the guest's file changes the store refused. */
export function rejectionNote(changes: GuestChangeResult): string {
  const shown = changes.rejected.slice(0, 3).map((r) => (r.path && !r.reason.includes(r.path) ? `${r.path}: ${r.reason}` : r.reason));
  const more = changes.rejectedCount - shown.length;
  const n = changes.rejectedCount;
  return `[files: ${n} change${n === 1 ? ' was' : 's were'} not kept: ${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}]\n`;
}

/** `text` followed by `note`, within `maxBytes`: the text gives way to the note. */
export function appendNote(text: string, note: string, maxBytes: number): { text: string; truncated: boolean } {
  const noteBytes = Buffer.byteLength(note, 'utf8');
  if (noteBytes >= maxBytes) return { text: capUtf8(note, maxBytes).text, truncated: text.length > 0 };
  const head = capUtf8(text, maxBytes - noteBytes);
  const sep = head.text.length > 0 && !head.text.endsWith('\n') && Buffer.byteLength(head.text, 'utf8') + noteBytes + 1 <= maxBytes ? '\n' : '';
  return { text: head.text + sep + note, truncated: head.truncated };
}
