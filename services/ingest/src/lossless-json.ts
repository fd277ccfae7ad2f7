import { isLosslessNumber, parse, type DuplicateKeyInfo } from 'lossless-json';
import { badRequest, IngestRequestError } from './errors.ts';
import { depthExceededAt, MAX_JSON_DEPTH } from './json-depth.ts';

/**
 * JSON handling for bodies whose ids may exceed 2^53. Nothing here goes through JSON.parse with
 * numbers: values come from lossless-json (numbers stay LosslessNumber, digits kept), and byte
 * ranges of members come from a scanner over the original text, so stored slices are the bytes sent.
 */

export type JsonObject = { [key: string]: unknown };

export interface ParsedJson {
  /** The body decoded as UTF-8 (strict). Slicing it and re-encoding gives back the original bytes. */
  text: string;
  value: unknown;
}

/** An element of the shallow array left out of the parsed value (it is `null` there), with why. */
export type CutElement =
  | { why: 'too_deep'; text: string }
  /** A key repeated with another value somewhere inside it: no single value to give it. */
  | { why: 'repeated_key'; text: string; key: string };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Stands in for a repeated key's value while the body is parsed: the element holding it is cut,
 * and it makes each further comparison with that key O(1) (lossless-json compares a repeated key's
 * values deeply, so keeping a large first value would make a run of repeats quadratic).
 */
const REPEATED = Symbol('repeated key');

/**
 * Decodes and validates a body; throws a 400 naming the problem (with its position). With
 * `shallowArray`, members of that top-level array that nest too deep, or repeat a key with another
 * value, are cut out (each `null` in the value) and returned by index with their original text, so
 * one bad message costs only itself: Segment's SDKs drop a whole batch answered 400, and never
 * retry it. Linear in the body's size whatever it holds.
 */
export function parseJsonBody(body: Buffer, shallowArray?: string): ParsedJson & { cut: Map<number, CutElement> } {
  if (body.length === 0) throw badRequest('bad_json', 'request body is empty; expected a JSON object');
  let text: string;
  try {
    text = utf8.decode(body);
  } catch (err) {
    throw badRequest('bad_json', 'request body is not valid UTF-8', err);
  }
  const cut = new Map<number, CutElement>();
  if (shallowArray !== undefined && depthExceededAt(text, MAX_JSON_DEPTH) >= 0) {
    // Too deep for the parser, so the scanner (iterative) checks the syntax before any slicing.
    checkSyntax(text);
    text = cutDeepElements(text, shallowArray, cut);
  }
  const tooDeep = depthExceededAt(text, MAX_JSON_DEPTH);
  if (tooDeep >= 0) throw badRequest('too_deep', `invalid JSON: nested deeper than ${MAX_JSON_DEPTH} levels (position ${tooDeep})`);
  const repeats: DuplicateKeyInfo[] = [];
  let value: unknown;
  try {
    value = parse(text, null, {
      onDuplicateKey: (info) => {
        if (shallowArray === undefined) throw repeatedKey(info);
        repeats.push(info);
        return REPEATED;
      },
    });
  } catch (err) {
    if (err instanceof IngestRequestError) throw err;
    // Deep nesting can overflow lossless-json's recursion; that is still a body we cannot parse.
    const detail = err instanceof RangeError ? 'nesting too deep' : err instanceof Error ? err.message : String(err);
    throw badRequest('bad_json', `invalid JSON: ${detail}`, err);
  }
  if (repeats.length > 0) cutRepeatedKeys(text, value, shallowArray as string, repeats, cut);
  return { text, value, cut };
}

/** The key's name stays out: a refusal names positions, never body content. */
function repeatedKey(info: DuplicateKeyInfo): IngestRequestError {
  return badRequest('bad_json', `invalid JSON: a key is repeated with another value (position ${info.position})`);
}

/** Replaces each element of the top-level array `key` that nests too deep with `null`, keeping its text. */
function cutDeepElements(text: string, key: string, cut: Map<number, CutElement>): string {
  const member = objectMembers(text).find((m) => m.key === key);
  if (member === undefined || text[member.valueStart] !== '[') return text;
  // The object and the array are two levels of the limit.
  const spans = arrayElements(text, member.valueStart);
  let out = '';
  let from = 0;
  for (const [i, [start, end]] of spans.entries()) {
    const element = text.slice(start, end);
    if (depthExceededAt(element, MAX_JSON_DEPTH - 2) < 0) continue;
    cut.set(i, { why: 'too_deep', text: element });
    out += text.slice(from, start) + 'null';
    from = end;
  }
  return out + text.slice(from);
}

