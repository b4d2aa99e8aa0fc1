// The MCP floor: the same SDK, transport and tool schemas as wasm-sandbox-mcp, with a handler that
// answers at once — no policy, no capsule, no sandbox host. The bench measures it next to ours, so
// the cost of speaking MCP over stdio on this machine is a figure, not a guess.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { RunResultShape } from '../dist/front/run-result.js';
import { toCallToolResult } from '../dist/front/server/run-tools.js';

const server = new McpServer({ name: 'mcp-floor', version: '0.0.0' });
server.registerTool(
  'run_js',
  { description: 'Answers 2 without running anything.', inputSchema: { code: z.string(), session: z.string().optional() }, outputSchema: RunResultShape },
  async (args) =>
    toCallToolResult({
      exitCode: 0,
      stdout: '',
      stderr: '',
      stdoutTruncated: false,
      stderrTruncated: false,
      result: 2,
      durationMs: 0,
      ...(args.session ? { session: args.session } : {}),
      capsule: { id: '0'.repeat(64), keyId: '0'.repeat(16) },
      files: [],
      network: [],
    }),
);
await server.connect(new StdioServerTransport());
