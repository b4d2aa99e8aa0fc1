#!/usr/bin/env node
/**
 * The `wasm-sandbox-mcp` command. Thin: parse, resolve settings, dispatch. A configuration error
 * (flag, policy, key store, audit log) is one line on stderr and exit status 2 — the server never
 * starts half-configured.
 */
// First, before any other module's code runs (it applies itself on import): the start-up of the
// bundled front alone (settings, the MCP SDK's schemas) grew an unheld young generation 1 → 8 MiB.
import '../front/young-generation.js';
import { readFileSync } from 'node:fs';
import { ErrorCode, isSandboxError } from '../protocol/errors.js';
import { resolveSettings } from '../front/policy/settings.js';
import { PACKAGE_VERSION } from '../front/version.js';
import { USAGE, parseCliArgs } from './args.js';
import type { CommandOptions } from './commands.js';

async function main(argv: string[]): Promise<void> {
  const args = parseCliArgs(argv);
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (args.version) {
    process.stdout.write(`${PACKAGE_VERSION}\n`);
    return;
  }
  const settings = resolveSettings({ flags: args.settings, env: process.env, cwd: process.cwd(), readFile: (f) => readFileSync(f, 'utf8') });
  const options: CommandOptions = { settings, positionals: args.positionals, out: args.out, json: args.json, minGrade: args.minGrade, trustedKeys: args.trustedKeys };
  // Each command loads only what it needs: start-up time is part of every client's first call.
  const names: Record<string, 'keygen' | 'sign' | 'verify' | 'doctor' | 'runFile' | 'prepare'> = {
    keygen: 'keygen',
    sign: 'sign',
    verify: 'verify',
    doctor: 'doctor',
    run: 'runFile',
    prepare: 'prepare',
  };
  const name = names[args.command];
  if (name) {
    const commands = await import('./commands.js');
    process.exitCode = await commands[name](options);
    return;
  }
  switch (args.command) {
    case 'serve':
      return (await import('./serve.js')).serve(settings);
    default:
      throw Object.assign(new Error(`unknown command "${args.command}" (see --help)`), { config: true });
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  // A damaged or unsafe key store is a start-up configuration problem like a bad flag: exit 2.
  const config =
    (isSandboxError(e) && (e.code === ErrorCode.CONFIG || e.code === ErrorCode.KEY_STORE)) || (e as { config?: boolean }).config === true;
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`wasm-sandbox-mcp: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(config ? 2 : 1);
});
