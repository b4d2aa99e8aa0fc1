/**
 * run_js and run_python: one registration function, two languages. Nothing language-specific
 * happens here; the runner and the sandbox host's adapters do the rest.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { SESSION_NAME } from '../../protocol/messages.js';
import type { Runner } from '../runner.js';
import { RunResultShape, type RunResult } from '../run-result.js';
import type { Language } from '../sessions/manager.js';

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
  timeoutMs: z
    .number()
    .int()
    .positive()
    .optional()
    .describe("Time limit for this run in ms; may lower the policy's limit, never raise it (higher values are clamped)."),
});

/** The text block: the same content as structuredContent, for clients that only read text. */
export function renderText(r: RunResult): string {
  return JSON.stringify(r);
}

export function toCallToolResult(r: RunResult): CallToolResult {
  return {
    content: [{ type: 'text', text: renderText(r) }],
    structuredContent: r as unknown as Record<string, unknown>,
    isError: r.exitCode !== 0,
  };
}

export function registerRunTools(server: McpServer, runner: Runner, options: { networkEnabled: boolean }): void {
  const tools: Array<{ name: string; language: Language; title: string; description: string }> = [
    {
      name: 'run_js',
      language: 'js',
      title: 'Run JavaScript',
      description:
        'Run JavaScript in an isolated QuickJS (WebAssembly) sandbox with time, memory and output limits. console.log goes to stdout, console.error to stderr; the last expression is the result. No host access; files via the global `fs` under /tmp and /output.',
    },
    {
      name: 'run_python',
      language: 'python',
      title: 'Run Python',
      description:
        'Run Python 3 in an isolated Pyodide (WebAssembly) sandbox with time, memory and output limits. print goes to stdout; the last expression statement is the result. Standard library only, no host access; files under /tmp and /output.',
    },
  ];
  for (const t of tools) {
    server.registerTool(
      t.name,
      {
        title: t.title,
        description: t.description,
        inputSchema: inputShape(t.language),
        outputSchema: RunResultShape,
        annotations: { title: t.title, readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: options.networkEnabled },
      },
      async (args, extra) =>
        toCallToolResult(
          await runner.run({ language: t.language, code: args.code, session: args.session, timeoutMs: args.timeoutMs, signal: extra.signal }),
        ),
    );
  }
}
