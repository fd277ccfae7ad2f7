import type { CioRejectedError } from './errors.ts';
import type { DeliveryItem, V1Delivery, V2Delivery } from './mapping.ts';

/**
 * Customer.io refuses a whole identify when one attribute is wrong (an ISO `created_at`, a value
 * over 1000 bytes). Losing the profile update for one attribute loses the name, the plan and the
 * anonymous-id link too, so the sink re-sends the identify without the attributes Customer.io
 * named, and dead-letters only those.
 */

export interface StrippedIdentify {
  /** The same identify without the rejected attributes. */
  item: DeliveryItem;
  /** The attributes taken out, with their values, for sink.dlq. */
  removed: Record<string, unknown>;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** What one error points at: a v2 `field`, or a v1 message that starts with the field's name. */
type Pointer = { field: string } | { message: string };

/**
 * What Customer.io's error points at: v2 `{errors: [{field}]}`, v1 `{meta: {errors: ["field: …"]}}`
 * or `{meta: {error: "field: …"}}`. Null if any error names no field: then stripping cannot help.
 */
export function errorPointers(body: string): Pointer[] | null {
  const parsed = parse(body);
  if (!isObject(parsed)) return null;
  const out: Pointer[] = [];
  if (Array.isArray(parsed.errors)) {
    for (const e of parsed.errors) {
      if (!isObject(e) || typeof e.field !== 'string' || e.field === '') return null;
      out.push({ field: e.field });
    }
  } else if (isObject(parsed.meta)) {
    const messages = Array.isArray(parsed.meta.errors) ? parsed.meta.errors : [parsed.meta.error];
    for (const m of messages) {
      if (typeof m !== 'string') return null;
      out.push({ message: m });
    }
  } else return null;
  return out.length > 0 ? out : null;
}

/** The attribute key a pointer names (`attributes.created_at`, `created_at`, `attributes.address.city`). */
function attributeKey(p: Pointer, attributes: Json): string | undefined {
  if ('message' in p) {
    // Longest key first, so "plan: …" never matches a key "pla".
    const keys = Object.keys(attributes).sort((a, b) => b.length - a.length);
    return keys.find((k) => p.message.startsWith(`${k}: `) || p.message.startsWith(`attributes.${k}: `) || p.message.startsWith(`attributes.${k}.`));
  }
  const name = p.field.startsWith('attributes.') ? p.field.slice('attributes.'.length) : p.field;
  if (Object.hasOwn(attributes, name)) return name;
  const head = name.split('.')[0]!;
  return Object.hasOwn(attributes, head) ? head : undefined;
}

function strip(attributes: Json, pointers: Pointer[]): { kept: Json; removed: Json } | null {
  const removed: Json = {};
  for (const p of pointers) {
    const key = attributeKey(p, attributes);
    if (key === undefined) return null; // an error about something else: the identify itself is wrong
    removed[key] = attributes[key];
  }
  const kept: Json = {};
  for (const [k, v] of Object.entries(attributes)) if (!Object.hasOwn(removed, k)) kept[k] = v;
  return { kept, removed };
}

const V1_IDENTIFY_PATH = /^\/api\/v1\/customers\/[^/]+$/;

/** The identify without the attributes the rejection names; null when it is no identify or names none. */
export function stripRejectedAttributes(item: DeliveryItem, error: CioRejectedError): StrippedIdentify | null {
  const fields = errorPointers(error.body);
  if (fields === null) return null;
  if (item.api === 'v2') {
    const parsed = parse(item.json);
    if (!isObject(parsed) || parsed.action !== 'identify' || !isObject(parsed.attributes)) return null;
    const s = strip(parsed.attributes, fields);
    if (s === null) return null;
    const json = JSON.stringify({ ...parsed, attributes: s.kept });
    const next: V2Delivery = { api: 'v2', json, bytes: Buffer.byteLength(json, 'utf8') };
    return { item: next, removed: s.removed };
  }
  if (item.method !== 'PUT' || !V1_IDENTIFY_PATH.test(item.path) || item.body === undefined) return null;
  const body = parse(item.body);
  if (!isObject(body)) return null;
  const s = strip(body, fields);
  if (s === null) return null;
  const bodyJson = JSON.stringify(s.kept);
  const next: V1Delivery = {
    ...item,
    body: bodyJson,
    json: JSON.stringify({ method: item.method, path: item.path, body: s.kept }),
    bytes: Buffer.byteLength(bodyJson, 'utf8'),
  };
  return { item: next, removed: s.removed };
}
