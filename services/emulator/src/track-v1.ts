import { ok, type ApiResult } from './api-result.ts';
import { parseJson } from './http-util.ts';
import type { EmulatorStore, Identifier } from './store.ts';
import {
  parseIdentifyAttributes,
  checkEventData,
  checkEventId,
  checkEventName,
  checkPersonId,
  checkTimestamp,
  isPlainObject,
  type EventType,
  type FieldError,
} from './validation.ts';

/** Request facts a handler needs; `receivedAt` is shared by everything in one request. */
export interface RequestContext {
  method: string;
  /** Path segments after `/api/v1/` or `/api/v2/`, still URL-encoded. */
  segments: string[];
  text: string;
  bodyBytes: number;
  receivedAt: string;
  nowSec: number;
}

/** Identify keys that are about identity or control, not attributes to store. */
const V1_CONTROL_KEYS = new Set(['id', 'email', 'anonymous_id', '_timestamp', '_update', 'cio_id']);

function metaErrors(status: number, messages: string[]): ApiResult {
  return { status, body: { meta: { errors: messages } }, error: messages.join('; ') };
}

function metaError(status: number, message: string): ApiResult {
  return { status, body: { meta: { error: message } }, error: message };
}

/** `{identifier}` in a v1 path: `cio_<x>` is a cio_id, anything with `@` an email, else an id. */
export function parsePathIdentifier(raw: string): Identifier | string {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    return 'identifier is not valid URL encoding';
  }
  if (value === '') return 'identifier cannot be blank';
  // A proxy or client normalizing the URL would send `customers/..` somewhere else entirely.
  if (value === '.' || value === '..') return `identifier cannot be "${value}"`;
  if (value.startsWith('cio_')) {
    return value.length > 4 ? { kind: 'cio_id', value: value.slice(4) } : 'cio_id cannot be blank';
  }
  if (value.includes('@')) return { kind: 'email', value };
  const problem = checkPersonId(value, 'id');
  return problem === null ? { kind: 'id', value } : problem.message;
}

export function handleV1(store: EmulatorStore, ctx: RequestContext): ApiResult {
  const { method, segments } = ctx;
  const [first, second, third, fourth] = segments;
  if (segments.length === 2 && first === 'accounts' && second === 'region' && method === 'GET') {
    return { status: 200, body: { url: 'https://track.customer.io', data_center: 'us', environment_id: 1 } };
  }
  if (segments.length === 1 && first === 'events') return method === 'POST' ? anonymousEvent(store, ctx) : notAllowed();
  if (segments.length === 1 && first === 'merge_customers') return method === 'POST' ? merge(store, ctx) : notAllowed();
  if (first !== 'customers' || second === undefined || segments.length > 4) return notFound();

  const ident = parsePathIdentifier(second);
  if (typeof ident === 'string') return metaErrors(400, [ident]);
  if (segments.length === 2) {
    if (method === 'PUT') return identify(store, ident, ctx);
    if (method === 'DELETE') {
      store.delete(ident);
      return ok();
    }
    return notAllowed();
  }
  if (third === 'events' && segments.length === 3) return method === 'POST' ? personEvent(store, ident, ctx) : notAllowed();
  if (third === 'devices') {
    if (segments.length === 3) return method === 'PUT' ? addDevice(store, ident, ctx) : notAllowed();
    if (method !== 'DELETE' || fourth === undefined) return notAllowed();
    let deviceId: string;
    try {
      deviceId = decodeURIComponent(fourth);
    } catch {
      return metaErrors(400, ['device id is not valid URL encoding']);
    }
    const person = store.find(ident);
    if (person !== undefined) store.deleteDevice(person, deviceId);
    return ok();
  }
  if ((third === 'suppress' || third === 'unsuppress') && segments.length === 3) {
    if (method !== 'POST') return notAllowed();
    const person = third === 'suppress' ? store.findOrCreate(ident) : store.find(ident);
    if (person === undefined) return third === 'suppress' ? metaErrors(404, ['person not found']) : ok();
    person.suppressed = third === 'suppress';
    return ok();
  }
  return notFound();
}

function notFound(): ApiResult {
  return metaError(404, 'not found');
}

function notAllowed(): ApiResult {
  return metaError(405, 'method not allowed');
}

function body(ctx: RequestContext): { value: Record<string, unknown> } | { error: ApiResult } {
  const parsed = parseJson(ctx.text);
  if (!parsed.ok) return { error: metaErrors(400, [parsed.message]) };
  if (parsed.value === undefined) return { value: {} };
  if (!isPlainObject(parsed.value)) return { error: metaErrors(400, ['body must be a JSON object']) };
  return { value: parsed.value };
}

function identify(store: EmulatorStore, ident: Identifier, ctx: RequestContext): ApiResult {
  const b = body(ctx);
  if ('error' in b) return b.error;
  const input = b.value;
  const { attributes, id, email, errors } = parseIdentifyAttributes(input, V1_CONTROL_KEYS, '');
  if (errors[0]?.reason === 'too_many') return metaError(400, errors[0].message);
  let anonymousId: string | undefined;
  if (input.anonymous_id !== undefined && input.anonymous_id !== null) {
    if (typeof input.anonymous_id !== 'string' || input.anonymous_id === '') errors.push({ reason: 'invalid_value', field: 'anonymous_id', message: 'anonymous_id must be a non-empty string' });
    else anonymousId = input.anonymous_id;
  }
  if (errors.length > 0) return metaErrors(400, errors.map((e) => `${e.field}: ${e.message}`));
  const result = store.identify(ident, { attributes, id, email, anonymousId, updateOnly: input._update === true });
  if (!result.ok) return result.reason === 'not_found' ? metaErrors(404, [result.message]) : metaError(400, result.message);
  return ok(result.warnings);
}

