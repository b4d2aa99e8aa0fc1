/**
 * run_js and run_python: one registration function, two languages. Nothing language-specific
 * happens here; the runner and the sandbox host's adapters do the rest.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import { SESSION_NAME } from '../../protocol/messages.js';
import type { OutputFile } from '../output-files.js';
import type { Runner } from '../runner.js';
import { fitAnswer } from './answer-size.js';
import { withProgress } from './progress.js';
import { RunResultShape, type RunResult } from '../run-result.js';
import type { Language } from '../sessions/manager.js';

/** run_js only: the code is TypeScript. */
const typescriptField = {
  typescript: z
    .boolean()
    .optional()
    .describe(
      'Set true when `code` is TypeScript. Type annotations, interfaces, type aliases, generics, `as`/`satisfies` and other type-only syntax are removed (positions kept, so error lines match your code); types are NOT checked. Syntax that would need code generation (enum, namespace with values, constructor parameter properties, `<T>x` casts) is refused with an error naming its line.',
    ),
};

const inputShape = (language: Language) => ({
  code: z
    .string()
    .describe(
      language === 'js'
        ? 'JavaScript source (ES2023; top-level await allowed). The value of the last expression is returned as `result`.'
        : 'Python 3 source. The value of the last expression statement is returned as `result`, as in a notebook.',
    ),
  session: z
    .string()
    .regex(SESSION_NAME, 'session names are 1-64 characters of A-Z a-z 0-9 _ -')
    .optional()
    .describe('Session name. Runs with the same name and language share global state and files, like notebook cells. Omit for a fresh, isolated run.'),
  files: z
    .array(
      z.strictObject({
        path: z
          .string()
          .min(1)
          .max(4096)
          .describe('Absolute path inside the sandbox, e.g. "/tmp/data.csv". Only writable paths (by default under /tmp and /output) are accepted.'),
        content: z.string().describe('The file content: text, or base64 when `encoding` is "base64".'),
        encoding: z
          .enum(['utf8', 'base64'])
          .optional()
          .describe('"utf8" (default) for text, "base64" (standard alphabet, padded) for binary content.'),
      }),
    )
    .max(MAX_INPUT_FILES)
    .optional()
    .describe(
      `Files written into the session's virtual filesystem before the code runs (at most ${MAX_INPUT_FILES}). All or nothing: if one path is not writable or a quota would be exceeded, the call fails and nothing is written.`,
    ),
  timeoutMs: z
    .number()
    .int()
    .positive()
    .optional()
    .describe("Time limit for this run in ms; may lower the policy's limit, never raise it (higher values are clamped)."),
});

/**
 * The URI authority of a sessionless run's files: not a valid session name (it has a dot), so it can
 * never name another session's files (a session may be called "run").
 */
export const SESSIONLESS_SCOPE = 'sessionless.run';

/** Most entries in one call's `files` input (the policy's file-count quota applies as well). */
export const MAX_INPUT_FILES = 1000;

/**
 * The tool result: the JSON text block (the same content as structuredContent, for clients that
 * only read text), then the files the run wrote under /output (images as image content, other
 * files as embedded resources, size-capped; see output-files.ts), all within one readable line
 * (answer-size.ts).
 */
export function toCallToolResult(r: RunResult, outputs: readonly OutputFile[] = []): CallToolResult {
  const { result, text, files } = fitAnswer(r, outputs, r.session ?? SESSIONLESS_SCOPE, r.session !== undefined);
  return {
    content: [{ type: 'text', text }, ...files],
    structuredContent: result as unknown as Record<string, unknown>,
    isError: result.exitCode !== 0,
  };
}

export function registerRunTools(server: McpServer, runner: Runner, options: { networkEnabled: boolean }): void {
  const tools: Array<{ name: string; language: Language; title: string; description: string }> = [
    {
      name: 'run_js',
      language: 'js',
      title: 'Run JavaScript',
      description:
        'Run JavaScript in an isolated QuickJS (WebAssembly) sandbox with time, memory and output limits. console.log goes to stdout, console.error to stderr; the last expression is the result. No host access. Files: the global `fs` (readFileSync, writeFileSync, readdirSync, statSync, existsSync, mkdirSync, rmSync...) under /tmp and /output; files written under /output are returned (images as image content).',
    },
    {
      name: 'run_python',
      language: 'python',
      title: 'Run Python',
      description:
        'Run Python 3 in an isolated Pyodide (WebAssembly) sandbox with time, memory and output limits. print goes to stdout; the last expression statement is the result. Standard library only, no host access; files under /tmp and /output (files written under /output are returned).',
    },
  ];
  for (const t of tools) {
    server.registerTool(
      t.name,
      {
        title: t.title,
        description: t.description,
        // Strict: a misspelt field (`sesion`) is an error naming it, not a quietly sessionless run.
        inputSchema: z.strictObject(t.language === 'js' ? { ...inputShape(t.language), ...typescriptField } : inputShape(t.language)),
        outputSchema: RunResultShape,
        annotations: { title: t.title, readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: options.networkEnabled },
      },
      async (args, extra) => {
        const { result, outputs } = await withProgress(extra, runner.timeoutFor(args.timeoutMs), () =>
          runner.runWithOutputs({
            language: t.language,
            code: args.code,
            typescript: 'typescript' in args && args.typescript === true,
            session: args.session,
            files: args.files,
            timeoutMs: args.timeoutMs,
            signal: extra.signal,
          }),
        );
        return toCallToolResult(result, outputs);
      },
    );
  }
}
