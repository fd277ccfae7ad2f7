import type { LineItem } from '@cio-pipeline/core/generated/avro-types';
import { parseIsoTimestamp } from '@cio-pipeline/core';
import { isIso4217 } from './currencies.ts';
import { stringify } from 'lossless-json';
import { isLosslessNumber, isPlainObject } from './json.ts';

/**
 * Type coercion at the edge: sources send prices as strings, ids as numbers above 2^53, skus as
 * numbers, currencies in lower case. Every function returns a result instead of throwing so that
 * validation can list every problem of an event at once.
 */

export type PropertyType = 'string' | 'number' | 'integer' | 'boolean' | 'currency' | 'email' | 'timestamp' | 'items';
export const PROPERTY_TYPES: readonly PropertyType[] = ['string', 'number', 'integer', 'boolean', 'currency', 'email', 'timestamp', 'items'];

export interface CoerceFailure {
  ok: false;
  /** invalid_type or unknown_currency. */
  code: 'invalid_type' | 'unknown_currency';
  /** Sub-path below the property, for items (`[1].quantity`). */
  path?: string;
  message: string;
}
export type Coerced<T> = { ok: true; value: T } | CoerceFailure;

const ok = <T>(value: T): Coerced<T> => ({ ok: true, value });
const fail = (message: string, code: CoerceFailure['code'] = 'invalid_type', path?: string): CoerceFailure =>
  path === undefined ? { ok: false, code, message } : { ok: false, code, path, message };

/** True for the values a source uses to say "absent": undefined, null, empty or blank string. */
export function isAbsent(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

function describe(value: unknown): string {
  if (isLosslessNumber(value)) return `number ${value.value}`;
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value;
}

/** Ids and skus: always strings, never numbers, every digit kept (19-digit order ids included). */
export function toIdString(value: unknown): Coerced<string> {
  if (typeof value === 'string') {
    const trimmed = value.trim();
    return trimmed === '' ? fail('expected an id, got an empty string') : ok(trimmed);
  }
  if (isLosslessNumber(value)) return ok(value.value);
  if (typeof value === 'bigint') return ok(value.toString());
  if (typeof value === 'number' && Number.isFinite(value)) {
    // A plain JS number only reaches here when lossless parsing judged it safe.
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) return fail(`id ${value} lost digits before it reached the normalizer`);
    return ok(String(value));
  }
  return fail(`expected an id (string or integer), got ${describe(value)}`);
}

const DECIMAL = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/** Numbers, including numeric strings ("99.00" -> 99). Rejects NaN, Infinity, "12,50", "$5". */
export function toNumber(value: unknown): Coerced<number> {
  if (typeof value === 'number') return Number.isFinite(value) ? ok(value) : fail(`expected a finite number, got ${value}`);
  if (isLosslessNumber(value)) {
    const n = Number(value.value);
    return Number.isFinite(n) ? ok(n) : fail(`number ${value.value} is out of range`);
  }
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (DECIMAL.test(trimmed)) {
      const n = Number(trimmed);
      if (Number.isFinite(n)) return ok(n);
    }
  }
  return fail(`expected a number, got ${describe(value)}`);
}

/** Integers (quantities): "2" -> 2, 2.0 -> 2; 2.5 is an error, not a rounding. */
export function toInteger(value: unknown): Coerced<number> {
  const n = toNumber(value);
  if (!n.ok) return fail(n.message.replace('a number', 'an integer'));
  if (!Number.isSafeInteger(n.value)) return fail(`expected an integer, got ${describe(value)}`);
  return n;
}

export function toBoolean(value: unknown): Coerced<boolean> {
  if (typeof value === 'boolean') return ok(value);
  if (value === 1 || value === 0) return ok(value === 1);
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (v === 'true' || v === '1') return ok(true);
    if (v === 'false' || v === '0') return ok(false);
  }
  return fail(`expected a boolean, got ${describe(value)}`);
}

export function toPlainString(value: unknown): Coerced<string> {
  if (typeof value === 'string') return ok(value);
  if (typeof value === 'number' || typeof value === 'boolean' || isLosslessNumber(value)) return ok(String(isLosslessNumber(value) ? value.value : value));
  return fail(`expected a string, got ${describe(value)}`);
}

/** Upper-case ISO-4217; anything else is `unknown_currency`. */
export function toCurrency(value: unknown): Coerced<string> {
  if (typeof value !== 'string') return fail(`expected a currency code, got ${describe(value)}`);
  const code = value.trim().toUpperCase();
  if (!isIso4217(code)) return fail(`${JSON.stringify(value)} is not an ISO-4217 currency code`, 'unknown_currency');
  return ok(code);
}

// Deliberately loose: one @, something on both sides, a dot in the domain, no whitespace.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Trimmed and lower-cased; Customer.io matches emails case-insensitively, the identity graph must too. */
export function toEmail(value: unknown): Coerced<string> {
  if (typeof value !== 'string') return fail(`expected an email, got ${describe(value)}`);
  const email = value.trim().toLowerCase();
  if (!EMAIL.test(email)) return fail(`${JSON.stringify(value)} is not an email address`);
  return ok(email);
}

