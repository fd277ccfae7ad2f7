/**
 * Stored data can be nested deeper than JSON.stringify can recurse (about 5,000 levels): one such
 * event made every people-API answer a 500 until a reset. What the emulator shows is cut at a
 * fixed depth, by a walk whose own recursion stops there, so rendering is safe at any depth.
 */

export const MAX_RENDER_DEPTH = 64;
export const TRUNCATED = `[nested deeper than ${MAX_RENDER_DEPTH} levels: not shown]`;

/** True if `value` nests deeper than `limit`; iterative, and it stops at the first deep path. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** `value` itself when shallow enough (the common case: no copy), else a copy cut at the limit. */
export function renderable<T>(value: T): T {
  return nestsDeeperThan(value, MAX_RENDER_DEPTH) ? (cut(value, 0) as T) : value;
}

function cut(v: unknown, depth: number): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (depth >= MAX_RENDER_DEPTH) return TRUNCATED;
  if (Array.isArray(v)) return v.map((x) => cut(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = cut(x, depth + 1);
  return out;
}

/** UTF-8 bytes of `value` as JSON; Infinity when it cannot be serialized (nested too deep). */
export function jsonBytes(value: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
  } catch {
    return Infinity;
  }
}
