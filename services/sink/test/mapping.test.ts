import { describe, expect, it } from 'vitest';
import { MappingError } from '../src/errors.ts';
import { isDotSegment, mapEvent, v2BatchBytes, type V1Delivery } from '../src/mapping.ts';
import { makeEvent } from './helpers.ts';

const commerce = {
  order_id: 'o-1', checkout_id: null, cart_id: null, product_id: null, variant_id: null, sku: null,
  subscription_id: null, charge_id: null, price: null, quantity: null, value: null, total: 59.5,
  subtotal: 50, tax: 9.5, discount: null, currency: 'EUR', revenue: null, shipping: null, coupon: null,
  items: [{ product_id: 'p1', variant_id: null, sku: 'SKU1', name: 'Mug', price: 25, quantity: 2, category: null, subscription_eligible: null, brand: null, variant: null, coupon: null, position: null, url: null, image_url: null }],
};

function v2(e: ReturnType<typeof makeEvent>): Record<string, unknown> {
  const d = mapEvent(e, 'v2');
  expect(d.bytes).toBe(Buffer.byteLength(d.json));
  return JSON.parse(d.json) as Record<string, unknown>;
}

describe('mapping to v2 batch items', () => {
  it('maps an event with its ULID as id, unix seconds, and flattened commerce in attributes', () => {
    const e = makeEvent({ name: 'order_completed', commerce, properties: { total: 1, coupon: 'X' }, email: 'a@b.c' });
    expect(v2(e)).toEqual({
      type: 'person', action: 'event', identifiers: { id: 'cust-1' }, name: 'order_completed', id: e.event_id,
      timestamp: 1_700_000_000,
      attributes: { coupon: 'X', order_id: 'o-1', total: 59.5, subtotal: 50, tax: 9.5, currency: 'EUR', items: [{ product_id: 'p1', sku: 'SKU1', name: 'Mug', price: 25, quantity: 2 }] },
    });
  });

  it('maps page and screen to their actions', () => {
    expect(v2(makeEvent({ kind: 'page', name: '/home' }))).toMatchObject({ action: 'page', name: '/home' });
    expect(v2(makeEvent({ kind: 'screen', name: 'Home' }))).toMatchObject({ action: 'screen', name: 'Home' });
  });

  it('maps an anonymous event with anonymous_id and no identifiers', () => {
    const item = v2(makeEvent({ customer_id: null, anonymous_id: 'anon-9' }));
    expect(item).toMatchObject({ action: 'event', anonymous_id: 'anon-9' });
    expect(item).not.toHaveProperty('identifiers');
  });

  it('maps identify with attributes, email as attribute and the anonymous id to merge', () => {
    const item = v2(makeEvent({ kind: 'identify', name: 'identify', email: 'a@b.c', anonymous_id: 'anon-1', attributes: { first_name: 'Ann', vip: true } }));
    expect(item).toEqual({ type: 'person', action: 'identify', identifiers: { id: 'cust-1' }, attributes: { first_name: 'Ann', vip: true, email: 'a@b.c', anonymous_id: 'anon-1' } });
  });

  it('maps merge to merge with primary and secondary, and an anonymous secondary to identify', () => {
    expect(v2(makeEvent({ kind: 'merge', name: 'merge', merge: { identifier_type: 'email', identifier: 'old@x.y' } }))).toEqual({
      type: 'person', action: 'merge', primary: { id: 'cust-1' }, secondary: { email: 'old@x.y' },
    });
    expect(v2(makeEvent({ kind: 'merge', name: 'merge', merge: { identifier_type: 'anonymous_id', identifier: 'anon-2' } }))).toEqual({
      type: 'person', action: 'identify', identifiers: { id: 'cust-1' }, attributes: { anonymous_id: 'anon-2' },
    });
  });

  it('maps delete', () => {
    expect(v2(makeEvent({ kind: 'delete', name: 'delete' }))).toEqual({ type: 'person', action: 'delete', identifiers: { id: 'cust-1' } });
  });

  it('refuses events it cannot express, as a rejection', () => {
    expect(() => mapEvent(makeEvent({ customer_id: null, anonymous_id: null }), 'v2')).toThrow(MappingError);
    expect(() => mapEvent(makeEvent({ kind: 'delete', customer_id: null }), 'v2')).toThrow(MappingError);
    expect(() => mapEvent(makeEvent({ kind: 'merge', merge: null }), 'v1')).toThrow(MappingError);
    expect(() => mapEvent(makeEvent({ kind: 'bogus' }), 'v2')).toThrow(MappingError);
  });

  it('computes batch body bytes exactly', () => {
    const items = [mapEvent(makeEvent(), 'v2'), mapEvent(makeEvent({ properties: { note: 'é✓' } }), 'v2')];
    const body = `{"batch":[${items.map((i) => i.json).join(',')}]}`;
    expect(v2BatchBytes(items[0]!.bytes + items[1]!.bytes, 2)).toBe(Buffer.byteLength(body));
  });
});

