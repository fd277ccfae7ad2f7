/**
 * Folds an event or property name to snake_case, so the drifting spellings sources send
 * ("addToCart", "Added To Cart", "added-to-cart", "checkout.started") meet the plan's names.
 * camelCase and PascalCase split at case changes (an acronym stays one word: "HTMLPage" -> "html_page");
 * every run of characters that is not a letter or digit becomes one underscore. Combining marks are
 * part of their letter (Hindi "खरीदा" and "खरीदी", Thai "คลิก" and "คลิ๊ก" stay apart); a mark with no
 * letter or digit before it goes with the separator, as do enclosing marks (keycaps) and variation
 * selectors (presentation only: "❤️" is "❤"). Lower-casing is Unicode's, not the host locale's, and
 * the dot above that "İ" keeps when lower-cased is dropped (i is dotted already): "İade" -> "iade".
 */
export function foldName(raw: string): string {
  let folded = folds.get(raw);
  if (folded === undefined) {
    folded = fold(raw);
    remember(raw, folded);
  }
  return folded;
}

/**
 * The longest raw name worth folding: Customer.io's largest name limit (attribute names, 150 bytes;
 * a UTF-16 unit is at least one UTF-8 byte). Callers check it before folding, so an attacker's
 * 32 KB name costs a length comparison, not a normalisation.
 */
export const MAX_NAME_CHARS = 150;

/**
 * Names repeat endlessly (a few hundred event and property names): memoise, bounded by the bytes
 * the entries hold, not by their count, because NFKC can expand a name 18-fold (U+FDFA) and a
 * source sending random names must not grow the heap. Over the budget the memo starts afresh.
 */
export const NAME_MEMO_MAX_BYTES = 1024 * 1024;
const folds = new Map<string, string>();
let memoBytes = 0;

function remember(raw: string, folded: string): void {
  if (raw.length > MAX_NAME_CHARS) return; // long names are not names: never kept
  const bytes = 2 * (raw.length + folded.length); // UTF-16 in V8's heap, at most
  if (memoBytes + bytes > NAME_MEMO_MAX_BYTES) {
    folds.clear();
    memoBytes = 0;
  }
  folds.set(raw, folded);
  memoBytes += bytes;
}

/** What the memo holds now (for tests and metrics). */
export function nameMemoSize(): { entries: number; bytes: number } {
  return { entries: folds.size, bytes: memoBytes };
}

function fold(raw: string): string {
  return raw
    .normalize('NFKC')
    .replace(/\p{Variation_Selector}+/gu, '')
    .replace(/([\p{Ll}\p{N}][\p{Mn}\p{Mc}]*)(\p{Lu})/gu, '$1_$2')
    .replace(/(\p{Lu}[\p{Mn}\p{Mc}]*)(\p{Lu}[\p{Mn}\p{Mc}]*\p{Ll})/gu, '$1_$2')
    .toLowerCase()
    .replace(/(\p{Soft_Dotted})\u0307+/gu, '$1')
    .replace(/^[\p{Mn}\p{Mc}]+/u, '')
    .replace(/(?:[^\p{L}\p{Mn}\p{Mc}\p{N}][\p{Mn}\p{Mc}]*)+/gu, '_')
    .replace(/^_+|_+$/g, '')
    .normalize('NFC'); // dropping a dot above can leave a composable pair: "İ́" -> "í"
}
