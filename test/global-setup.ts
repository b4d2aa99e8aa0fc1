/**
 * Once per test run: one signing key and one Python snapshot cache that every spawned server
 * shares (each server still gets its own key directory, holding a copy of the key). Without it,
 * each server would make its own snapshot — seconds of CPU per server on a 2-core machine.
 * Both live under node_modules/.cache and are kept between runs; `prepare` remakes the snapshot
 * only when the build changed (or the cache does not verify).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

const MAIN = path.resolve(import.meta.dirname, '../dist/cli/main.js');

declare module 'vitest' {
  export interface ProvidedContext {
    suiteKeyDir: string;
    suiteCacheDir: string;
  }
}

export default function setup(project: TestProject): void {
  const dir = path.resolve(import.meta.dirname, '../node_modules/.cache/wasm-sandbox-mcp-tests');
  const keyDir = path.join(dir, 'keys');
  const cacheDir = path.join(dir, 'cache');
  const env = { PATH: process.env.PATH ?? '', HOME: os.tmpdir(), LOG_LEVEL: 'warn' };
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(keyDir)) execFileSync(process.execPath, [MAIN, 'keygen', '--key-dir', keyDir], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(process.execPath, [MAIN, 'prepare', '--key-dir', keyDir, '--cache-dir', cacheDir], { env, stdio: ['ignore', 'ignore', 'inherit'], timeout: 180_000 });
  project.provide('suiteKeyDir', keyDir);
  project.provide('suiteCacheDir', cacheDir);
}
