/** A JSON value as it crosses every boundary of the product. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Deepest nesting accepted from another process: the runtimes convert results to at most 64 levels. */
export const MAX_JSON_DEPTH = 128;

/**
 * Whether `value` is JSON data as a tree: null, booleans, finite numbers, strings, arrays, and plain
 * objects of those, at most `MAX_JSON_DEPTH` deep, no object reached twice. The IPC channel's
 * structured clone can carry cycles and shared objects, which a walk would follow forever or
 * 2^depth times; a tree is walked once. Iterative, so a hostile sender cannot exhaust the stack.
 * It copies nothing: every key survives, an own `__proto__` key included (zod's record drops it).
 */
export function isJsonValue(value: unknown, maxDepth = MAX_JSON_DEPTH): value is JsonValue {
  const seen = new Set<object>();
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { v, depth } = next;
    if (typeof v === 'string' || typeof v === 'boolean' || v === null) continue;
    if (typeof v === 'number') {
      if (Number.isFinite(v)) continue;
      return false;
    }
    if (typeof v !== 'object' || depth >= maxDepth || seen.has(v)) return false;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        if (!Object.hasOwn(v, i)) return false;
        stack.push({ v: v[i], depth: depth + 1 });
      }
      continue;
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return false;
    for (const key of Object.keys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key);
      if (d === undefined || !('value' in d)) return false;
      stack.push({ v: d.value, depth: depth + 1 });
    }
  }
  return true;
}
