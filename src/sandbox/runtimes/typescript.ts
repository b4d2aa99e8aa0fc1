/**
 * TypeScript for run_js: the types are removed by amaro (swc compiled to WebAssembly, the stripper
 * Node itself uses) in strip-only mode, which blanks type syntax with spaces instead of rewriting
 * the code, so every line and column of the result is the user's own and QuickJS's error
 * positions need no mapping. Syntax that would have to generate code (enum, namespace, parameter
 * properties...) is refused, never transformed. Types are not checked.
 *
 * Runs in the runtime worker, inside the sandbox host: the source is hostile and swc is a large
 * parser. Two things about swc's WebAssembly instance are handled here:
 *  - after a trap (its shadow stack overflows on deeply nested code) the instance fails every later
 *    call, so it is dropped and the next TypeScript run loads a fresh one;
 *  - its memory only grows (roughly 50-100x the source while parsing, outside the run's memMb), so
 *    the instance is also dropped after a large source, and sources above MAX_TYPESCRIPT_BYTES are
 *    refused whatever the policy's codeBytes.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '../../protocol/errors.js';
import type { GuestErrorInfo } from './types.js';

/** Largest TypeScript source accepted (stripping needs many times this in WebAssembly memory). */
export const MAX_TYPESCRIPT_BYTES = 1024 * 1024;
/** After stripping a source this large, the instance is released so its grown memory is freed. */
const RELEASE_AFTER_BYTES = 128 * 1024;
/** The name errors and stack traces give the user's code. */
export const TYPESCRIPT_FILENAME = 'main.ts';
const MAX_SNIPPET = 2000;

type Strip = (source: string, options: { mode: 'strip-only'; filename: string }) => { code: string };

/** amaro, required through the CommonJS cache so that a broken instance can be dropped. */
let amaro: { entry: string; dir: string; require: NodeJS.Require } | undefined;
let strip: Strip | undefined;

function load(): Strip {
  if (strip) return strip;
  if (!amaro) {
    const entry = fileURLToPath(import.meta.resolve('amaro'));
    amaro = { entry, dir: path.dirname(entry) + path.sep, require: createRequire(entry) };
  }
  strip = (amaro.require(amaro.entry) as { transformSync: Strip }).transformSync;
  return strip;
}

/** Forget the loaded instance (and its WebAssembly memory); the next strip evaluates amaro afresh. */
function release(): void {
  strip = undefined;
  if (!amaro) return;
  for (const key of Object.keys(amaro.require.cache)) if (key.startsWith(amaro.dir)) delete amaro.require.cache[key];
}

/** The shape of the diagnostics swc reports (a plain object, not an Error). */
interface SwcDiagnostic {
  code: string;
  message: string;
  startLine?: number;
  startColumn?: number;
  snippet?: string;
}

function isSwcDiagnostic(e: unknown): e is SwcDiagnostic {
  return typeof e === 'object' && e !== null && !(e instanceof Error) && typeof (e as SwcDiagnostic).code === 'string' && typeof (e as SwcDiagnostic).message === 'string';
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** swc's diagnostic as the user's error: what is wrong, on which line of their code. */
function describe(d: SwcDiagnostic): GuestErrorInfo {
  const line = Number.isSafeInteger(d.startLine) ? d.startLine! : undefined;
  // swc counts columns from 0; QuickJS's traces and editors count from 1.
  const column = Number.isSafeInteger(d.startColumn) ? d.startColumn! + 1 : undefined;
  const where = line === undefined ? TYPESCRIPT_FILENAME : `${TYPESCRIPT_FILENAME}:${line}${column === undefined ? '' : `:${column}`}`;
  const snippet = typeof d.snippet === 'string' && d.snippet.length > 0 ? `\n${clip(d.snippet.replace(/\n$/, ''), MAX_SNIPPET)}` : '';
  const traceback = `    at ${where}${snippet}`;
  const at = line === undefined ? '' : ` (line ${line})`;
  if (d.code === 'UnsupportedSyntax') {
    return {
      type: 'UnsupportedSyntaxError',
      message: clip(
        `${d.message}${at}. run_js only removes types; TypeScript that generates JavaScript is refused (instead of an enum use an object or a union type, instead of a namespace plain objects, instead of parameter properties explicit fields, instead of <T>x write x as T)`,
        4000,
      ),
      traceback,
    };
  }
  return { type: 'SyntaxError', message: clip(`${d.message}${at}`, 4000), traceback };
}

export type StripResult = { ok: true; code: string } | { ok: false; code: ErrorCode; error: GuestErrorInfo };

/** `source` with its TypeScript types blanked out, or the error the user should see. */
export function stripTypes(source: string): StripResult {
  const bytes = Buffer.byteLength(source, 'utf8');
  if (bytes > MAX_TYPESCRIPT_BYTES) {
    return {
      ok: false,
      code: ErrorCode.INVALID_INPUT,
      error: { type: 'InputError', message: `TypeScript code is ${bytes} bytes; at most ${MAX_TYPESCRIPT_BYTES} are accepted (plain JavaScript may be larger)` },
    };
  }
  const transform = load();
  try {
    return { ok: true, code: transform(source, { mode: 'strip-only', filename: TYPESCRIPT_FILENAME }).code };
  } catch (e) {
    if (isSwcDiagnostic(e)) return { ok: false, code: ErrorCode.GUEST_ERROR, error: describe(e) };
    // Anything else is the WebAssembly instance failing (a trap, a stack overflow): it is unusable.
    release();
    return {
      ok: false,
      code: ErrorCode.GUEST_ERROR,
      error: { type: 'RangeError', message: 'the TypeScript code is nested too deeply (or is too large) to strip its types' },
    };
  } finally {
    if (bytes > RELEASE_AFTER_BYTES) release();
  }
}