/**
 * Cuts each element of the array `key` holding a repeated key; a repeat anywhere else (the
 * envelope) leaves no message to blame, so the request is refused.
 */
function cutRepeatedKeys(text: string, value: unknown, key: string, repeats: readonly DuplicateKeyInfo[], cut: Map<number, CutElement>): void {
  const items = getPath(value, [key]);
  const member = objectMembers(text).find((m) => m.key === key);
  const spans = member === undefined || !Array.isArray(items) ? [] : arrayElements(text, member.valueStart);
  for (const info of repeats) {
    const i = elementAt(spans, info.position);
    if (i < 0) throw repeatedKey(info);
    if (cut.has(i)) continue;
    const [start, end] = spans[i] as [number, number];
    cut.set(i, { why: 'repeated_key', text: text.slice(start, end), key: info.key });
    (items as unknown[])[i] = null;
  }
}

/** Index of the span holding `at` (spans sorted and disjoint), or -1; binary search. */
function elementAt(spans: ReadonlyArray<readonly [number, number]>, at: number): number {
  let lo = 0;
  let hi = spans.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const [start, end] = spans[mid] as readonly [number, number];
    if (at < start) hi = mid - 1;
    else if (at >= end) lo = mid + 1;
    else return mid;
  }
  return -1;
}

export function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !isLosslessNumber(value);
}

