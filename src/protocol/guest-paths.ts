/**
 * Guest paths: the one canonical form every path takes before anyone looks at it.
 *
 * Pure string functions, no I/O, imported by both processes. The same `canonicalGuestPath`
 * canonicalises the paths written in a policy file, the paths of the tool's `files` input, the
 * paths the guest uses inside the sandbox (run_js's `fs`) and the paths the guest reports after a
 * run, so a comparison between any two of them is a plain string comparison.
 *
 * Rules (summarised in README.md, section "Files"):
 * - A malformed path is an input error: `SandboxError` with code `E_INVALID_INPUT`. Whether a
 *   well-formed path may be read or written is a separate question (`accessFor`), answered with
 *   `E_POLICY_DENIED` by the callers.
 * - Refused outright: a non-string, the empty string, NUL and every other control character
 *   (C0 U+0000–U+001F, DEL U+007F, C1 U+0080–U+009F), the line and paragraph separators
 *   U+2028/U+2029, unpaired UTF-16 surrogates, backslashes, and the bidirectional formatting
 *   characters (U+200E, U+200F, U+061C, U+202A–U+202E, U+2066–U+2069) that can make a name
 *   display differently from what it is.
 * - Nothing is decoded: `%2e%2e` is a name of six characters, not `..`. Look-alike characters
 *   such as FULLWIDTH SOLIDUS (U+FF0F) or DIVISION SLASH (U+2215) are ordinary characters of a
 *   name, never separators; only `/` separates.
 * - The path is NFC-normalised, so the NFC and NFD spellings of a name are the same file.
 * - A relative path is resolved against `/` (the guest's filesystem root): `output/a.txt` is
 *   `/output/a.txt`.
 * - `.` segments and repeated slashes disappear, `..` removes the previous segment and never
 *   climbs above `/` (`/../../etc` is `/etc`), and a trailing `/` is dropped. The result is `/` or
 *   `/seg1/seg2/...` with no empty, `.` or `..` segment.
 * - Limits: the canonical path is at most 1024 bytes of UTF-8, each segment at most 255 bytes of
 *   UTF-8, at most 32 segments deep. Input longer than 4096 UTF-16 units is refused before any work.
 */

import { ErrorCode, SandboxError } from './errors.js';

export const MAX_PATH_BYTES = 1024;
export const MAX_SEGMENT_BYTES = 255;
export const MAX_PATH_DEPTH = 32;
/** Raw input longer than this is refused before normalisation (bounds the work per path). */
export const MAX_RAW_PATH_LENGTH = 4 * MAX_PATH_BYTES;

/** C0, DEL, C1 and the Unicode line/paragraph separators. */
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
/** Bidirectional marks, embeddings, overrides and isolates. */
const BIDI_CHARS = /[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/u;
/** With the `u` flag a well-formed surrogate pair is one code point, so this matches only lone halves. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

/** Characters escaped when a path is quoted in a message (so a message never carries them raw). */
const UNSAFE_FOR_DISPLAY = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\ud800-\udfff]/gu;

/**
 * A quoted, display-safe rendering of an untrusted path for messages and reports: control, bidi
 * and lone-surrogate characters appear as `\uXXXX` escapes, and long input is shortened.
 */
export function describePath(p: unknown, maxLength = 120): string {
  if (typeof p !== 'string') return `<${p === null ? 'null' : typeof p}>`;
  const shown = p.length > maxLength ? `${p.slice(0, maxLength)}…` : p;
  const escaped = shown.replace(UNSAFE_FOR_DISPLAY, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `"${escaped}"${p.length > maxLength ? ` (${p.length} characters)` : ''}`;
}

function invalid(p: unknown, problem: string): SandboxError {
  return new SandboxError(ErrorCode.INVALID_INPUT, `invalid guest path ${describePath(p)}: ${problem}`);
}

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * The canonical absolute form of a guest path (see the module comment for every rule).
 * @throws SandboxError `E_INVALID_INPUT` naming the problem.
 */
export function canonicalGuestPath(p: unknown): string {
  if (typeof p !== 'string') throw invalid(p, 'a path must be a string');
  if (p.length === 0) throw invalid(p, 'the path is empty');
  if (p.length > MAX_RAW_PATH_LENGTH) {
    throw invalid(p, `the path is longer than ${MAX_RAW_PATH_LENGTH} characters`);
  }
  // Checked on the NFC form, the string that is kept. (NFC never turns another character into
  // "/", "." or a refused one; checking the kept string makes that independent of the tables.)
  const normalised = p.normalize('NFC');
  if (normalised.includes('\u0000')) throw invalid(p, 'the path contains a NUL character');
  if (CONTROL_CHARS.test(normalised)) throw invalid(p, 'the path contains a control character');
  if (BIDI_CHARS.test(normalised)) throw invalid(p, 'the path contains a bidirectional formatting character');
  if (LONE_SURROGATE.test(normalised)) throw invalid(p, 'the path contains an unpaired UTF-16 surrogate');
  if (normalised.includes('\\')) throw invalid(p, 'backslashes are not allowed; use "/" as the separator');

  const segments: string[] = [];
  for (const segment of normalised.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      segments.pop(); // at the root this is a no-op: never above "/"
      continue;
    }
    segments.push(segment);
  }

  if (segments.length > MAX_PATH_DEPTH) {
    throw invalid(p, `the path is ${segments.length} levels deep; the limit is ${MAX_PATH_DEPTH}`);
  }
  for (const segment of segments) {
    const bytes = utf8Bytes(segment);
    if (bytes > MAX_SEGMENT_BYTES) {
      throw invalid(p, `a path segment is ${bytes} bytes of UTF-8; the limit is ${MAX_SEGMENT_BYTES}`);
    }
  }
  const canonical = `/${segments.join('/')}`;
  const total = utf8Bytes(canonical);
  if (total > MAX_PATH_BYTES) {
    throw invalid(p, `the path is ${total} bytes of UTF-8; the limit is ${MAX_PATH_BYTES}`);
  }
  return canonical;
}

/** `canonicalGuestPath`, or `undefined` where the path is malformed. */
export function tryCanonicalGuestPath(p: unknown): string | undefined {
  try {
    return canonicalGuestPath(p);
  } catch {
    return undefined;
  }
}

/**
 * True when canonical `path` is `prefix` itself or lies below it, compared on `/` boundaries and
 * case-sensitively: `/out/x` is under `/out`, `/outside` is not, `/Out/x` is not.
 * Both arguments must already be canonical.
 */
export function isUnder(path: string, prefix: string): boolean {
  if (prefix === '/') return path.startsWith('/');
  return path === prefix || path.startsWith(`${prefix}/`);
}

export type Access = 'write' | 'read' | 'none';

/**
 * What the guest may do at canonical `path`, given its writable and read-only prefixes: the deepest
 * prefix over the path decides, so a read-only prefix or mount inside a writable one stays read-only
 * (and a writable one inside a read-only one is writable); the same prefix listed both ways is
 * read-only. Outside every prefix: nothing. The front and the sandbox host decide with this one rule.
 */
export function accessAt(path: string, prefixes: { writable: readonly string[]; readonly: readonly string[] }): Access {
  let depth = -1;
  let access: Access = 'none';
  for (const prefix of prefixes.writable) {
    if (prefix.length > depth && isUnder(path, prefix)) (depth = prefix.length), (access = 'write');
  }
  for (const prefix of prefixes.readonly) {
    if (prefix.length >= depth && isUnder(path, prefix)) (depth = prefix.length), (access = 'read');
  }
  return access;
}
