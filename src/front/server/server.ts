/**
 * The MCP server: SDK glue only. Nothing outside front/server imports the SDK's server classes.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Runner } from '../runner.js';
import { registerResetSessionTool } from './reset-session-tool.js';
import { registerRunTools } from './run-tools.js';
import { PACKAGE_VERSION } from '../version.js';

export function createMcpServer(runner: Runner, options: { networkEnabled: boolean }): McpServer {
  const server = new McpServer(
    { name: 'wasm-sandbox-mcp', version: PACKAGE_VERSION },
    {
      capabilities: { logging: {}, tools: {} },
      instructions:
        'Run untrusted JavaScript (run_js) and Python (run_python) in WebAssembly sandboxes. Use a `session` name to keep state between calls; reset_session drops it.',
    },
  );
  registerRunTools(server, runner, options);
  registerResetSessionTool(server, runner);
  return server;
}