/** The member at `path`, own properties only. */
export function getPath(value: unknown, path: readonly string[]): unknown {
  let cur: unknown = value;
  for (const key of path) {
    if (!isObject(cur) || !Object.hasOwn(cur, key)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/**
 * A string or number at `path` as a string, digits exactly as sent (7301928374650192837 stays
 * "7301928374650192837"); null for anything else or an empty string.
 */
export function getIdString(value: unknown, path: readonly string[]): string | null {
  const v = getPath(value, path);
  if (typeof v === 'string') return v === '' ? null : v;
  if (isLosslessNumber(v)) return v.value;
  return null;
}

export function getString(value: unknown, path: readonly string[]): string | null {
  const v = getPath(value, path);
  return typeof v === 'string' ? v : null;
}

export interface MemberSpan {
  key: string;
  /** Start of the key's opening quote. */
  start: number;
  valueStart: number;
  /** Index just past the value. */
  valueEnd: number;
}

/**
 * Members of the object at `at`, in order (string indices); [] when no object starts there. The
 * text need not be validated: anything but JSON throws a 400 with its position, and each step
 * consumes a member or throws, so every input ends in time linear in its length.
 */
export function objectMembers(text: string, at = skipWs(text, 0)): MemberSpan[] {
  return text[at] === '{' ? scanObject(text, at).members : [];
}

function scanObject(text: string, at: number): { members: MemberSpan[]; end: number } {
  const members: MemberSpan[] = [];
  let i = skipWs(text, at + 1);
  if (text[i] === '}') return { members, end: i + 1 };
  for (;;) {
    const start = i;
    const keyEnd = skipKey(text, i);
    // A key is a checked JSON string: JSON.parse of a string literal involves no numbers.
    const key = JSON.parse(text.slice(start, keyEnd)) as string;
    const valueStart = skipColon(text, keyEnd);
    const valueEnd = skipValue(text, valueStart);
    members.push({ key, start, valueStart, valueEnd });
    i = skipWs(text, valueEnd);
    if (text[i] === '}') return { members, end: i + 1 };
    if (text[i] !== ',') throw syntaxError("',' or '}' after an object member", text, i);
    i = skipWs(text, i + 1);
  }
}

/** Element spans [start, end) of the array starting at `at`; [] when no array starts there. Throws as objectMembers does. */
export function arrayElements(text: string, at: number): Array<[number, number]> {
  if (text[at] !== '[') return [];
  const out: Array<[number, number]> = [];
  let i = skipWs(text, at + 1);
  if (text[i] === ']') return out;
  for (;;) {
    const end = skipValue(text, i);
    out.push([i, end]);
    i = skipWs(text, end);
    if (text[i] === ']') return out;
    if (text[i] !== ',') throw syntaxError("',' or ']' after an array element", text, i);
    i = skipWs(text, i + 1);
  }
}

/**
 * The object text at [start, end) without the members named in `drop` (and their separating
 * comma); every other byte is kept as sent. Used to keep a body-borne write key out of Kafka.
 */
export function withoutMembers(text: string, start: number, drop: ReadonlySet<string>): string {
  if (text[start] !== '{') return text.slice(start, skipValue(text, start));
  const { members, end } = scanObject(text, start);
  // By index, not by searching `members` for each kept one: linear however many members there are.
  const kept: number[] = [];
  for (const [j, m] of members.entries()) if (!drop.has(m.key)) kept.push(j);
  if (kept.length === members.length) return text.slice(start, end);
  const first = members[0] as MemberSpan;
  const last = members[members.length - 1] as MemberSpan;
  // Each kept member keeps its text up to the next member (its comma and spacing included); the
  // last kept one stops at its value, so no comma dangles whichever members (even repeated) go.
  const parts = kept.map((j, k) => {
    const m = members[j] as MemberSpan;
    const next = members[j + 1];
    return k === kept.length - 1 || next === undefined ? text.slice(m.start, m.valueEnd) : text.slice(m.start, next.start);
  });
  return text.slice(start, first.start) + parts.join('') + text.slice(last.valueEnd, end);
}

/** The whole text is one JSON value, surrounded by whitespace at most. */
function checkSyntax(text: string): void {
  const end = skipWs(text, skipValue(text, skipWs(text, 0)));
  if (end < text.length) throw syntaxError('the end of the body after the value', text, end);
}

/** A 400 for text that is not JSON: what was expected and where, no body content. */
function syntaxError(expected: string, text: string, at: number): IngestRequestError {
  const found = at >= text.length ? ', found the end of the body' : '';
  return badRequest('bad_json', `invalid JSON: expected ${expected}${found} (position ${at})`);
}

function skipWs(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

function skipKey(text: string, i: number): number {
  if (text[i] !== '"') throw syntaxError('a quoted key', text, i);
  return skipString(text, i);
}

/** Past the ':' after a key and its whitespace: where the value starts. */
function skipColon(text: string, keyEnd: number): number {
  const i = skipWs(text, keyEnd);
  if (text[i] !== ':') throw syntaxError("':' after a key", text, i);
  return skipWs(text, i + 1);
}

/** End of the string whose opening quote is at `i`, checked as lossless-json checks it. */
function skipString(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) return i + 1;
    if (c < 0x20) throw syntaxError('a control character in a string escaped', text, i);
    if (c === 0x5c /* \ */) {
      const e = text[i + 1];
      if (e === 'u') {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw syntaxError('4 hex digits after \\u', text, i);
        i += 5;
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i++;
      else throw syntaxError('a valid escape', text, i);
    }
  }
  throw syntaxError("'\"' closing the string", text, i);
}

function skipDigits(text: string, i: number): number {
  const from = i;
  while (i < text.length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
  if (i === from) throw syntaxError('a digit', text, i);
  return i;
}

/** -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
function skipNumber(text: string, i: number): number {
  if (text[i] === '-') i++;
  i = text[i] === '0' ? i + 1 : skipDigits(text, i);
  if (text[i] === '.') i = skipDigits(text, i + 1);
  if (text[i] === 'e' || text[i] === 'E') {
    i++;
    if (text[i] === '+' || text[i] === '-') i++;
    i = skipDigits(text, i);
  }
  return i;
}

/** A value that is not a container: string, number or literal. */
function skipScalar(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return skipNumber(text, i);
  for (const literal of ['true', 'false', 'null']) if (text.startsWith(literal, i)) return i + literal.length;
  throw syntaxError('a value', text, i);
}

/**
 * End of the value starting at `i`, its syntax checked. Iterative with an explicit stack of open
 * containers, so depth costs no recursion; each turn consumes at least one character or throws.
 */
function skipValue(text: string, i: number): number {
  const open: string[] = []; // the closer each open container expects
  for (;;) {
    // At the start of a value.
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i = skipWs(text, i + 1);
      if (text[i] !== close) {
        open.push(close);
        if (close === '}') i = skipColon(text, skipKey(text, i));
        continue;
      }
      i++;
    } else {
      i = skipScalar(text, i);
    }
    // After a value: close what ends here, then on to the next value, or done.
    for (;;) {
      const close = open.at(-1);
      if (close === undefined) return i;
      i = skipWs(text, i);
      if (text[i] === close) {
        open.pop();
        i++;
      } else if (text[i] === ',') {
        i = skipWs(text, i + 1);
        if (close === '}') i = skipColon(text, skipKey(text, i));
        break;
      } else {
        throw syntaxError(`',' or '${close}'`, text, i);
      }
    }
  }
}
