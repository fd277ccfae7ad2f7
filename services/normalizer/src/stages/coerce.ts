import type { LineItem } from '@cio-pipeline/core/generated/avro-types';
import { COMMERCE_FIELD_TYPES, parseIsoTimestamp, type PropertyType } from '@cio-pipeline/core';
import { isSupportedCurrency } from './currencies.ts';
import { stringify } from 'lossless-json';
import { isLosslessNumber, isPlainObject } from './json.ts';

/**
 * Type coercion at the edge: sources send prices as strings, ids as numbers above 2^53, skus as
 * numbers, currencies in lower case. Every function returns a result instead of throwing so that
 * validation can list every problem of an event at once.
 */

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

/** Reasons quote values; an attacker's 30 KB value is quoted by its first 40 characters. */
const clip = (s: string): string => (s.length > 40 ? `${s.slice(0, 40)}...` : s);

/**
 * A value a source mapping already knows is unusable (a refund transaction with a negative amount):
 * every coercion fails on it with its reason, so the event is quarantined (tier 1) or flagged
 * (tier 2) exactly as for a value that does not parse.
 */
export class InvalidValue {
  readonly reason: string;
  constructor(reason: string) {
    this.reason = reason;
  }
}

function describe(value: unknown): string {
  if (value instanceof InvalidValue) return value.reason;
  if (isLosslessNumber(value)) return `number ${clip(value.value)}`;
  if (typeof value === 'string') return `string ${JSON.stringify(clip(value))}`;
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
  if (value instanceof InvalidValue) return fail(value.reason);
  if (typeof value === 'number') return Number.isFinite(value) ? ok(value) : fail(`expected a finite number, got ${value}`);
  if (isLosslessNumber(value)) {
    const n = Number(value.value);
    return Number.isFinite(n) ? ok(n) : fail(`number ${clip(value.value)} is out of range`);
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

/**
 * The largest amount of money accepted, either side of zero. Money is added in whole minor units
 * (money.ts) and no supported currency has more than 3 decimals (KWD, BHD...), so an amount within
 * 1e12 is at most 1e15 minor units: an exact integer (below 2^53 ~ 9.007e15) with room for the sums
 * (lifetime value, refunds) made of such amounts. A trillion major units is beyond any order a
 * shop takes, even in the currencies with the smallest units; larger values are mistakes or attacks
 * ("1e308" summed to Infinity, was stored as JSON null and reset the lifetime value).
 */
export const MAX_MONEY = 1e12;

/**
 * The properties that carry money: the canonical event's numeric commerce fields (price, value,
 * total, subtotal, tax, discount, revenue, shipping; quantity is a count) and Recharge's running
 * refund total (`refunded_to_date`, subtracted as money by the state stage). Line item prices
 * are money too (toLineItems).
 */
export const MONEY_FIELDS: ReadonlySet<string> = new Set([
  ...[...COMMERCE_FIELD_TYPES].filter(([, types]) => types.includes('number')).map(([field]) => field),
  'refunded_to_date',
]);

/** The digits before any exponent of a numeric text, for telling a real zero from an underflow. */
function hasNonZeroDigit(value: unknown): boolean {
  const text = isLosslessNumber(value) ? value.value : typeof value === 'string' ? value.trim() : '';
  return /[1-9]/.test(text.split(/[eE]/)[0] ?? '');
}

/** A coerced number held to money's range: finite, |v| <= MAX_MONEY, and not a non-zero amount underflowed to 0. */
function inMoneyRange(n: Coerced<number>, value: unknown): Coerced<number> {
  if (!n.ok) return n;
  if (Math.abs(n.value) > MAX_MONEY) return fail(`amount ${describe(value)} is out of range (at most ${MAX_MONEY} either side of zero)`);
  if (n.value === 0 && hasNonZeroDigit(value)) return fail(`amount ${describe(value)} is too small to represent (it would become 0)`);
  return n;
}

/**
 * Money: a number (toNumber's forms) within MAX_MONEY. Extra decimals are kept (rounding to the
 * currency happens where money is added); magnitude and underflow fail like an unparseable number.
 */
export function toMoney(value: unknown): Coerced<number> {
  return inMoneyRange(toNumber(value), value);
}

/** Integers (quantities): "2" -> 2, 2.0 -> 2; 2.5 is an error, not a rounding. */
export function toInteger(value: unknown): Coerced<number> {
  const n = toNumber(value);
  if (!n.ok) return fail(n.message.replace('a number', 'an integer'));
  if (!Number.isSafeInteger(n.value)) return fail(`expected an integer, got ${describe(value)}`);
  return n;
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * Integers stored as Avro `int` (quantities, positions): 32 bits. A larger value would make the
 * canonical encoder throw after the stages accepted it, and stall the partition.
 */
export function toInt32(value: unknown): Coerced<number> {
  const n = toInteger(value);
  if (n.ok && Math.abs(n.value) > INT32_MAX) return fail(`integer ${n.value} is out of range (at most ${INT32_MAX})`);
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

/** Upper-case ISO-4217 code known to Intl (no fund codes or metals, see currencies.ts); anything else is `unknown_currency`. */
export function toCurrency(value: unknown): Coerced<string> {
  if (typeof value !== 'string' || value.length > 16) return fail(`expected a currency code, got ${describe(value)}`);
  const code = value.trim().toUpperCase();
  if (!isSupportedCurrency(code)) return fail(`${JSON.stringify(value)} is not an ISO-4217 currency code`, 'unknown_currency');
  return ok(code);
}

/** RFC 5321's longest address. Checked on the raw string before any other work, so cost is bounded. */
export const MAX_EMAIL_CHARS = 254;

/**
 * Trimmed and lower-cased; Customer.io matches emails case-insensitively, the identity graph must too.
 * Deliberately loose: one @, something on both sides, a dot inside the domain, no whitespace. Checked
 * by scanning, not by a regex: `^[^\s@]+@[^\s@]+\.[^\s@]+$` backtracks quadratically on `a@....@`.
 */
export function toEmail(value: unknown): Coerced<string> {
  if (typeof value !== 'string') return fail(`expected an email, got ${describe(value)}`);
  if (value.length > MAX_EMAIL_CHARS) return fail(`email is ${value.length} characters, longer than any address (${MAX_EMAIL_CHARS})`);
  const email = value.trim().toLowerCase();
  if (!looksLikeEmail(email)) return fail(`${JSON.stringify(value)} is not an email address`);
  return ok(email);
}

function looksLikeEmail(s: string): boolean {
  const at = s.indexOf('@');
  if (at <= 0 || at !== s.lastIndexOf('@') || /\s/.test(s)) return false;
  const domain = s.slice(at + 1);
  const dot = domain.indexOf('.', 1);
  return dot > 0 && dot < domain.length - 1;
}

/** Below this a number is unix seconds, at or above it unix millis (1e11 s is the year 5138, 1e11 ms is 1973). */
const SECONDS_LIMIT = 1e11;
/** At or above this a number is unix microseconds (1e14 ms is the year 5138). */
const MICROS_LIMIT = 1e14;

/** The last instant a JS Date can hold (year 275760): later values cannot be dated or formatted. */
const MAX_DATE_MS = 8.64e15;

function fromEpochNumber(n: number): Coerced<number> {
  if (!Number.isFinite(n) || n < 0) return fail(`expected a unix timestamp, got ${n}`);
  const ms = n < SECONDS_LIMIT ? Math.round(n * 1000) : n < MICROS_LIMIT ? Math.round(n) : Math.round(n / 1000);
  if (ms > MAX_DATE_MS) return fail(`unix timestamp ${n} is out of range`);
  return ok(ms);
}

/**
 * Timestamps to epoch milliseconds UTC: ISO-8601 with any offset (no offset means UTC, never the
 * host's zone), unix seconds, unix millis (as numbers or digit strings).
 */
export function toTimestampMs(value: unknown): Coerced<number> {
  if (typeof value === 'number' || isLosslessNumber(value)) return fromEpochNumber(Number(isLosslessNumber(value) ? value.value : value));
  // The longest ISO-8601 form is 35 characters: anything much longer is refused before any regex runs.
  if (typeof value !== 'string' || value.length > 64) return fail(`expected a timestamp, got ${describe(value)}`);
  const s = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(s)) return fromEpochNumber(Number(s));
  // One parser for ingest and the normalizer (packages/core): no offset means UTC.
  const ms = parseIsoTimestamp(s);
  return ms === null ? fail(`expected an ISO-8601 or unix timestamp (a real date and time), got ${describe(value)}`) : ok(ms);
}

/**
 * Date-valued properties and attributes: unix seconds, the form Customer.io compares dates in
 * (and the only one it accepts for `created_at`). Event times stay in milliseconds (toTimestampMs).
 */
export function toUnixSeconds(value: unknown): Coerced<number> {
  const ms = toTimestampMs(value);
  return ms.ok ? ok(Math.floor(ms.value / 1000)) : ms;
}

/** Line items from Shopify (`title`), Recharge or Segment (`products`, `name`). Quantity defaults to 1 when absent. */
export function toLineItems(value: unknown): Coerced<LineItem[]> {
  if (!Array.isArray(value)) return fail(`expected a list of line items, got ${describe(value)}`);
  const items: LineItem[] = [];
  for (const [i, raw] of value.entries()) {
    if (!isPlainObject(raw)) return fail(`expected a line item object, got ${describe(raw)}`, 'invalid_type', `[${i}]`);
    const item: LineItem = {
      product_id: null, variant_id: null, sku: null, name: null, price: null, quantity: 1, category: null, subscription_eligible: null,
      brand: null, variant: null, coupon: null, position: null, url: null, image_url: null,
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
      const price = toMoney(raw['price']);
      if (!price.ok) return fail(price.message, 'invalid_type', `[${i}].price`);
      item.price = price.value;
    }
    if (!isAbsent(raw['quantity'])) {
      const qty = toInt32(raw['quantity']);
      if (!qty.ok) return fail(qty.message, 'invalid_type', `[${i}].quantity`);
      item.quantity = qty.value;
    }
    if (!isAbsent(raw['category'])) {
      const s = toPlainString(raw['category']);
      if (s.ok) item.category = s.value;
    }
    // Segment's product fields: descriptive, so a mistyped one is left out rather than failing the order.
    for (const key of ['brand', 'variant', 'coupon', 'url', 'image_url'] as const) {
      if (isAbsent(raw[key])) continue;
      const s = toPlainString(raw[key]);
      if (s.ok) item[key] = s.value;
    }
    if (!isAbsent(raw['position'])) {
      const position = toInt32(raw['position']);
      if (position.ok) item.position = position.value;
    }
    items.push(item);
  }
  return ok(items);
}

/** Coerces to a planned type; `money` (see MONEY_FIELDS) holds a number or integer to money's range. */
export function coerceAs(type: PropertyType, value: unknown, money = false): Coerced<string | number | boolean | LineItem[]> {
  if (value instanceof InvalidValue) return fail(value.reason);
  switch (type) {
    case 'string': return toIdOrText(value);
    case 'number': return money ? toMoney(value) : toNumber(value);
    case 'integer': return money ? inMoneyRange(toInteger(value), value) : toInteger(value);
    case 'boolean': return toBoolean(value);
    case 'currency': return toCurrency(value);
    case 'email': return toEmail(value);
    case 'timestamp': return toUnixSeconds(value);
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
 * Bytes of JSON one flattened key takes at the least besides its own characters: its two quotes,
 * the colon and a one-byte value. A key's UTF-16 length never exceeds its UTF-8 bytes, so the
 * charges add up to a lower bound of the serialized size of what was flattened.
 */
export const FLATTENED_KEY_OVERHEAD = 4;

/**
 * What flattening may still produce. Each dotted key repeats its whole path, so a 30 KB body
 * (one 16 KB key over 2,000 leaves) would flatten to 33 MB of keys: the budget stops it early.
 */
export interface FlattenBudget {
  /** Bytes left: each new key charges its length plus FLATTENED_KEY_OVERHEAD. */
  remaining: number;
  /** Set when a key did not fit; flattening has stopped and the caller reports it. */
  exceeded: boolean;
}

export const flattenBudget = (bytes: number): FlattenBudget => ({ remaining: bytes, exceeded: false });

/**
 * Values of properties the plan does not type: large numbers become their digit strings (never a
 * rounded number), nested objects flatten to dotted keys, arrays become JSON text. With a budget,
 * stops at the first key that does not fit (returns false, `budget.exceeded` set); keys already in
 * `out` (a repeat) cost nothing, as they add nothing to the serialized data.
 */
export function flattenUntyped(key: string, value: unknown, out: Record<string, ScalarValue>, budget?: FlattenBudget): boolean {
  if (value === undefined) return true;
  if (budget?.exceeded) return false;
  if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) if (!flattenUntyped(`${key}.${k}`, v, out, budget)) return false;
    return true;
  }
  if (budget !== undefined && !Object.hasOwn(out, key)) {
    const cost = key.length + FLATTENED_KEY_OVERHEAD;
    if (cost > budget.remaining) {
      budget.exceeded = true;
      return false;
    }
    budget.remaining -= cost;
  }
  if (value === null || typeof value === 'boolean' || typeof value === 'string') out[key] = value;
  else if (typeof value === 'number') out[key] = Number.isFinite(value) ? value : null;
  else if (isLosslessNumber(value)) out[key] = value.value;
  else if (Array.isArray(value)) out[key] = stringify(value) ?? null; // keeps big integers' digits
  else out[key] = String(value);
  return true;
}
