/**
 * The flags that put the sandbox host under Node's permission model. Node 20 calls it
 * `--experimental-permission`; Node 22+ `--permission`. Directory grants are written `dir/*` on
 * Node 20 and as plain directories (recursive) on Node 22+ — both forms are produced here so the
 * rest of the front need not care.
 */
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);

/** Packages the sandbox host and its workers load at run time (the rest is bundled: scripts/bundle.mjs). */
const HOST_PACKAGES = ['quickjs-emscripten-core', '@jitl/quickjs-wasmfile-release-sync', '@jitl/quickjs-ffi-types', 'pyodide', 'amaro'];

/** Directory of an installed package: walk up from its resolved entry to its package.json. */
export function packageDir(name: string, from: string = import.meta.url): string | undefined {
  const require = createRequire(from);
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    try {
      entry = fileURLToPath(import.meta.resolve(name));
    } catch {
      return undefined;
    }
  }
  let dir = path.dirname(entry);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === name) return fs.realpathSync(dir);
      } catch {
        // keep walking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function grantDir(dir: string): string {
  return major >= 22 ? dir : `${dir}/*`;
}

export interface HostLaunch {
  execPath: string;
  args: string[];
}

export interface LaunchGrants {
  /** Single files it may also read (the Python snapshot cache's data file). */
  readFiles?: readonly string[];
  /**
   * One file it may write (the snapshot maker's output, made by the front beforehand). Node's
   * permission model then allows writing that path only: no other file, no rename, no directory.
   */
  writeFile?: string;
}

/**
 * argv for the sandbox host (and the snapshot maker): permission flags, read grants, no code
 * generation from strings, then the script and `scriptArgs`.
 */
export function sandboxHostLaunch(hostScript: string, grants: LaunchGrants = {}, scriptArgs: readonly string[] = []): HostLaunch {
  const distDir = path.resolve(path.dirname(hostScript), '..');
  const root = path.resolve(distDir, '..');
  // The host's and workers' own code is bundled into dist/sandbox (scripts/bundle.mjs).
  const reads = [grantDir(path.join(distDir, 'sandbox')), path.join(root, 'package.json')];
  for (const name of HOST_PACKAGES) {
    const dir = packageDir(name);
    if (dir) reads.push(grantDir(dir));
  }
  reads.push(...(grants.readFiles ?? []).map((f) => path.resolve(f)));
  const permission = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
  return {
    execPath: process.execPath,
    args: [
      permission,
      '--allow-worker',
      ...reads.map((r) => `--allow-fs-read=${r}`),
      ...(grants.writeFile ? [`--allow-fs-write=${path.resolve(grants.writeFile)}`] : []),
      '--disallow-code-generation-from-strings',
      // For the idle collections of the host's threads; sandbox/garbage.ts takes the global away.
      '--expose-gc',
      '--no-warnings',
      hostScript,
      ...scriptArgs,
    ],
  };
}