describe('mapping to v1 requests', () => {
  const v1 = (e: ReturnType<typeof makeEvent>) => mapEvent(e, 'v1') as V1Delivery;

  it('maps events to the customer events path with data', () => {
    const e = makeEvent({ customer_id: 'a b/c', kind: 'page', name: '/x', properties: { k: 1 } });
    const d = v1(e);
    expect(d.method).toBe('POST');
    expect(d.path).toBe('/api/v1/customers/a%20b%2Fc/events');
    expect(JSON.parse(d.body!)).toEqual({ name: '/x', id: e.event_id, type: 'page', timestamp: 1_700_000_000, data: { k: 1 } });
  });

  it('maps anonymous events, identify, merge and delete', () => {
    expect(v1(makeEvent({ customer_id: null, anonymous_id: 'an' }))).toMatchObject({ method: 'POST', path: '/api/v1/events' });
    expect(JSON.parse(v1(makeEvent({ customer_id: null, anonymous_id: 'an' })).body!)).toMatchObject({ anonymous_id: 'an' });
    const idn = v1(makeEvent({ kind: 'identify', email: 'a@b.c', attributes: { x: 'y' } }));
    expect(idn).toMatchObject({ method: 'PUT', path: '/api/v1/customers/cust-1' });
    expect(JSON.parse(idn.body!)).toEqual({ x: 'y', email: 'a@b.c' });
    const merge = v1(makeEvent({ kind: 'merge', merge: { identifier_type: 'id', identifier: 'old' } }));
    expect(merge.path).toBe('/api/v1/merge_customers');
    expect(JSON.parse(merge.body!)).toEqual({ primary: { id: 'cust-1' }, secondary: { id: 'old' } });
    expect(v1(makeEvent({ kind: 'delete' }))).toMatchObject({ method: 'DELETE', path: '/api/v1/customers/cust-1', body: undefined });
  });

  // URL parsing removes dot segments: `..` + `/events` would post to the anonymous-event endpoint.
  it.each(['.', '..'])('refuses customer id %j for every v1 kind that puts it in a path', (id) => {
    const events = [
      makeEvent({ customer_id: id }),
      makeEvent({ customer_id: id, kind: 'page', name: '/x' }),
      makeEvent({ customer_id: id, kind: 'identify', attributes: { x: 1 } }),
      makeEvent({ customer_id: id, kind: 'delete' }),
      makeEvent({ customer_id: id, kind: 'merge', merge: { identifier_type: 'anonymous_id', identifier: 'an' } }),
    ];
    for (const e of events) {
      let thrown: unknown;
      try {
        mapEvent(e, 'v1');
      } catch (err) {
        thrown = err;
      }
      expect(thrown, e.kind).toBeInstanceOf(MappingError);
      const err = thrown as MappingError;
      expect(err).toMatchObject({ code: 'SINK_UNMAPPABLE', reason: 'unaddressable_id', status: null, retryable: false });
      expect(JSON.parse(err.body)).toMatchObject({ errors: [{ reason: 'unaddressable_id' }] });
    }
    // v2 carries the id in the body: nothing to refuse there.
    expect(JSON.parse(mapEvent(makeEvent({ customer_id: id }), 'v2').json)).toMatchObject({ identifiers: { id } });
  });

  it('refuses an identify whose identifier is empty (it would address /api/v1/customers/)', () => {
    expect(() => mapEvent(makeEvent({ kind: 'identify', customer_id: '' }), 'v1')).toThrow(MappingError);
  });

  it.each(['...', 'a..', '..a', '.a', '%2e', '%2E%2e', '.%2E', '%252e', ' ..'])('keeps customer id %j, whose path the URL parser leaves as built', (id) => {
    for (const e of [makeEvent({ customer_id: id }), makeEvent({ customer_id: id, kind: 'identify' })]) {
      const d = v1(e);
      expect(d.path).toContain(encodeURIComponent(id));
      expect(new URL(d.path, 'http://h').pathname).toBe(d.path);
    }
  });

  it('knows the dot segments exactly as Node\'s URL parser does', () => {
    const dots = ['.', '..', '%2e', '%2E', '.%2e', '%2E.', '%2e%2E', '%2E%2E'];
    const others = ['...', '.a', 'a.', '%2e%2e%2e', '%252e', '%2', '%2f', '', '.%2', '%2e.%2e'];
    for (const seg of [...dots, ...others]) {
      const path = `/api/v1/customers/${seg}/events`;
      const collapses = new URL(path, 'http://h').pathname !== path;
      expect(isDotSegment(seg), seg).toBe(collapses);
      expect(isDotSegment(seg), seg).toBe(dots.includes(seg));
    }
  });
});
