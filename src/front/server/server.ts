/**
 * The MCP server: SDK glue only. Nothing outside front/server imports the SDK's server classes.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Runner } from '../runner.js';
import { registerResetSessionTool } from './reset-session-tool.js';
import { registerRunTools } from './run-tools.js';
import { registerRegistryTools } from './registry-tools.js';
import { registerSessionResources } from './resources.js';
import type { Manifest } from '../capsule/registry.js';
import { PACKAGE_VERSION } from '../version.js';

export interface ServerOptions {
  networkEnabled: boolean;
  /** Verified registry capsules, each offered as its own tool. */
  registryTools?: Array<{ manifest: Manifest; id: string }>;
}

export function createMcpServer(runner: Runner, options: ServerOptions): McpServer {
  const server = new McpServer(
    { name: 'wasm-sandbox-mcp', version: PACKAGE_VERSION },
    {
      capabilities: { logging: {}, tools: {}, resources: { listChanged: false } },
      instructions:
        'Run untrusted JavaScript (run_js) and Python (run_python) in WebAssembly sandboxes. Use a `session` name to keep state between calls; reset_session drops it.',
    },
  );
  registerRunTools(server, runner, options);
  registerResetSessionTool(server, runner);
  registerRegistryTools(server, runner, options.registryTools ?? []);
  registerSessionResources(server, runner);
  return server;
}
