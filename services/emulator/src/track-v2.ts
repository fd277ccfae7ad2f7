import { ok, type ApiResult } from './api-result.ts';
import { parseJson } from './http-util.ts';
import type { EmulatorStore, Identifier } from './store.ts';
import { jsonBytes } from './render-depth.ts';
import { parseMergeSide, type RequestContext } from './track-v1.ts';
import {
  parseIdentifyAttributes,
  checkEmail,
  checkEventData,
  checkEventId,
  checkEventName,
  checkPersonId,
  checkTimestamp,
  fieldError,
  isPlainObject,
  LIMITS,
  type EventType,
  type FieldError,
} from './validation.ts';

const ACTIONS = new Set([
  'identify', 'delete', 'event', 'screen', 'page', 'add_relationships', 'delete_relationships',
  'add_device', 'delete_device', 'merge', 'suppress', 'unsuppress',
]);
const IDENTIFIER_KINDS = new Set(['id', 'email', 'cio_id', 'phone']);
/** Keys inside v2 identify `attributes` that set identity rather than being stored as attributes. */
const V2_CONTROL_KEYS = new Set(['id', 'email', 'anonymous_id', 'cio_id', 'phone', '_timestamp', '_update']);

interface BatchItemError extends FieldError {
  batch_index: number;
}

function wholeRequest(status: number, errors: FieldError[]): ApiResult {
  return { status, body: { errors }, error: errors.map((e) => `${e.field ? `${e.field}: ` : ''}${e.message}`).join('; ') };
}

export function handleV2(store: EmulatorStore, ctx: RequestContext): ApiResult {
  const [first] = ctx.segments;
  if (ctx.segments.length !== 1 || (first !== 'entity' && first !== 'batch')) {
    return wholeRequest(404, [fieldError('not_found', '', 'not found')]);
  }
  if (ctx.method !== 'POST') return wholeRequest(405, [fieldError('method_not_allowed', '', 'method not allowed')]);
  return first === 'entity' ? entity(store, ctx) : batch(store, ctx);
}

function entity(store: EmulatorStore, ctx: RequestContext): ApiResult {
  if (ctx.bodyBytes > LIMITS.v2ItemBytes) {
    return { ...wholeRequest(400, [fieldError('too_large', '', `request body must be at most ${LIMITS.v2ItemBytes} bytes`)]), itemCount: 1 };
  }
  const parsed = parseJson(ctx.text);
  if (!parsed.ok) return wholeRequest(400, [fieldError('invalid_json', '', parsed.message)]);
  const errors = applyItem(store, parsed.value, ctx);
  if (errors !== null) return { ...wholeRequest(400, errors), itemCount: 1 };
  return { ...ok(), itemCount: 1 };
}

function batch(store: EmulatorStore, ctx: RequestContext): ApiResult {
  if (ctx.bodyBytes >= LIMITS.v2BatchBytes) {
    return wholeRequest(400, [fieldError('too_large', '', `batch body must be smaller than ${LIMITS.v2BatchBytes} bytes`)]);
  }
  const parsed = parseJson(ctx.text);
  if (!parsed.ok) return wholeRequest(400, [fieldError('invalid_json', '', parsed.message)]);
  const value = parsed.value;
  if (!isPlainObject(value) || !Array.isArray(value.batch)) {
    return wholeRequest(400, [fieldError('required', 'batch', 'body must be an object with a "batch" array')]);
  }
  const items = value.batch as unknown[];
  // A body within the item limit cannot hold an oversized item: skip re-serializing each item.
  const measure = ctx.bodyBytes > LIMITS.v2ItemBytes;
  const errors: BatchItemError[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (measure && jsonBytes(item) > LIMITS.v2ItemBytes) {
      errors.push({ batch_index: i, reason: 'too_large', field: '', message: `item must be at most ${LIMITS.v2ItemBytes} bytes` });
      continue;
    }
    const itemErrors = applyItem(store, item, ctx);
    if (itemErrors !== null) for (const e of itemErrors) errors.push({ batch_index: i, ...e });
  }
  if (errors.length === 0) return { ...ok(), itemCount: items.length };
  const invalid = new Set(errors.map((e) => e.batch_index)).size;
  const first = errors[0] as BatchItemError;
  return {
    status: 207,
    body: { errors },
    itemCount: items.length,
    error: `${invalid} of ${items.length} items invalid; first: [${first.batch_index}] ${first.field ? `${first.field}: ` : ''}${first.message}`,
  };
}

