/**
 * The Python wheels the front sent at start-up, held by the sandbox host in shared memory (one copy
 * for every worker), indexed by the SHA-256 of their bytes. A run gets exactly the wheels its signed
 * capsule lists: each one must match a held wheel by digest, name and size, or the capsule is refused.
 */
import { sha256Hex } from '../protocol/capsule.js';
import { ErrorCode, SandboxError } from '../protocol/errors.js';
import { CapsulePythonSchema } from '../protocol/python-packages.js';
import type { PythonPackage } from './runtimes/types.js';

export class WheelStore {
  private readonly byDigest = new Map<string, PythonPackage>();

  constructor(wheels: ReadonlyArray<{ filename: string; data: Uint8Array }> = []) {
    for (const w of wheels) {
      const shared = new Uint8Array(new SharedArrayBuffer(w.data.byteLength));
      shared.set(w.data);
      this.byDigest.set(sha256Hex(shared), { filename: w.filename, data: shared });
    }
  }

  /** The wheels a capsule's `policy.python` lists, verified; a malformed section or a mismatch is refused. */
  forCapsule(python: unknown): PythonPackage[] {
    if (python === undefined) return [];
    const parsed = CapsulePythonSchema.safeParse(python);
    if (!parsed.success) throw new SandboxError(ErrorCode.CAPSULE_INVALID, 'capsule refused: policy.python is malformed');
    return parsed.data.wheels.map((w) => {
      const held = this.byDigest.get(w.sha256);
      if (!held || held.filename !== w.filename || held.data.byteLength !== w.size) {
        throw new SandboxError(ErrorCode.CAPSULE_INVALID, `capsule refused: the Python package ${JSON.stringify(w.filename)} does not match its digest in the capsule`);
      }
      return held;
    });
  }
}
