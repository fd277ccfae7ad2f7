import type { CanonicalEvent, CommerceProperties } from '@cio-pipeline/core/generated/avro-types';
import { MappingError } from './errors.ts';

/**
 * Canonical event -> Customer.io call. Each item is serialized once here; its JSON and byte size
 * travel with it so batching never re-serializes or re-measures.
 */

export type TrackApi = 'v2' | 'v1';

/** One item of `POST /api/v2/batch`. */
export interface V2Delivery {
  api: 'v2';
  /** The item as JSON, exactly as it goes into the batch array. */
  json: string;
  /** UTF-8 bytes of `json`. */
  bytes: number;
}

/** One v1 request. */
export interface V1Delivery {
  api: 'v1';
  method: 'PUT' | 'POST' | 'DELETE';
  /** Path under the track host, identifier already URL-encoded. */
  path: string;
  /** JSON body, or undefined for DELETE. */
  body: string | undefined;
  /** `{method, path, body}` as JSON, for the dead-letter record. */
  json: string;
  bytes: number;
}

export type DeliveryItem = V2Delivery | V1Delivery;

type Json = Record<string, unknown>;

export function mapEvent(event: CanonicalEvent, api: TrackApi): DeliveryItem {
  return api === 'v2' ? toV2(event) : toV1(event);
}

/** Byte size of a v2 batch body holding items of these sizes: `{"batch":[a,b,...]}`. */
export function v2BatchBytes(itemBytes: number, count: number): number {
  return BATCH_OVERHEAD + itemBytes + Math.max(0, count - 1);
}
const BATCH_OVERHEAD = '{"batch":[]}'.length;

export function unixSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** Event data: other properties, then typed commerce fields (they win), then line items. */
export function eventData(event: CanonicalEvent): Json {
  const data: Json = { ...event.properties };
  if (event.commerce) flattenCommerce(event.commerce, data);
  return data;
}

function flattenCommerce(c: CommerceProperties, into: Json): void {
  for (const [k, v] of Object.entries(c)) {
    if (k === 'items') continue;
    if (v !== null && v !== undefined) into[k] = v;
  }
  if (c.items.length > 0) {
    into.items = c.items.map((item) => {
      const out: Json = {};
      for (const [k, v] of Object.entries(item)) if (v !== null && v !== undefined) out[k] = v;
      return out;
    });
  }
}

function profileAttributes(event: CanonicalEvent): Json {
  const attrs: Json = { ...event.attributes };
  if (event.email) attrs.email = event.email;
  return attrs;
}

function isEventKind(kind: string): kind is 'event' | 'page' | 'screen' {
  return kind === 'event' || kind === 'page' || kind === 'screen';
}

function requireCustomer(event: CanonicalEvent): string {
  if (event.customer_id) return event.customer_id;
  throw new MappingError(`${event.kind} ${event.event_id} has no customer_id`);
}

function toV2(event: CanonicalEvent): V2Delivery {
  const item = v2Item(event);
  const json = JSON.stringify(item);
  return { api: 'v2', json, bytes: Buffer.byteLength(json, 'utf8') };
}

function v2Item(event: CanonicalEvent): Json {
  const kind = event.kind;
  if (isEventKind(kind)) {
    const body: Json = {
      type: 'person',
      action: kind,
      name: event.name,
      id: event.event_id,
      timestamp: unixSeconds(event.occurred_at),
      attributes: eventData(event),
    };
    if (event.customer_id) return { ...body, identifiers: { id: event.customer_id } };
    if (event.anonymous_id) return { ...body, anonymous_id: event.anonymous_id };
    throw new MappingError(`${kind} ${event.event_id} has neither customer_id nor anonymous_id`);
  }
  switch (kind) {
    case 'identify': {
      const attributes = profileAttributes(event);
      // anonymous_id links earlier anonymous events to this person (Customer.io's anonymous merge).
      if (event.anonymous_id) attributes.anonymous_id = event.anonymous_id;
      const identifiers = event.customer_id ? { id: event.customer_id } : event.email ? { email: event.email } : null;
      if (!identifiers) throw new MappingError(`identify ${event.event_id} has neither customer_id nor email`);
      return { type: 'person', action: 'identify', identifiers, attributes };
    }
    case 'merge': {
      const primary = requireCustomer(event);
      const m = event.merge;
      if (!m) throw new MappingError(`merge ${event.event_id} has no merge secondary`);
      // merge_customers accepts id/email/cio_id only; an anonymous profile is folded in by identify.
      if (m.identifier_type === 'anonymous_id') {
        return { type: 'person', action: 'identify', identifiers: { id: primary }, attributes: { anonymous_id: m.identifier } };
      }
      return { type: 'person', action: 'merge', primary: { id: primary }, secondary: { [secondaryType(m.identifier_type, event)]: m.identifier } };
    }
    case 'delete':
      return { type: 'person', action: 'delete', identifiers: { id: requireCustomer(event) } };
    default:
      throw new MappingError(`unknown kind "${kind}" on ${event.event_id}`);
  }
}

