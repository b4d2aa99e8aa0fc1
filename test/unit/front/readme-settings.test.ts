/**
 * README.md documents every setting a user can pass: each CLI flag the parser accepts and each
 * environment variable the settings resolver reads. A flag added to the code without a line in the
 * README fails here.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { USAGE } from '../../../src/cli/args.js';
import { ENV_NAMES, FLAG_NAMES } from '../../../src/front/policy/settings.js';

const readme = fs.readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

describe('README.md settings', () => {
  it('lists every environment variable and its flag', () => {
    for (const name of Object.values(ENV_NAMES)) expect(readme, name).toContain(`\`${name}`);
    for (const flag of Object.values(FLAG_NAMES)) expect(readme, flag).toContain(`\`${flag}`);
  });

  it('lists every flag of the usage text', () => {
    const flags = [...new Set(USAGE.match(/--[a-z][a-z-]+/g) ?? [])];
    expect(flags.length).toBeGreaterThan(10);
    for (const flag of flags) expect(readme, flag).toContain(flag);
  });

  it('gives a client entry for Claude Desktop, VS Code, Cursor and Claude Code, each with npx -y', () => {
    expect(readme).toMatch(/"mcpServers"[\s\S]*"npx"[\s\S]*"-y", "wasm-sandbox-mcp"/);
    expect(readme).toMatch(/"servers": \{[\s\S]*"type": "stdio"/);
    expect(readme).toContain('~/.cursor/mcp.json');
    expect(readme).toMatch(/claude mcp add sandbox .*-- npx -y wasm-sandbox-mcp/);
  });
});
