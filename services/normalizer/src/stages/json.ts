import { PipelineError } from '@cio-pipeline/core';
import { isLosslessNumber, isSafeNumber, LosslessNumber, parse } from 'lossless-json';

export { isLosslessNumber, LosslessNumber };

/** A body that is not UTF-8 JSON: the normalizer quarantines it as `unparseable_body`. */
export class UnparseableBodyError extends PipelineError {
  constructor(message: string, cause?: unknown) {
    super('UNPARSEABLE_BODY', message, { retryable: false, cause });
  }
}

/**
 * A body nested deeper than any real payload (Shopify orders reach 6 levels, Segment messages 5).
 * Every stage after parsing walks values recursively; the depth is checked first, on the text.
 */
export const MAX_JSON_DEPTH = 64;

/** A body nested deeper than MAX_JSON_DEPTH: quarantined as `nesting_too_deep`, never parsed. */
export class NestingTooDeepError extends PipelineError {
  constructor(message: string) {
    super('NESTING_TOO_DEEP', message, { retryable: false });
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** What one pass over JSON text, outside its strings, tells before parsing. */
export interface JsonShape {
  /** The deepest nesting of objects and arrays (stops counting above `stopAbove`). */
  depth: number;
  /** Object members (colons outside strings): as many keys as the parsed objects hold, unless a key repeats. */
  members: number;
  /** Every number has at most 15 digits and no exponent, so it survives a JS number exactly. */
  plainNumbers: boolean;
}

/** Reads the shape of JSON text in one pass, character by character, without building anything. */
export function scanJson(text: string, stopAbove = Infinity): JsonShape {
  let depth = 0;
  let max = 0;
  let members = 0;
  let plainNumbers = true;
  let inString = false;
  let digits = -1; // digits of the number being read, -1 outside numbers
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c >= 0x30 && c <= 0x39) {
      digits = digits < 0 ? 1 : digits + 1;
      if (digits > 15) plainNumbers = false;
      continue;
    }
    if (c === 0x2d || c === 0x2e || c === 0x2b) {
      if (digits < 0) digits = 0; // a minus starts a number; dot and plus continue one
      continue;
    }
    if ((c === 0x65 || c === 0x45) && digits >= 0) {
      plainNumbers = false; // an exponent can overflow, underflow or hide digits
      continue;
    }
    digits = -1;
    if (c === 0x22) inString = true;
    else if (c === 0x3a) members++;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        max = depth;
        if (max > stopAbove) break;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return { depth: max, members, plainNumbers };
}

/**
 * Parses JSON without losing digits: numbers that survive a round trip through a JS number come back
 * as numbers; the rest (order ids above 2^53, 20-digit decimals) stay `LosslessNumber`, whose
 * `.value` holds the digits exactly as sent. Coercion turns them into strings or numbers at the edge.
 *
 * Most bodies take the native parser: when every number is plain (at most 15 digits, no exponent)
 * it gives the same numbers, and when the parsed objects hold as many keys as the text has members
 * no key repeated (lossless-json refuses a key repeated with another value; JSON.parse keeps the
 * last). Anything else, and every body the native parser refuses, goes to lossless-json, so values
 * and errors are the same either way; the native parser's strings are also flat, not built a
 * character at a time.
 */
export function parseJsonLossless(bytes: Uint8Array | string): unknown {
  let text: string;
  try {
    text = typeof bytes === 'string' ? bytes : utf8.decode(bytes);
  } catch (err) {
    throw new UnparseableBodyError('body is not valid UTF-8', err);
  }
  const shape = scanJson(text, MAX_JSON_DEPTH);
  if (shape.depth > MAX_JSON_DEPTH) throw new NestingTooDeepError(`body is nested more than ${MAX_JSON_DEPTH} levels deep`);
  if (shape.plainNumbers) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined; // lossless-json below gives the error its message
    }
    if (value !== undefined && countKeys(value) === shape.members) return value;
  }
  try {
    return parse(text, null, (value: string) => (isSafeNumber(value) ? Number(value) : new LosslessNumber(value)));
  } catch (err) {
    throw new UnparseableBodyError(`body is not valid JSON: ${(err as Error).message}`, err);
  }
}

/** Own keys of every object in a parsed value (depth already bounded by MAX_JSON_DEPTH). */
function countKeys(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let n = 0;
  if (Array.isArray(value)) {
    for (const item of value) if (typeof item === 'object' && item !== null) n += countKeys(item);
    return n;
  }
  for (const key of Object.keys(value)) {
    n++;
    const item = (value as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null) n += countKeys(item);
  }
  return n;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isLosslessNumber(value);
}

/** Reads a nested field (`get(body, 'customer', 'id')`), undefined when any step is missing. */
export function get(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (!isPlainObject(current)) return undefined;
    current = current[key];
  }
  return current;
}
