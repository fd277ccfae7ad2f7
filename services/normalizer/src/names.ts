/**
 * Folds an event or property name to snake_case, so the drifting spellings sources send
 * ("addToCart", "Added To Cart", "added-to-cart", "checkout.started") meet the plan's names.
 * camelCase and PascalCase split at case changes (an acronym stays one word: "HTMLPage" -> "html_page");
 * every run of characters that is not a letter or digit becomes one underscore.
 */
export function foldName(raw: string): string {
  let folded = folds.get(raw);
  if (folded === undefined) {
    folded = fold(raw);
    // Names repeat endlessly (a few hundred event and property names): memoise, bounded so a
    // source sending random names cannot grow it without limit.
    if (folds.size >= MAX_MEMO) folds.clear();
    folds.set(raw, folded);
  }
  return folded;
}

const MAX_MEMO = 10_000;
const folds = new Map<string, string>();

function fold(raw: string): string {
  return raw
    .normalize('NFKC')
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, '$1_$2')
    .replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, '$1_$2')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '_')
    .replace(/^_+|_+$/g, '');
}