function parseIdentifiers(v: unknown): Identifier | FieldError {
  if (!isPlainObject(v)) return fieldError('required', 'identifiers', 'identifiers must be an object with exactly one of id, email, cio_id, phone');
  let kind: string | undefined;
  let n = 0;
  for (const key in v) {
    n++;
    kind = key;
  }
  if (n !== 1 || kind === undefined || !IDENTIFIER_KINDS.has(kind)) {
    return fieldError('invalid_value', 'identifiers', 'identifiers must have exactly one of id, email, cio_id, phone');
  }
  const value = v[kind];
  const field = `identifiers.${kind}`;
  if (kind === 'id') {
    const e = checkPersonId(value, field);
    return e ?? { kind: 'id', value: String(value) };
  }
  if (kind === 'email') return checkEmail(value, field) ?? { kind: 'email', value: value as string };
  if (typeof value !== 'string' || value === '') return fieldError('invalid_value', field, `${kind} must be a non-empty string`);
  if (kind === 'cio_id') return { kind: 'cio_id', value: value.startsWith('cio_') ? value.slice(4) : value };
  return { kind: 'phone', value };
}

function isFieldError(v: Identifier | FieldError): v is FieldError {
  return 'reason' in v;
}

/** Validates one item completely, then applies it; returns its errors or null (accepted). */
function applyItem(store: EmulatorStore, item: unknown, ctx: RequestContext): FieldError[] | null {
  if (!isPlainObject(item)) return [fieldError('invalid_type', '', 'item must be an object')];
  const type = item.type;
  if (type === undefined) return [fieldError('required', 'type', 'type is required')];
  if (type !== 'person') return [fieldError('unsupported', 'type', `type "${String(type)}" is not supported by the emulator (only person)`)];
  const action = item.action;
  if (typeof action !== 'string' || !ACTIONS.has(action)) {
    return [fieldError(action === undefined ? 'required' : 'invalid_value', 'action', `action must be one of ${[...ACTIONS].join(', ')}`)];
  }
  if (action === 'merge') return merge(store, item);

  const isEvent = action === 'event' || action === 'page' || action === 'screen';
  if (isEvent && item.identifiers === undefined && item.anonymous_id !== undefined) return anonymousEvent(store, item, action, ctx);
  const ident = parseIdentifiers(item.identifiers);
  if (isFieldError(ident)) return [ident];

  if (isEvent) return event(store, ident, item, action, ctx);
  switch (action) {
    case 'identify':
      return identify(store, ident, item);
    case 'delete':
      store.delete(ident);
      return null;
    case 'suppress':
    case 'unsuppress': {
      const person = action === 'suppress' ? store.findOrCreate(ident) : store.find(ident);
      if (person === undefined) return action === 'suppress' ? [notFound(ident)] : null;
      person.suppressed = action === 'suppress';
      return null;
    }
    case 'add_device':
    case 'delete_device':
      return device(store, ident, item, action);
    default:
      // add_relationships / delete_relationships: objects are not emulated; accepted as no-ops.
      return null;
  }
}

function notFound(ident: Identifier): FieldError {
  return fieldError('not_found', `identifiers.${ident.kind}`, `no person with ${ident.kind} ${ident.value}`);
}

function eventErrors(item: Record<string, unknown>, ctx: RequestContext): FieldError[] | null {
  const e1 = checkEventName(item.name);
  const e2 = checkEventId(item.id);
  const e3 = checkTimestamp(item.timestamp);
  const e4 = checkEventData(item.attributes, 'attributes', ctx.bodyBytes);
  if (e1 === null && e2 === null && e3 === null && e4 === null) return null;
  return [e1, e2, e3, e4].filter((e): e is FieldError => e !== null);
}

function event(store: EmulatorStore, ident: Identifier, item: Record<string, unknown>, action: EventType, ctx: RequestContext): FieldError[] | null {
  const errors = eventErrors(item, ctx);
  if (errors !== null) return errors;
  const id = (item.id as string | undefined) ?? null;
  if (store.isDuplicate(id)) return null;
  const person = store.findOrCreate(ident);
  if (person === undefined) return [notFound(ident)];
  store.addEvent(person, {
    name: item.name as string,
    id,
    type: action,
    timestamp: (item.timestamp as number | undefined) ?? ctx.nowSec,
    data: (item.attributes as Record<string, unknown> | undefined) ?? {},
    received_at: ctx.receivedAt,
  });
  return null;
}

