import { jsonBytes } from './render-depth.ts';

/** Customer.io Track API limits (Customer.io's published Track API limits). */
export const LIMITS = {
  idBytes: 150,
  attributeNameBytes: 150,
  attributeValueBytes: 1000,
  attributesPerCall: 300,
  attributesPerPerson: 300,
  eventNameBytes: 100,
  eventDataBytes: 100_000,
  v2ItemBytes: 32 * 1024,
  /** The v2 batch body must be strictly smaller than this. */
  v2BatchBytes: 500 * 1024,
} as const;

/** Hard cap on any request body the emulator reads at all. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** One problem with one field, in v2's vocabulary (`reason`, `field`, `message`). */
export interface FieldError {
  reason: string;
  field: string;
  message: string;
}

export function fieldError(reason: string, field: string, message: string): FieldError {
  return { reason, field, message };
}

/** UTF-8 length without encoding when the string is short enough to be under any limit. */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** True if `s` fits in `limit` UTF-8 bytes; skips the byte count when 3 bytes per unit still fits. */
export function fitsBytes(s: string, limit: number): boolean {
  return s.length * 3 <= limit || (s.length <= limit && Buffer.byteLength(s, 'utf8') <= limit);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Crockford base32 without I, L, O, U; the first char 0-7 keeps the 48-bit time in range.
const ULID_RE = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/i;
export function isUlid(v: unknown): v is string {
  return typeof v === 'string' && v.length === 26 && ULID_RE.test(v);
}

export type EventType = 'event' | 'page' | 'screen';

/** Validates an event name: a string, not blank, 1..100 bytes. */
export function checkEventName(name: unknown, field = 'name'): FieldError | null {
  if (name === undefined || name === null || (typeof name === 'string' && name.trim() === '')) {
    return fieldError('required', field, 'name cannot be blank');
  }
  if (typeof name !== 'string') return fieldError('invalid_type', field, 'name must be a string');
  if (!fitsBytes(name, LIMITS.eventNameBytes)) {
    return fieldError('too_long', field, `name must be at most ${LIMITS.eventNameBytes} bytes`);
  }
  return null;
}

export function checkEventId(id: unknown, field = 'id'): FieldError | null {
  if (id === undefined || id === null) return null;
  if (!isUlid(id)) return fieldError('invalid_value', field, 'id must be a valid ULID (26 Crockford base32 characters)');
  return null;
}

/** Unix seconds; a value that only makes sense as milliseconds is rejected to catch unit bugs. */
export function checkTimestamp(ts: unknown, field = 'timestamp'): FieldError | null {
  if (ts === undefined || ts === null) return null;
  if (typeof ts !== 'number' || !Number.isInteger(ts) || ts < 0 || ts >= 1e11) {
    return fieldError('invalid_value', field, 'timestamp must be an integer number of unix seconds');
  }
  return null;
}

/**
 * Event data must be an object of at most 100,000 bytes of JSON. `bodyBytes` is the size of the
 * whole request body: when it already fits, the data cannot exceed the limit and is not re-serialized.
 */
export function checkEventData(data: unknown, field: string, bodyBytes: number): FieldError | null {
  if (data === undefined || data === null) return null;
  if (!isPlainObject(data)) return fieldError('invalid_type', field, `${field} must be an object`);
  if (bodyBytes > LIMITS.eventDataBytes && jsonBytes(data) > LIMITS.eventDataBytes) {
    return fieldError('too_large', field, `${field} must be at most ${LIMITS.eventDataBytes} bytes of JSON`);
  }
  return null;
}

/** Size of an attribute value as Customer.io counts it: a string's bytes, anything else's JSON. */
export function attributeValueBytes(v: unknown): number {
  if (typeof v === 'string') return utf8Bytes(v);
  return jsonBytes(v);
}

/**
 * Checks a set of attributes for an identify call. `countKeys` are the attributes that count
 * toward the 300 (reserved control keys excluded by the caller). All problems are returned.
 */
export function checkAttributes(attrs: Record<string, unknown>, fieldPrefix: string, countKeys: number): FieldError[] {
  const errors: FieldError[] = [];
  if (countKeys > LIMITS.attributesPerCall) {
    errors.push(fieldError('too_many', fieldPrefix || 'attributes', `cannot identify more than ${LIMITS.attributesPerCall} attributes in one request`));
    return errors;
  }
  for (const key in attrs) {
    const field = fieldPrefix === '' ? key : `${fieldPrefix}.${key}`;
    if (key.trim() === '') errors.push(fieldError('invalid_value', field, 'attribute name cannot be blank'));
    else if (!fitsBytes(key, LIMITS.attributeNameBytes)) {
      errors.push(fieldError('too_long', field, `attribute name must be at most ${LIMITS.attributeNameBytes} bytes`));
    }
    const v = attrs[key];
    const quick = typeof v === 'string' ? v.length * 3 <= LIMITS.attributeValueBytes : typeof v !== 'object' || v === null;
    if (!quick && attributeValueBytes(v) > LIMITS.attributeValueBytes) {
      errors.push(fieldError('too_large', field, `attribute value must be at most ${LIMITS.attributeValueBytes} bytes`));
    }
  }
  return errors;
}

/** Checks an id identifier (person id): non-empty string (numbers accepted), at most 150 bytes. */
export function checkPersonId(id: unknown, field: string): FieldError | null {
  if (typeof id === 'number' && Number.isFinite(id)) id = String(id);
  if (typeof id !== 'string' || id === '') return fieldError('invalid_value', field, 'id must be a non-empty string');
  if (!fitsBytes(id, LIMITS.idBytes)) return fieldError('too_long', field, `id must be at most ${LIMITS.idBytes} bytes`);
  return null;
}

export function checkEmail(email: unknown, field: string): FieldError | null {
  if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email)) return fieldError('invalid_value', field, 'email must be a valid email address');
  return null;
}

