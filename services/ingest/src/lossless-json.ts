import { isLosslessNumber, parse } from 'lossless-json';
import { badRequest } from './errors.ts';
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

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes and validates a body; throws a 400 naming the problem (with its position). With
 * `shallowArray`, members of that top-level array nested too deep are cut out before parsing
 * (each replaced by `null`) and returned by index with their original text, so one bad message
 * costs only itself: Segment's SDKs drop a whole batch answered 400, and never retry it.
 */
export function parseJsonBody(body: Buffer, shallowArray?: string): ParsedJson & { deep: Map<number, string> } {
  if (body.length === 0) throw badRequest('bad_json', 'request body is empty; expected a JSON object');
  let text: string;
  try {
    text = utf8.decode(body);
  } catch (err) {
    throw badRequest('bad_json', 'request body is not valid UTF-8', err);
  }
  const deep = new Map<number, string>();
  if (shallowArray !== undefined && depthExceededAt(text, MAX_JSON_DEPTH) >= 0) text = cutDeepElements(text, shallowArray, deep);
  const tooDeep = depthExceededAt(text, MAX_JSON_DEPTH);
  if (tooDeep >= 0) throw badRequest('too_deep', `invalid JSON: nested deeper than ${MAX_JSON_DEPTH} levels (position ${tooDeep})`);
  let value: unknown;
  try {
    value = parse(text);
  } catch (err) {
    // Deep nesting can overflow lossless-json's recursion; that is still a body we cannot parse.
    const detail = err instanceof RangeError ? 'nesting too deep' : err instanceof Error ? err.message : String(err);
    throw badRequest('bad_json', `invalid JSON: ${detail}`, err);
  }
  return { text, value, deep };
}

/** Replaces each element of the top-level array `key` that nests too deep with `null`, keeping its text. */
function cutDeepElements(text: string, key: string, deep: Map<number, string>): string {
  const member = objectMembers(text).find((m) => m.key === key);
  if (member === undefined || text[member.valueStart] !== '[') return text;
  // The object and the array are two levels of the limit.
  const spans = arrayElements(text, member.valueStart);
  let out = '';
  let from = 0;
  for (const [i, [start, end]] of spans.entries()) {
    const element = text.slice(start, end);
    if (depthExceededAt(element, MAX_JSON_DEPTH - 2) < 0) continue;
    deep.set(i, element);
    out += text.slice(from, start) + 'null';
    from = end;
  }
  return out + text.slice(from);
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

/** Members of the top-level object of already validated JSON text, in order (string indices). */
export function objectMembers(text: string, at = skipWs(text, 0)): MemberSpan[] {
  if (text[at] !== '{') return [];
  const out: MemberSpan[] = [];
  let i = skipWs(text, at + 1);
  while (i < text.length && text[i] !== '}') {
    const start = i;
    const keyEnd = skipString(text, i);
    // A key is a plain JSON string: JSON.parse of a string literal involves no numbers.
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    i = skipWs(text, i + 1); // ':'
    const valueStart = i;
    const valueEnd = skipValue(text, i);
    out.push({ key, start, valueStart, valueEnd });
    i = skipWs(text, valueEnd);
    if (text[i] === ',') i = skipWs(text, i + 1);
  }
  return out;
}

/** Element spans [start, end) of the array starting at `at` in validated JSON text. */
export function arrayElements(text: string, at: number): Array<[number, number]> {
  if (text[at] !== '[') return [];
  const out: Array<[number, number]> = [];
  let i = skipWs(text, at + 1);
  while (i < text.length && text[i] !== ']') {
    const end = skipValue(text, i);
    out.push([i, end]);
    i = skipWs(text, end);
    if (text[i] === ',') i = skipWs(text, i + 1);
  }
  return out;
}

/**
 * The object text at [start, end) without the members named in `drop` (and their separating
 * comma); every other byte is kept as sent. Used to keep a body-borne write key out of Kafka.
 */
export function withoutMembers(text: string, start: number, drop: ReadonlySet<string>): string {
  const members = objectMembers(text, start);
  const end = skipValue(text, start);
  const kept = members.filter((m) => !drop.has(m.key));
  if (kept.length === members.length) return text.slice(start, end);
  const first = members[0] as MemberSpan;
  const last = members[members.length - 1] as MemberSpan;
  // Each kept member keeps its text up to the next member (its comma and spacing included); the
  // last kept one stops at its value, so no comma dangles whichever members (even repeated) go.
  const parts = kept.map((m, i) => {
    const next = members[members.indexOf(m) + 1];
    return i === kept.length - 1 || next === undefined ? text.slice(m.start, m.valueEnd) : text.slice(m.start, next.start);
  });
  return text.slice(start, first.start) + parts.join('') + text.slice(last.valueEnd, end);
}

function skipWs(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

function skipString(text: string, i: number): number {
  i++; // opening quote
  while (i < text.length) {
    const c = text[i];
    if (c === '\\') i += 2;
    else if (c === '"') return i + 1;
    else i++;
  }
  return i;
}

/** End of the value starting at `i`; iterative, so deep nesting cannot overflow the stack. */
function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    while (i < text.length) {
      const ch = text[i];
      if (ch === '"') {
        i = skipString(text, i);
        continue;
      }
      if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return i;
  }
  while (i < text.length && !',]} \n\r\t'.includes(text[i] as string)) i++;
  return i;
}
