/**
 * How deep JSON may nest at ingest. Deeper bodies made later stages (and the emulator) throw on
 * recursion; real payloads nest a handful of levels (a Shopify order about six). A batch counts its
 * own two levels ({"batch": [...]}), so its messages get two fewer.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The position where `text` first opens a container deeper than `maxDepth`, or -1. One pass,
 * no recursion, strings skipped: it runs before any parser, so depth costs nothing to refuse.
 */
export function depthExceededAt(text: string, maxDepth: number): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return i;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return -1;
}