function secondaryType(t: string, event: CanonicalEvent): string {
  if (t === 'id' || t === 'email' || t === 'cio_id') return t;
  throw new MappingError(`merge ${event.event_id} has unsupported identifier_type "${t}"`);
}

/**
 * `/api/v1/customers/{id}`. URL parsing removes dot segments (`.`, `..`, and `%2e` forms in any
 * case), so such an id would reach another endpoint (`..` + `/events` is the anonymous-event one,
 * answered 200) or none (a 404 that halts delivery as a config fault): refuse it here instead.
 */
function customerPath(id: string, event: CanonicalEvent): string {
  const segment = encodeURIComponent(id);
  if (segment === '' || isDotSegment(segment)) {
    throw new MappingError(`${event.kind} ${event.event_id} has customer identifier ${JSON.stringify(id)}, which a v1 path cannot address`, 'unaddressable_id');
  }
  return `/api/v1/customers/${segment}`;
}

/** A path segment the WHATWG URL parser treats as `.` or `..`: dots, or `%2e` in any case. */
export function isDotSegment(segment: string): boolean {
  return /^(?:\.|%2e){1,2}$/i.test(segment);
}

function toV1(event: CanonicalEvent): V1Delivery {
  const { method, path, body } = v1Request(event);
  const bodyJson = body === undefined ? undefined : JSON.stringify(body);
  const json = JSON.stringify({ method, path, body: body ?? null });
  return { api: 'v1', method, path, body: bodyJson, json, bytes: bodyJson === undefined ? 0 : Buffer.byteLength(bodyJson, 'utf8') };
}

function v1Request(event: CanonicalEvent): { method: V1Delivery['method']; path: string; body: Json | undefined } {
  const kind = event.kind;
  if (isEventKind(kind)) {
    const body: Json = { name: event.name, id: event.event_id, timestamp: unixSeconds(event.occurred_at), data: eventData(event) };
    if (kind !== 'event') body.type = kind;
    if (event.customer_id) return { method: 'POST', path: `${customerPath(event.customer_id, event)}/events`, body };
    if (event.anonymous_id) return { method: 'POST', path: '/api/v1/events', body: { ...body, anonymous_id: event.anonymous_id } };
    throw new MappingError(`${kind} ${event.event_id} has neither customer_id nor anonymous_id`);
  }
  switch (kind) {
    case 'identify': {
      const body = profileAttributes(event);
      if (event.anonymous_id) body.anonymous_id = event.anonymous_id;
      const identifier = event.customer_id ?? event.email;
      if (!identifier) throw new MappingError(`identify ${event.event_id} has neither customer_id nor email`);
      return { method: 'PUT', path: customerPath(identifier, event), body };
    }
    case 'merge': {
      const primary = requireCustomer(event);
      const m = event.merge;
      if (!m) throw new MappingError(`merge ${event.event_id} has no merge secondary`);
      if (m.identifier_type === 'anonymous_id') return { method: 'PUT', path: customerPath(primary, event), body: { anonymous_id: m.identifier } };
      return {
        method: 'POST',
        path: '/api/v1/merge_customers',
        body: { primary: { id: primary }, secondary: { [secondaryType(m.identifier_type, event)]: m.identifier } },
      };
    }
    case 'delete':
      return { method: 'DELETE', path: customerPath(requireCustomer(event), event), body: undefined };
    default:
      throw new MappingError(`unknown kind "${kind}" on ${event.event_id}`);
  }
}
