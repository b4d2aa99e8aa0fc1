import type * as z from 'zod';

/** Turns zod issues into one line that names the field, e.g. `limits.timeoutMs: Too big: …`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.map((k) => (path ? `${path}.${k}` : k)).join(', ')})` : '';
      return `${path || '(root)'}: ${issue.message}${keys}`;
    })
    .join('; ');
}
