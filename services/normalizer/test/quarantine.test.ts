import { describe, expect, it } from 'vitest';
import { codes, fixture, only, pipeline, planWith, RECEIVED_AT, shopifyInput, appInput } from './helpers.ts';

const p = pipeline();
const order = (): Record<string, unknown> => JSON.parse(fixture('shopify/orders-create.json').toString()) as Record<string, unknown>;
const track = (event: string, properties: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ({ type: 'track', messageId: 'm-q', userId: 'cus_48213', event, properties, timestamp: '2026-11-20T19:00:00Z', ...extra });

describe('quarantine reasons (tier 1)', () => {
  it('unparseable_body: not JSON', () => {
    const out = p.process(shopifyInput('orders/create', '{"id": 59048327'));
    expect(out.candidates).toEqual([]);
    expect(out.quarantine).toMatchObject({ event_name: null, tier: null });
    expect(codes(out)).toEqual(['unparseable_body']);
  });

  it('unparseable_body: JSON that is not an object', () => {
    expect(codes(p.process(appInput('[1,2]')))).toEqual(['unparseable_body']);
  });

  it('an app message ingest stored as invalid is quarantined with ingest\'s reason, even if it would map', () => {
    const rejection = { code: 'message_too_large', field: null, message: 'batch[4] is 40012 bytes; the limit per message is 32768' };
    const out = p.process(appInput(track('Product Viewed', { sku: 'S1' }), { rejection }));
    expect(out.candidates).toEqual([]);
    expect(out.quarantine).toEqual({ event_name: null, tier: null, reasons: [rejection] });
  });

  it('missing_identifier: an order with no email, customer, cart or checkout', () => {
    const body = order();
    for (const k of ['email', 'contact_email', 'customer', 'cart_token', 'checkout_token']) delete body[k];
    const out = p.process(shopifyInput('orders/create', body));
    expect(out.quarantine).toMatchObject({ event_name: 'order_completed', tier: 1 });
    expect(codes(out)).toEqual(['missing_identifier']);
  });

  it('missing_required_property: an order without total and currency lists both', () => {
    const body = order();
    delete body['total_price'];
    delete body['currency'];
    const out = p.process(shopifyInput('orders/create', body));
    expect(out.quarantine?.reasons).toEqual([
      { code: 'missing_required_property', field: 'total', message: 'order_completed requires total' },
      { code: 'missing_required_property', field: 'currency', message: 'order_completed requires currency' },
    ]);
  });

  it('invalid_type: a non-numeric total and a fractional item quantity', () => {
    const body = order();
    body['total_price'] = 'free';
    (body['line_items'] as Record<string, unknown>[])[1]!['quantity'] = 1.5;
    const out = p.process(shopifyInput('orders/create', body));
    expect(out.quarantine?.reasons.map((r) => [r.code, r.field])).toEqual([['invalid_type', 'total'], ['invalid_type', 'items[1].quantity']]);
  });

  it('unknown_currency', () => {
    const body = order();
    body['currency'] = 'usdollar';
    const out = p.process(shopifyInput('orders/create', body));
    expect(out.quarantine?.reasons).toEqual([{ code: 'unknown_currency', field: 'currency', message: '"usdollar" is not an ISO-4217 currency code' }]);
  });

  it('timestamp_in_future: more than the tolerance after receipt', () => {
    const body = order();
    body['created_at'] = new Date(RECEIVED_AT + 2 * 3_600_000).toISOString();
    expect(codes(p.process(shopifyInput('orders/create', body)))).toEqual(['timestamp_in_future']);
    body['created_at'] = new Date(RECEIVED_AT + 30 * 60_000).toISOString();
    expect(p.process(shopifyInput('orders/create', body)).quarantine).toBeNull();
  });

  it('timestamp_too_old: before the floor', () => {
    const body = order();
    body['created_at'] = '2009-01-01T00:00:00Z';
    expect(codes(p.process(shopifyInput('orders/create', body)))).toEqual(['timestamp_too_old']);
    expect(pipeline({ timestampFloorMs: Date.parse('2000-01-01') }).process(shopifyInput('orders/create', body)).quarantine).toBeNull();
  });

  it('invalid_type on an unparseable event time', () => {
    const body = order();
    body['created_at'] = 'last tuesday';
    expect(p.process(shopifyInput('orders/create', body)).quarantine?.reasons.map((r) => [r.code, r.field])).toEqual([['invalid_type', 'created_at']]);
  });

  it('unknown_event_blocked when the plan blocks unplanned events', () => {
    const blocking = pipeline({}, planWith((t) => t.replace('unplanned_events: flag', 'unplanned_events: block')));
    const out = blocking.process(appInput(track('Wishlist Shared', {})));
    expect(out.quarantine).toMatchObject({ event_name: 'wishlist_shared', tier: null });
    expect(codes(out)).toEqual(['unknown_event_blocked']);
  });

  it('invalid_event_name: a track call without an event name', () => {
    expect(codes(p.process(appInput(track('', {}))))).toEqual(['invalid_event_name']);
    expect(codes(p.process(appInput({ type: 'track', messageId: 'x', userId: 'u' })))).toEqual(['invalid_event_name']);
  });

  it('cio_limit_exceeded: event name over 100 bytes, customer id over 150 bytes, event data over 100,000 bytes', () => {
    expect(p.process(appInput(track('x'.repeat(101), {}))).quarantine?.reasons.map((r) => [r.code, r.field])).toEqual([['cio_limit_exceeded', 'name']]);
    expect(p.process(appInput(track('Order Completed', { order_id: '1', total: 1, currency: 'USD' }, { userId: 'u'.repeat(151) })))
      .quarantine?.reasons.map((r) => [r.code, r.field])).toEqual([['cio_limit_exceeded', 'customer_id']]);
    expect(codes(p.process(appInput(track('Wishlist Shared', { blob: 'x'.repeat(100_001) }))))).toEqual(['cio_limit_exceeded']);
  });

  it('cio_limit_exceeded on identify attributes: value over 1000 bytes, name over 150 bytes, over 300 attributes', () => {
    const identify = (traits: Record<string, unknown>) => appInput({ type: 'identify', messageId: 'i', userId: 'cus_1', traits, timestamp: '2026-11-20T19:00:00Z' });
    expect(p.process(identify({ bio: 'x'.repeat(1001) })).quarantine?.reasons.map((r) => [r.code, r.field])).toEqual([['cio_limit_exceeded', 'attributes.bio']]);
    expect(codes(p.process(identify({ ['k'.repeat(151)]: 1 })))).toEqual(['cio_limit_exceeded']);
    const many = Object.fromEntries(Array.from({ length: 301 }, (_, i) => [`t${i}`, i]));
    expect(p.process(identify(many)).quarantine?.reasons.map((r) => [r.code, r.field])).toEqual([['cio_limit_exceeded', 'attributes']]);
    expect(p.process(identify(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`t${i}`, i])))).quarantine).toBeNull();
  });

  it('lists every reason of a tier 1 event at once', () => {
    const out = p.process(appInput(track('Order Completed', { order_id: true, currency: 'zzz' }, { userId: undefined, timestamp: '2001-01-01T00:00:00Z' })));
    expect(codes(out).sort()).toEqual(['invalid_type', 'missing_identifier', 'missing_required_property', 'timestamp_too_old', 'unknown_currency']);
  });

  it('one bad cart line quarantines the whole record, fields prefixed by line', () => {
    const body = { token: 't1', updated_at: '2026-11-20T19:00:00Z', line_items: [{ id: 1, sku: 'A', quantity: 1 }, { id: 2, sku: 'B', quantity: 'lots' }] };
    const out = p.process(shopifyInput('carts/update', body));
    expect(out.candidates).toEqual([]);
    expect(out.quarantine?.reasons.map((r) => [r.code, r.field])).toEqual([['invalid_type', 'line_items[1].quantity']]);
  });
});

describe('tier 2: accepted with warnings', () => {
  it('missing, mistyped and unknown-currency properties become warnings and are left out', () => {
    const c = only(p.process(appInput(track('Product Viewed', { price: 'cheap', currency: 'zzz', name: 'Sencha' }))));
    expect(c.event.tier).toBe(2);
    expect(c.event.validation_warnings).toEqual(['invalid_type:price', 'unknown_currency:currency', 'missing_property:sku']);
    expect(c.event.commerce).toBeNull();
    expect(c.event.properties).toEqual({ name: 'Sencha' });
  });

  it('an impossible time is replaced by the receipt time and flagged', () => {
    const c = only(p.process(appInput(track('Product Viewed', { sku: 'A' }, { timestamp: '2099-01-01T00:00:00Z' }))));
    expect(c.event.occurred_at).toBe(RECEIVED_AT);
    expect(c.event.validation_warnings).toEqual(['timestamp_in_future:timestamp']);
  });

  it('a tier 2 event with no identifier at all is still quarantined (it cannot be sent)', () => {
    expect(codes(p.process(appInput({ type: 'page', messageId: 'p', name: 'Home', timestamp: '2026-11-20T19:00:00Z' })))).toEqual(['missing_identifier']);
  });
});