/** What an identify call's attributes say about the person, shared by Track v1 and v2. */
export interface IdentifyInput {
  attributes: Record<string, unknown>;
  id: string | undefined;
  email: string | undefined;
  errors: FieldError[];
}

/**
 * Splits identify attributes from the call's control keys and checks them: the attribute limits,
 * `id`, `email` and `created_at`. `at` prefixes field names the way each API version reports them
 * (`''` in v1, `'attributes.'` in v2).
 */
export function parseIdentifyAttributes(input: Record<string, unknown>, controlKeys: ReadonlySet<string>, at: string): IdentifyInput {
  const attributes: Record<string, unknown> = {};
  let count = 0;
  for (const key in input) {
    if (controlKeys.has(key)) continue;
    attributes[key] = input[key];
    count++;
  }
  // v1 bodies are flat, so an attribute is named as it is sent; v2 names it inside `attributes`.
  const errors = checkAttributes(attributes, at === '' ? '' : 'attributes', count);
  let id: string | undefined;
  if (input.id !== undefined && input.id !== null) {
    const e = checkPersonId(input.id, `${at}id`);
    if (e) errors.push(e);
    else id = String(input.id);
  }
  let email: string | undefined;
  if (input.email !== undefined && input.email !== null && input.email !== '') {
    const e = checkEmail(input.email, `${at}email`);
    if (e) errors.push(e);
    else email = input.email as string;
  }
  // Reserved timestamps are unix seconds; an ISO date or milliseconds is refused, naming the attribute.
  if (attributes.created_at !== undefined && attributes.created_at !== null && attributes.created_at !== '') {
    const e = checkTimestamp(attributes.created_at, `${at}created_at`);
    if (e) errors.push({ ...e, message: 'created_at must be an integer number of unix seconds' });
  }
  if (input._timestamp !== undefined) {
    const e = checkTimestamp(input._timestamp, `${at}_timestamp`);
    if (e) errors.push({ ...e, message: '_timestamp must be an integer number of unix seconds' });
  }
  return { attributes, id, email, errors };
}
