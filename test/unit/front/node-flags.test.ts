/**
 * The sandbox host's launch flags: the permission model on, reads granted only to our built sandbox
 * code and the runtime packages — never the home or key directory — and nothing else.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOST_SCRIPT } from '../../../src/front/sandbox-client.js';
import { sandboxHostLaunch } from '../../../src/front/node-flags.js';
import { defaultKeyDir } from '../../../src/front/capsule/keystore.js';

const { args } = sandboxHostLaunch(HOST_SCRIPT);
const reads = args.filter((a) => a.startsWith('--allow-fs-read=')).map((a) => a.slice('--allow-fs-read='.length).replace(/\/\*$/, ''));
// The directory holding sandbox/, protocol/ and front/ (dist/ when built, src/ under vitest).
const codeDir = path.resolve(path.dirname(HOST_SCRIPT), '..');
const root = path.resolve(codeDir, '..');

describe('sandbox host launch', () => {
  it('turns the permission model on and code generation from strings off', () => {
    expect(args.some((a) => a === '--permission' || a === '--experimental-permission')).toBe(true);
    expect(args).toContain('--disallow-code-generation-from-strings');
  });

  it('grants no writes, no child processes, no addons, no WASI, no network', () => {
    for (const flag of ['--allow-fs-write', '--allow-child-process', '--allow-addons', '--allow-wasi', '--allow-net']) {
      expect(args.some((a) => a.startsWith(flag))).toBe(false);
    }
  });

  it('reads only our sandbox code (bundled), package.json and the runtime packages', () => {
    for (const r of reads) {
      const ours = r.startsWith(path.join(codeDir, 'sandbox')) || r === path.join(root, 'package.json');
      expect(ours || r.split(path.sep).includes('node_modules'), r).toBe(true);
    }
    expect(reads.some((r) => r.includes('pyodide'))).toBe(true);
    expect(reads.some((r) => r.includes('quickjs-emscripten-core'))).toBe(true);
    // The TypeScript stripper runs in the runtime workers.
    expect(reads.some((r) => r.split(path.sep).includes('amaro'))).toBe(true);
  });

  it('grants a named file (the snapshot cache) as that one file, not its directory', () => {
    const file = path.join(os.tmpdir(), 'cache', 'python-0123456789abcdef.snapshot');
    const extra = sandboxHostLaunch(HOST_SCRIPT, { readFiles: [file] }).args.filter((a) => !args.includes(a));
    expect(extra).toEqual([`--allow-fs-read=${file}`]);
  });

  it('grants the snapshot maker one file to write, passed after the script, and nothing else', () => {
    const out = path.join(os.tmpdir(), 'cache', 'python-0123456789abcdef.snapshot.1.2.tmp');
    const launch = sandboxHostLaunch(HOST_SCRIPT, { writeFile: out }, [out]);
    expect(launch.args.filter((a) => !args.includes(a))).toEqual([`--allow-fs-write=${out}`, out]);
    expect(launch.args.at(-2)).toBe(HOST_SCRIPT);
    expect(args.some((a) => a.startsWith('--allow-fs-write'))).toBe(false);
  });

  it('lets a process started with that grant write the file, and refuses any other write, a rename and a new file beside it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-grant-'));
    try {
      const out = path.join(dir, 'python-0123456789abcdef.snapshot.1.2.tmp');
      fs.writeFileSync(out, '', { mode: 0o600 });
      // The real flags, with a probe in place of the script.
      const flags = sandboxHostLaunch(HOST_SCRIPT, { writeFile: out }).args.filter((a) => a !== HOST_SCRIPT);
      const probe = `
        const fs = require('node:fs');
        const tryIt = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
        console.log(JSON.stringify({
          granted: tryIt(() => fs.writeFileSync(${JSON.stringify(out)}, 'snapshot')),
          sibling: tryIt(() => fs.writeFileSync(${JSON.stringify(path.join(dir, 'other'))}, 'x')),
          longer: tryIt(() => fs.writeFileSync(${JSON.stringify(`${out}x`)}, 'x')),
          rename: tryIt(() => fs.renameSync(${JSON.stringify(out)}, ${JSON.stringify(path.join(dir, 'moved'))})),
        }));`;
      const r = spawnSync(process.execPath, [...flags, '-e', probe], { encoding: 'utf8', env: {} });
      expect(JSON.parse(r.stdout), r.stderr).toEqual({ granted: 'ok', sibling: 'ERR_ACCESS_DENIED', longer: 'ERR_ACCESS_DENIED', rename: 'ERR_ACCESS_DENIED' });
      expect(fs.readdirSync(dir)).toEqual([path.basename(out)]);
      expect(fs.readFileSync(out, 'utf8')).toBe('snapshot');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('grants nothing that contains the home, config or key directory', () => {
    const secret = [defaultKeyDir(), path.join(os.homedir(), '.config'), os.homedir(), path.join(codeDir, 'front')];
    for (const r of reads) for (const s of secret) expect(s === r || s.startsWith(`${r}${path.sep}`), `${r} covers ${s}`).toBe(false);
  });
});
