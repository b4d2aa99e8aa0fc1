/**
 * pino, to stderr only: stdout belongs to JSON-RPC.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './policy/settings.js';

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  return pino({ name: 'wasm-sandbox-mcp', level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
