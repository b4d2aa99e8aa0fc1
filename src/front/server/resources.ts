/**
 * A session's files as MCP resources: `resources/list` shows every file of every live session,
 * `resources/read` returns one (text for UTF-8 text types, base64 otherwise). Reading never creates
 * a session or touches a runtime; a file or session that does not exist is "Resource not found"
 * (-32002, as the MCP specification names it).
 *
 * URI: `sandbox://sessions/<session>/files<guest path>`, each path segment percent-encoded.
 */
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode as McpErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { SESSION_NAME } from '../../protocol/messages.js';
import { tryCanonicalGuestPath } from '../../protocol/guest-paths.js';
import type { Runner } from '../runner.js';
import { mimeTypeFor } from '../vfs/store.js';
import { formatBytes } from '../output-files.js';
import { ANSWER_BUDGET_BYTES } from './answer-size.js';

const RESOURCE_NOT_FOUND = -32002;
const TEMPLATE = 'sandbox://sessions/{session}/files{+path}';

export function sessionFileUri(session: string, guestPath: string): string {
  return `sandbox://sessions/${session}/files${guestPath.split('/').map(encodeURIComponent).join('/')}`;
}

function isText(mimeType: string): boolean {
  return mimeType.startsWith('text/') || mimeType === 'application/json' || mimeType.endsWith('+json') || mimeType.endsWith('+xml');
}

function decodePath(raw: string): string | undefined {
  try {
    return tryCanonicalGuestPath(raw.split('/').map(decodeURIComponent).join('/'));
  } catch {
    return undefined;
  }
}

export function registerSessionResources(server: McpServer, runner: Runner): void {
  const template = new ResourceTemplate(TEMPLATE, {
    list: () => ({
      resources: runner.sessionFiles().flatMap(({ session, files }) =>
        files.map((f) => ({
          uri: sessionFileUri(session, f.path),
          name: `${session}:${f.path}`,
          mimeType: mimeTypeFor(f.path),
          size: f.size,
        })),
      ),
    }),
  });
  server.registerResource(
    'session-files',
    template,
    { title: 'Session files', description: 'Files in a named session of run_js / run_python (its virtual filesystem).' },
    (uri, variables) => {
      const session = String(variables['session'] ?? '');
      const guestPath = decodePath(String(variables['path'] ?? ''));
      const data = SESSION_NAME.test(session) && guestPath !== undefined ? runner.readSessionFile(session, guestPath) : undefined;
      if (data === undefined || guestPath === undefined) throw new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${uri.href}`);
      const mimeType = mimeTypeFor(guestPath);
      let content: { text: string } | { blob: string } | undefined;
      if (isText(mimeType)) {
        try {
          content = { text: new TextDecoder('utf-8', { fatal: true }).decode(data) };
        } catch {
          // not valid UTF-8 after all: send the bytes
        }
      }
      content ??= { blob: data.toString('base64') };
      // A line past the client's limit would end its connection: refuse, and say how to get the file.
      const encoded = Buffer.byteLength(JSON.stringify(content), 'utf8');
      if (encoded > ANSWER_BUDGET_BYTES) {
        throw new McpError(
          McpErrorCode.InvalidParams,
          `${guestPath} is ${formatBytes(data.length)}, ${formatBytes(encoded)} encoded: more than the ${formatBytes(ANSWER_BUDGET_BYTES)} a client reads in one message; read it in parts with run_js or run_python in session "${session}"`,
          { size: data.length, maxEncodedBytes: ANSWER_BUDGET_BYTES },
        );
      }
      return { contents: [{ uri: uri.href, mimeType, ...content }] };
    },
  );
}