interface ParsedEvent {
  name: string;
  id: string | null;
  type: EventType;
  timestamp: number;
  data: Record<string, unknown>;
}

function parseEvent(input: Record<string, unknown>, ctx: RequestContext): ParsedEvent | ApiResult {
  const nameError = checkEventName(input.name);
  if (nameError?.reason === 'required') return metaError(400, nameError.message);
  const errors = [
    nameError,
    checkEventId(input.id),
    checkTimestamp(input.timestamp),
    checkEventData(input.data, 'data', ctx.bodyBytes),
    input.type === undefined || input.type === null || input.type === 'event' || input.type === 'page' || input.type === 'screen'
      ? null
      : { reason: 'invalid_value', field: 'type', message: 'type must be one of event, page, screen' },
  ].filter((e): e is FieldError => e !== null);
  if (errors.length > 0) return metaErrors(400, errors.map((e) => `${e.field}: ${e.message}`));
  return {
    name: input.name as string,
    id: (input.id as string | undefined) ?? null,
    type: (input.type as EventType | undefined) ?? 'event',
    timestamp: (input.timestamp as number | undefined) ?? ctx.nowSec,
    data: (input.data as Record<string, unknown> | undefined) ?? {},
  };
}

function personEvent(store: EmulatorStore, ident: Identifier, ctx: RequestContext): ApiResult {
  const b = body(ctx);
  if ('error' in b) return b.error;
  const ev = parseEvent(b.value, ctx);
  if ('status' in ev) return ev;
  if (store.isDuplicate(ev.id)) return ok([`duplicate event id ${ev.id} ignored`]);
  const person = store.findOrCreate(ident);
  if (person === undefined) return metaErrors(404, [`no person with cio_id ${ident.value}`]);
  store.addEvent(person, { ...ev, received_at: ctx.receivedAt });
  return ok();
}

function anonymousEvent(store: EmulatorStore, ctx: RequestContext): ApiResult {
  const b = body(ctx);
  if ('error' in b) return b.error;
  const anon = b.value.anonymous_id;
  if (anon !== undefined && anon !== null && (typeof anon !== 'string' || anon === '')) {
    return metaErrors(400, ['anonymous_id: anonymous_id must be a non-empty string']);
  }
  const ev = parseEvent(b.value, ctx);
  if ('status' in ev) return ev;
  const outcome = store.addAnonymousEvent((anon as string | undefined) ?? null, { ...ev, received_at: ctx.receivedAt });
  return ok(outcome === 'duplicate' ? [`duplicate event id ${ev.id} ignored`] : undefined);
}

/** `{id|email|cio_id}` with exactly one key, for merge. */
export function parseMergeSide(v: unknown, side: string, allowPhone: boolean): Identifier | string {
  const kinds = allowPhone ? ['id', 'email', 'cio_id', 'phone'] : ['id', 'email', 'cio_id'];
  if (!isPlainObject(v)) return `${side} must be an object with exactly one of ${kinds.join(', ')}`;
  const keys = Object.keys(v);
  const key = keys[0];
  if (keys.length !== 1 || key === undefined || !kinds.includes(key)) return `${side} must have exactly one of ${kinds.join(', ')}`;
  let value = v[key];
  if (key === 'id') {
    const e = checkPersonId(value, `${side}.id`);
    if (e) return `${side}.id: ${e.message}`;
    value = String(value);
  } else if (typeof value !== 'string' || value === '') return `${side}.${key} must be a non-empty string`;
  const s = value as string;
  return { kind: key as Identifier['kind'], value: key === 'cio_id' && s.startsWith('cio_') ? s.slice(4) : s };
}

function merge(store: EmulatorStore, ctx: RequestContext): ApiResult {
  const b = body(ctx);
  if ('error' in b) return b.error;
  const primary = parseMergeSide(b.value.primary, 'primary', false);
  if (typeof primary === 'string') return metaError(400, primary);
  const secondary = parseMergeSide(b.value.secondary, 'secondary', false);
  if (typeof secondary === 'string') return metaError(400, secondary);
  switch (store.merge(primary, secondary)) {
    case 'primary_not_found':
      return metaError(400, 'primary person not found');
    case 'secondary_not_found':
      return ok(['secondary person not found; nothing merged']);
    case 'same_person':
      return ok(['primary and secondary are the same person; nothing merged']);
    case 'merged':
      return ok();
  }
}

function addDevice(store: EmulatorStore, ident: Identifier, ctx: RequestContext): ApiResult {
  const b = body(ctx);
  if ('error' in b) return b.error;
  const device = b.value.device;
  const errors: string[] = [];
  if (!isPlainObject(device)) errors.push('device is required');
  else {
    if (typeof device.id !== 'string' || device.id === '') errors.push('device.id is required');
    if (device.platform !== 'ios' && device.platform !== 'android') errors.push('device.platform must be ios or android');
    if (device.last_used !== undefined && checkTimestamp(device.last_used) !== null) errors.push('device.last_used must be unix seconds');
    if (device.attributes !== undefined && !isPlainObject(device.attributes)) errors.push('device.attributes must be an object');
  }
  if (errors.length > 0 || !isPlainObject(device)) return metaErrors(400, errors);
  const person = store.findOrCreate(ident);
  if (person === undefined) return metaErrors(404, [`no person with cio_id ${ident.value}`]);
  store.upsertDevice(person, {
    id: device.id as string,
    platform: device.platform as string,
    last_used: (device.last_used as number | undefined) ?? null,
    attributes: (device.attributes as Record<string, unknown> | undefined) ?? {},
  });
  return ok();
}
