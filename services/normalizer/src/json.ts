import { PipelineError } from '@cio-pipeline/core';
import { isLosslessNumber, isSafeNumber, LosslessNumber, parse } from 'lossless-json';

export { isLosslessNumber, LosslessNumber };

/** A body that is not UTF-8 JSON: the normalizer quarantines it as `unparseable_body`. */
export class UnparseableBodyError extends PipelineError {
  constructor(message: string, cause?: unknown) {
    super('UNPARSEABLE_BODY', message, { retryable: false, cause });
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

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
