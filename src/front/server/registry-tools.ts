/**
 * Trusted capsules from the registry, each registered as its own tool. The tool's arguments reach
 * the capsule's code as the global `input` (a value, never spliced into source); the run goes
 * through the same pipeline, policy and signed capsule as run_js / run_python.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import type { Manifest } from '../capsule/registry.js';
import type { Runner } from '../runner.js';
import { RunResultShape } from '../run-result.js';
import { toCallToolResult } from './run-tools.js';
import type { JsonValue } from '../../protocol/json.js';

export function registerRegistryTools(server: McpServer, runner: Runner, tools: Array<{ manifest: Manifest; id: string }>): void {
  for (const { manifest, id } of tools) {
    const inputSchema = z.fromJSONSchema(manifest.inputSchema as never) as z.ZodType;
    const handler = async (args: unknown, extra: { signal: AbortSignal }) =>
    {
      const reply = await runner.runWithOutputs({ language: manifest.language, code: manifest.code, input: args as JsonValue, tool: manifest.name, signal: extra.signal });
      return toCallToolResult(reply.result, reply.outputs);
    };
    // The input schema is the manifest's JSON Schema, converted to zod at start-up.
    (server.registerTool as (name: string, config: unknown, cb: typeof handler) => unknown)(
      manifest.name,
      {
        title: manifest.title ?? manifest.name,
        description: `${manifest.description} (trusted capsule ${manifest.name}@${manifest.version}, manifest ${id.slice(0, 12)})`,
        inputSchema,
        outputSchema: RunResultShape,
        annotations: { title: manifest.title ?? manifest.name, readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      },
      handler,
    );
  }
}
