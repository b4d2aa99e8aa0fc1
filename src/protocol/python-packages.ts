/**
 * Python packages as they travel: the front lists each wheel's name and digest in the signed
 * capsule (`policy.python.wheels`); the bytes go to the sandbox host once, and the host hands a run
 * only wheels whose bytes match a signed digest.
 */
import * as z from 'zod';

/** A wheel's file name: name-version[-build]-python-abi-platform.whl, nothing that could be a path. */
export const WHEEL_FILENAME = /^[A-Za-z0-9_.+!]+(-[A-Za-z0-9_.+!]+){4,5}\.whl$/;

export const CapsuleWheelSchema = z.strictObject({
  filename: z.string().max(255).regex(WHEEL_FILENAME),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
});
export type CapsuleWheel = z.infer<typeof CapsuleWheelSchema>;

/** `policy.python` inside a capsule. */
export const CapsulePythonSchema = z.looseObject({ wheels: z.array(CapsuleWheelSchema).max(1000).default([]) });