function anonymousEvent(store: EmulatorStore, item: Record<string, unknown>, action: EventType, ctx: RequestContext): FieldError[] | null {
  const anon = item.anonymous_id;
  if (typeof anon !== 'string' || anon === '') return [fieldError('invalid_value', 'anonymous_id', 'anonymous_id must be a non-empty string')];
  const errors = eventErrors(item, ctx);
  if (errors !== null) return errors;
  store.addAnonymousEvent(anon, {
    name: item.name as string,
    id: (item.id as string | undefined) ?? null,
    type: action,
    timestamp: (item.timestamp as number | undefined) ?? ctx.nowSec,
    data: (item.attributes as Record<string, unknown> | undefined) ?? {},
    received_at: ctx.receivedAt,
  });
  return null;
}

function identify(store: EmulatorStore, ident: Identifier, item: Record<string, unknown>): FieldError[] | null {
  const given = item.attributes;
  if (given !== undefined && given !== null && !isPlainObject(given)) return [fieldError('invalid_type', 'attributes', 'attributes must be an object')];
  const input = (given ?? {}) as Record<string, unknown>;
  const { attributes, id, email, errors } = parseIdentifyAttributes(input, V2_CONTROL_KEYS, 'attributes.');
  let phone: string | undefined;
  if (input.phone !== undefined && input.phone !== null) {
    if (typeof input.phone !== 'string' || input.phone === '') errors.push(fieldError('invalid_value', 'attributes.phone', 'phone must be a non-empty string'));
    else phone = input.phone;
  }
  const anonRaw = item.anonymous_id ?? input.anonymous_id;
  let anonymousId: string | undefined;
  if (anonRaw !== undefined && anonRaw !== null) {
    if (typeof anonRaw !== 'string' || anonRaw === '') errors.push(fieldError('invalid_value', 'anonymous_id', 'anonymous_id must be a non-empty string'));
    else anonymousId = anonRaw;
  }
  if (errors.length > 0) return errors;
  const result = store.identify(ident, { attributes, id, email, phone, anonymousId, updateOnly: input._update === true });
  if (result.ok) return null;
  return [result.reason === 'not_found' ? notFound(ident) : fieldError('too_many', 'attributes', result.message)];
}

function merge(store: EmulatorStore, item: Record<string, unknown>): FieldError[] | null {
  const primary = parseMergeSide(item.primary, 'primary', true);
  if (typeof primary === 'string') return [fieldError('invalid_value', 'primary', primary)];
  const secondary = parseMergeSide(item.secondary, 'secondary', true);
  if (typeof secondary === 'string') return [fieldError('invalid_value', 'secondary', secondary)];
  const outcome = store.merge(primary, secondary);
  if (outcome === 'primary_not_found') return [fieldError('not_found', 'primary', 'primary person not found')];
  return null;
}

function device(store: EmulatorStore, ident: Identifier, item: Record<string, unknown>, action: 'add_device' | 'delete_device'): FieldError[] | null {
  const d = item.device;
  if (!isPlainObject(d)) return [fieldError('required', 'device', 'device is required')];
  if (typeof d.token !== 'string' || d.token === '') return [fieldError('required', 'device.token', 'device.token is required')];
  if (action === 'delete_device') {
    const person = store.find(ident);
    if (person !== undefined) store.deleteDevice(person, d.token);
    return null;
  }
  const errors: FieldError[] = [];
  if (d.platform !== undefined && d.platform !== 'ios' && d.platform !== 'android') errors.push(fieldError('invalid_value', 'device.platform', 'platform must be ios or android'));
  if (d.last_used !== undefined && checkTimestamp(d.last_used) !== null) errors.push(fieldError('invalid_value', 'device.last_used', 'last_used must be unix seconds'));
  if (d.attributes !== undefined && !isPlainObject(d.attributes)) errors.push(fieldError('invalid_type', 'device.attributes', 'attributes must be an object'));
  if (errors.length > 0) return errors;
  const person = store.findOrCreate(ident);
  if (person === undefined) return [notFound(ident)];
  store.upsertDevice(person, {
    id: d.token,
    platform: (d.platform as string | undefined) ?? null,
    last_used: (d.last_used as number | undefined) ?? null,
    attributes: (d.attributes as Record<string, unknown> | undefined) ?? {},
  });
  return null;
}
