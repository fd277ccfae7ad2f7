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

/** The deepest nesting of objects and arrays in JSON text, counted in one pass outside strings. */
export function jsonDepth(text: string, stopAbove = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * Parses JSON without losing digits: numbers that survive a round trip through a JS number come back
 * as numbers; the rest (order ids above 2^53, 20-digit decimals) stay `LosslessNumber`, whose
 * `.value` holds the digits exactly as sent. Coercion turns them into strings or numbers at the edge.
 */
export function parseJsonLossless(bytes: Uint8Array | string): unknown {
  let text: string;
  try {
    text = typeof bytes === 'string' ? bytes : utf8.decode(bytes);
  } catch (err) {
    throw new UnparseableBodyError('body is not valid UTF-8', err);
  }
  const depth = jsonDepth(text, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH) throw new NestingTooDeepError(`body is nested more than ${MAX_JSON_DEPTH} levels deep`);
  try {
    return parse(text, null, (value: string) => (isSafeNumber(value) ? Number(value) : new LosslessNumber(value)));
  } catch (err) {
    throw new UnparseableBodyError(`body is not valid JSON: ${(err as Error).message}`, err);
  }
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
