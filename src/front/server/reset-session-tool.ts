import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { SESSION_NAME } from '../../protocol/messages.js';
import type { Runner } from '../runner.js';

export function registerResetSessionTool(server: McpServer, runner: Runner): void {
  server.registerTool(
    'reset_session',
    {
      title: 'Reset session',
      description: 'Drop a named session: its global state in both languages and its files.',
      inputSchema: z.strictObject({ session: z.string().regex(SESSION_NAME, 'session names are 1-64 characters of A-Z a-z 0-9 _ -').describe('The session to drop') }),
      outputSchema: { session: z.string(), existed: z.boolean().describe('False when there was no such session') },
      annotations: { title: 'Reset session', readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    async ({ session }) => {
      const existed = runner.sessions.reset(session);
      const out = { session, existed };
      return { content: [{ type: 'text', text: JSON.stringify(out) }], structuredContent: out };
    },
  );
}
