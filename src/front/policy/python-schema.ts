/**
 * The `python` section of a policy file, and the front's loading of the wheels it names.
 *
 * `packagesDir` is a host directory of wheels (`*.whl`). The front reads them once at start-up (the
 * sandbox host never opens a host path); their digests travel in every signed capsule and the host
 * checks the bytes against them, as it does for input files. Inside Python an `import` of a module
 * that is not in the standard library finds the wheel that provides it and unpacks it in memory.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { sha256Hex } from '../../protocol/capsule.js';
import { ErrorCode, SandboxError } from '../../protocol/errors.js';
import { WHEEL_FILENAME, type CapsuleWheel } from '../../protocol/python-packages.js';
import { checkHostDirectory, hostPathSchema } from './filesystem-schema.js';

const MiB = 1024 * 1024;
/** Bounds of what the front loads into memory (and hands to every Python interpreter that asks). */
export const MAX_WHEELS = 1000;
export const MAX_WHEEL_BYTES = 64 * MiB;
export const MAX_WHEELS_TOTAL_BYTES = 512 * MiB;

export const PythonPolicySchema = z
  .strictObject({
    packagesDir: hostPathSchema('packagesDir')
      .optional()
      .describe(
        'Absolute host directory of pure-Python wheels (*.whl) that run_python may import. Read once at start-up; nothing is ever downloaded. Default: none (standard library only).',
      ),
  })
  .describe('run_python settings.');

export type PythonPolicy = z.infer<typeof PythonPolicySchema>;

/** One wheel as the front holds it. */
export interface LoadedWheel extends CapsuleWheel {
  data: Uint8Array;
}

function refuse(why: string): SandboxError {
  return new SandboxError(ErrorCode.CONFIG, `invalid policy: python.packagesDir ${why}`);
}

/**
 * Reads the wheels of `python.packagesDir`, sorted by file name. Refused at start-up (a CONFIG
 * error: exit status 2): a directory that does not exist or is not one, a broad one (a filesystem
 * root, the home directory, the key directory or one containing them — never allowed here), more
 * or bigger wheels than the bounds above, and a wheel whose file name is not a wheel's.
 */
export function loadWheels(policy: PythonPolicy, dirs: { homeDir: string; keyDir: string }): LoadedWheel[] {
  if (policy.packagesDir === undefined) return [];
  const shown = JSON.stringify(policy.packagesDir);
  const dir = checkHostDirectory(policy.packagesDir, { ...dirs, allowBroad: false }, (why) => refuse(`${shown} refused: ${why}`));
  const names = readdirSync(dir)
    .filter((n) => n.endsWith('.whl'))
    .sort();
  if (names.length > MAX_WHEELS) throw refuse(`${shown} holds ${names.length} wheels; at most ${MAX_WHEELS} are loaded`);
  const wheels: LoadedWheel[] = [];
  let total = 0;
  for (const filename of names) {
    const file = path.join(dir, filename);
    const st = statSync(file);
    if (!st.isFile()) continue;
    if (!WHEEL_FILENAME.test(filename)) throw refuse(`${shown}: ${JSON.stringify(filename)} is not a wheel file name (name-version[-build]-python-abi-platform.whl)`);
    if (st.size > MAX_WHEEL_BYTES) throw refuse(`${shown}: ${filename} is ${st.size} bytes; a wheel may have at most ${MAX_WHEEL_BYTES}`);
    total += st.size;
    if (total > MAX_WHEELS_TOTAL_BYTES) throw refuse(`${shown}: the wheels take more than ${MAX_WHEELS_TOTAL_BYTES} bytes`);
    const data = new Uint8Array(readFileSync(file));
    wheels.push({ filename, sha256: sha256Hex(data), size: data.byteLength, data });
  }
  return wheels;
}