/** Below this a number is unix seconds, at or above it unix millis (1e11 s is the year 5138, 1e11 ms is 1973). */
const SECONDS_LIMIT = 1e11;
/** At or above this a number is unix microseconds (1e14 ms is the year 5138). */
const MICROS_LIMIT = 1e14;

function fromEpochNumber(n: number): Coerced<number> {
  if (!Number.isFinite(n) || n < 0) return fail(`expected a unix timestamp, got ${n}`);
  if (n < SECONDS_LIMIT) return ok(Math.round(n * 1000));
  if (n < MICROS_LIMIT) return ok(Math.round(n));
  return ok(Math.round(n / 1000));
}

/**
 * Timestamps to epoch milliseconds UTC: ISO-8601 with any offset (no offset means UTC, never the
 * host's zone), unix seconds, unix millis (as numbers or digit strings).
 */
export function toTimestampMs(value: unknown): Coerced<number> {
  if (typeof value === 'number' || isLosslessNumber(value)) return fromEpochNumber(Number(isLosslessNumber(value) ? value.value : value));
  if (typeof value !== 'string') return fail(`expected a timestamp, got ${describe(value)}`);
  const s = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(s)) return fromEpochNumber(Number(s));
  // One parser for ingest and the normalizer (packages/core): no offset means UTC.
  const ms = parseIsoTimestamp(s);
  return ms === null ? fail(`expected an ISO-8601 or unix timestamp (a real date and time), got ${describe(value)}`) : ok(ms);
}

/** Line items from Shopify (`title`), Recharge or Segment (`products`, `name`). Quantity defaults to 1 when absent. */
export function toLineItems(value: unknown): Coerced<LineItem[]> {
  if (!Array.isArray(value)) return fail(`expected a list of line items, got ${describe(value)}`);
  const items: LineItem[] = [];
  for (const [i, raw] of value.entries()) {
    if (!isPlainObject(raw)) return fail(`expected a line item object, got ${describe(raw)}`, 'invalid_type', `[${i}]`);
    const item: LineItem = {
      product_id: null, variant_id: null, sku: null, name: null, price: null, quantity: 1, category: null, subscription_eligible: null,
    };
    for (const key of ['product_id', 'variant_id', 'sku'] as const) {
      if (isAbsent(raw[key])) continue;
      const id = toIdString(raw[key]);
      if (!id.ok) return fail(id.message, 'invalid_type', `[${i}].${key}`);
      item[key] = id.value;
    }
    const name = raw['name'] ?? raw['title'];
    if (!isAbsent(name)) {
      const s = toPlainString(name);
      if (!s.ok) return fail(s.message, 'invalid_type', `[${i}].name`);
      item.name = s.value;
    }
    if (!isAbsent(raw['price'])) {
      const price = toNumber(raw['price']);
      if (!price.ok) return fail(price.message, 'invalid_type', `[${i}].price`);
      item.price = price.value;
    }
    if (!isAbsent(raw['quantity'])) {
      const qty = toInteger(raw['quantity']);
      if (!qty.ok) return fail(qty.message, 'invalid_type', `[${i}].quantity`);
      item.quantity = qty.value;
    }
    if (!isAbsent(raw['category'])) {
      const s = toPlainString(raw['category']);
      if (s.ok) item.category = s.value;
    }
    items.push(item);
  }
  return ok(items);
}

export function coerceAs(type: PropertyType, value: unknown): Coerced<string | number | boolean | LineItem[]> {
  switch (type) {
    case 'string': return toIdOrText(value);
    case 'number': return toNumber(value);
    case 'integer': return toInteger(value);
    case 'boolean': return toBoolean(value);
    case 'currency': return toCurrency(value);
    case 'email': return toEmail(value);
    case 'timestamp': return toTimestampMs(value);
    case 'items': return toLineItems(value);
  }
}

/** `string` in the plan covers ids and free text: numbers become their exact digits, text is kept as sent. */
function toIdOrText(value: unknown): Coerced<string> {
  if (typeof value === 'string') return ok(value);
  if (typeof value === 'number' || isLosslessNumber(value) || typeof value === 'bigint') return toIdString(value);
  return fail(`expected a string, got ${describe(value)}`);
}

export type ScalarValue = null | boolean | number | string;

/**
 * Values of properties the plan does not type: large numbers become their digit strings (never a
 * rounded number), nested objects flatten to dotted keys, arrays become JSON text.
 */
export function flattenUntyped(key: string, value: unknown, out: Record<string, ScalarValue>): void {
  if (value === undefined) return;
  if (value === null || typeof value === 'boolean' || typeof value === 'string') out[key] = value;
  else if (typeof value === 'number') out[key] = Number.isFinite(value) ? value : null;
  else if (isLosslessNumber(value)) out[key] = value.value;
  else if (Array.isArray(value)) out[key] = stringify(value) ?? null; // keeps big integers' digits
  else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) flattenUntyped(`${key}.${k}`, v, out);
  else out[key] = String(value);
}
