// Smoke test with the MCP Inspector CLI (pinned devDependency) against the built server: lists the
// tools and calls run_js, then asserts on the Inspector's JSON output — its exit status stays 0 when a
// tool answers isError, so the status alone proves nothing. Run by .ci/run after `npm test`.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const server = path.join(root, 'dist', 'cli', 'main.js');
const require = createRequire(import.meta.url);
const inspectorPkg = require.resolve('@modelcontextprotocol/inspector-cli/package.json');
const inspector = path.join(path.dirname(inspectorPkg), JSON.parse(fs.readFileSync(inspectorPkg, 'utf8')).bin['mcp-inspector-cli']);
const keys = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-inspector-'));

let failures = 0;
function check(label, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}`);
  if (!ok) {
    failures++;
    console.log(`     ${detail}`);
  }
}

/** One Inspector CLI invocation; returns its parsed JSON stdout. */
function inspect(...methodArgs) {
  const args = [inspector, '--cli', process.execPath, server, '--key-dir', path.join(keys, 'k'), '--audit-log', 'off', ...methodArgs];
  let out;
  try {
    out = execFileSync(process.execPath, args, {
      // inspector-cli 1.0.3 finds its own package.json as "../package.json" relative to the working
      // directory (and fails anywhere else), so it runs from its build directory.
      cwd: path.dirname(inspector),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
  } catch (e) {
    console.error(`FAIL the Inspector CLI did not run: ${methodArgs.join(' ')}\n${e.stderr ?? ''}${e.message}`);
    process.exitCode = 1;
    throw e;
  }
  try {
    return JSON.parse(out);
  } catch {
    check(`JSON output of ${methodArgs.slice(0, 4).join(' ')}`, false, out.slice(0, 2000));
    return {};
  }
}

try {
  const list = inspect('--method', 'tools/list');
  const tools = Object.fromEntries((list.tools ?? []).map((t) => [t.name, t]));
  check('tools/list has run_js, run_python and reset_session', ['run_js', 'run_python', 'reset_session'].every((n) => n in tools), JSON.stringify(Object.keys(tools)));
  const props = tools.run_js?.inputSchema?.properties ?? {};
  check('run_js takes code and typescript, each described', Boolean(props.code?.description && props.typescript?.description), JSON.stringify(props));
  check('run_js declares an output schema with exitCode', Boolean(tools.run_js?.outputSchema?.properties?.exitCode), JSON.stringify(tools.run_js?.outputSchema));

  // The Inspector parses each --tool-arg value as JSON where it can (`typescript=true` is a boolean).
  const ok = inspect('--method', 'tools/call', '--tool-name', 'run_js', '--tool-arg', 'code=console.log("smoke"); [1, 2, 3].map((x: number) => x * 2)', '--tool-arg', 'typescript=true');
  const r = ok.structuredContent ?? {};
  check('run_js (TypeScript) succeeds', ok.isError === false && r.exitCode === 0, JSON.stringify(ok));
  check('run_js returns stdout and the result', r.stdout === 'smoke\n' && JSON.stringify(r.result) === '[2,4,6]', JSON.stringify(r));
  check('run_js reports the signed capsule', /^[0-9a-f]{64}$/.test(r.capsule?.id ?? ''), JSON.stringify(r.capsule));

  const bad = inspect('--method', 'tools/call', '--tool-name', 'run_js', '--tool-arg', 'code=throw new TypeError("smoke failure")');
  const e = bad.structuredContent ?? {};
  check('a throwing run is isError with exit code 1 and its error', bad.isError === true && e.exitCode === 1 && e.error?.type === 'TypeError' && e.error?.message === 'smoke failure', JSON.stringify(bad));
} finally {
  fs.rmSync(keys, { recursive: true, force: true });
}

if (failures > 0 || process.exitCode) {
  console.error(`inspector smoke test: ${failures} check(s) failed`);
  process.exit(1);
}
console.log('inspector smoke test: passed');
