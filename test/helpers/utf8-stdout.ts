/**
 * test/helpers/server.ts decodes each stdout chunk on its own (`chunk.toString('utf8')`), so a
 * multi-byte character split across two pipe chunks turns into U+FFFD pairs in the message the SDK
 * client receives (the server's bytes are fine: `assertStdoutIsJsonRpc` decodes the concatenation).
 * Tests that compare non-ASCII output exactly would flake. This swaps the recording listener for one
 * that decodes with a StringDecoder; call it right after startServer() (the stream is idle then).
 * Delete it once server.ts decodes across chunks itself.
 */
import { StringDecoder } from 'node:string_decoder';
import { JSONRPCMessageSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { TestServer } from './server.js';

export function withUtf8SafeStdout(srv: TestServer): TestServer {
  const stdout = srv.child.stdout!;
  const transport = srv.transport as unknown as {
    raw: Buffer[];
    onmessage?: (m: JSONRPCMessage) => void;
    onerror?: (e: Error) => void;
  };
  stdout.removeAllListeners('data');
  const decoder = new StringDecoder('utf8');
  let buffer = '';
  stdout.on('data', (chunk: Buffer) => {
    transport.raw.push(chunk);
    buffer += decoder.write(chunk);
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        transport.onmessage?.(JSONRPCMessageSchema.parse(JSON.parse(line)));
      } catch (e) {
        transport.onerror?.(e as Error);
      }
    }
  });
  return srv;
}
