import { describe, expect, it } from 'vitest';
import { appInput, fixture, journeyMessages, NO_PRODUCT_EXTRAS, only, pipeline, rechargeInput, shopifyInput } from './helpers.ts';

const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
const p = pipeline();

describe('Shopify fixtures', () => {
  it('orders/create -> order_completed with exact ids, numbers, upper-case currency and string skus', () => {
    const c = only(p.process(shopifyInput('orders/create', fixture('shopify/orders-create.json'))));
    const e = c.event;
    expect(e.kind).toBe('event');
    expect(e.name).toBe('order_completed');
    expect(e.tier).toBe(1);
    expect(e.commerce?.order_id).toBe('5904832711894301745');
    expect(e.commerce?.total).toBe(118.4);
    expect(typeof e.commerce?.total).toBe('number');
    expect(e.commerce?.subtotal).toBe(108);
    expect(e.commerce?.tax).toBe(10.4);
    expect(e.commerce?.discount).toBe(0);
    expect(e.commerce?.currency).toBe('USD');
    expect(e.commerce?.checkout_id).toBe('c0a8f3e2d1b4a5968778695a4b3c2d1e');
    expect(e.commerce?.cart_id).toBe('Z2NwLXVzLWVhc3QxOjAxSjk4');
    expect(e.commerce?.items).toEqual([
      { product_id: '8123456789012', variant_id: '45012345678901', sku: 'TEA-SENCHA-100', name: 'Sencha 100g', price: 24, quantity: 2, category: null, subscription_eligible: null, ...NO_PRODUCT_EXTRAS },
      { product_id: '8123456789013', variant_id: null, sku: '3141592', name: 'Kyusu teapot', price: 60, quantity: 1, category: null, subscription_eligible: null, ...NO_PRODUCT_EXTRAS },
    ]);
    expect(e.properties).toEqual({ order_name: '#1042', order_number: '1042' });
    expect(e.email).toBe('maya.lindqvist@example.com');
    expect(e.occurred_at).toBe(Date.parse('2026-11-20T19:03:11Z'));
    expect(e.source).toBe('shopify');
    expect(e.source_type).toBe('orders/create');
    expect(e.source_event_id).toBe('wh-1');
    expect(e.tracking_version).toBe(p.plan.version);
    expect(e.schema_version).toBe(3);
    expect(e.validation_warnings).toEqual([]);
    expect(e.customer_id).toBeNull();
    expect(c.identifiers).toEqual({
      email: 'maya.lindqvist@example.com',
      shopify_customer_id: '7301928374650192837',
      cart_token: 'Z2NwLXVzLWVhc3QxOjAxSjk4',
      checkout_token: 'c0a8f3e2d1b4a5968778695a4b3c2d1e',
    });
    expect(c.assertsLinks).toBe(true);
    expect(c.anonymousPolicy).toBe('hold');
    expect(c.dedupeKey).toBe('order_completed:5904832711894301745');
    expect(e.event_id).toMatch(ULID);
  });

  it('orders/paid is ignored unless configured, then maps to the same order_completed key', () => {
    const body = fixture('shopify/orders-create.json');
    expect(p.process(shopifyInput('orders/paid', body)).drops).toEqual([{ reason: 'ignored_topic', event_name: 'orders/paid' }]);
    const paid = pipeline({ orderTopics: ['orders/create', 'orders/paid'] });
    expect(only(paid.process(shopifyInput('orders/paid', body))).dedupeKey).toBe('order_completed:5904832711894301745');
  });

  it('the same order redelivered gets the same event id', () => {
    const a = only(p.process(shopifyInput('orders/create', fixture('shopify/orders-create.json'), { webhook_id: 'wh-1' })));
    const b = only(p.process(shopifyInput('orders/create', fixture('shopify/orders-create.json'), { webhook_id: 'wh-2' })));
    expect(b.event.event_id).toBe(a.event.event_id);
  });

  it('a customer body replayed under other webhook ids (and topics) is one fact', () => {
    const body = fixture('shopify/customers-create.json');
    const a = only(p.process(shopifyInput('customers/create', body, { webhook_id: 'wh-1' })));
    const b = only(p.process(shopifyInput('customers/create', body, { webhook_id: 'wh-replayed' })));
    const c = only(p.process(shopifyInput('customers/update', body, { webhook_id: 'wh-replayed-2' })));
    expect(b.dedupeKey).toBe(a.dedupeKey);
    expect(c.dedupeKey).toBe(a.dedupeKey);
    expect(b.event.event_id).toBe(a.event.event_id);
    const changed = only(p.process(shopifyInput('customers/update', Buffer.from(body.toString().replace('2026-11-20T14:03', '2026-11-20T13:03')), { webhook_id: 'wh-3' })));
    expect(changed.dedupeKey).not.toBe(a.dedupeKey);
  });

  it('checkouts/create -> checkout_started', () => {
    const c = only(p.process(shopifyInput('checkouts/create', fixture('shopify/checkouts-create.json'))));
    const e = c.event;
    expect(e.name).toBe('checkout_started');
    expect(e.tier).toBe(1);
    expect(e.commerce?.checkout_id).toBe('c0a8f3e2d1b4a5968778695a4b3c2d1e');
    expect(e.commerce?.cart_id).toBe('Z2NwLXVzLWVhc3QxOjAxSjk4');
    expect(e.commerce?.value).toBe(118.4);
    expect(e.commerce?.currency).toBe('USD');
    expect(e.commerce?.items.map((i) => i.sku)).toEqual(['TEA-SENCHA-100', '3141592']);
    expect(e.commerce?.items.map((i) => i.quantity)).toEqual([2, 1]);
    expect(e.commerce?.items[1]?.variant_id).toBeNull();
    expect(e.properties['checkout_url']).toBe('https://tea-example.myshopify.com/checkouts/c0a8f3e2/recover');
    expect(e.occurred_at).toBe(Date.parse('2026-11-20T18:58:02Z'));
    expect(c.identifiers).toEqual({
      email: 'maya.lindqvist@example.com',
      shopify_customer_id: '7301928374650192837',
      cart_token: 'Z2NwLXVzLWVhc3QxOjAxSjk4',
      checkout_token: 'c0a8f3e2d1b4a5968778695a4b3c2d1e',
    });
    expect(c.dedupeKey).toBe('checkout_started:c0a8f3e2d1b4a5968778695a4b3c2d1e');
  });

  it('carts/update -> one added_to_cart per line item with its current quantity (the state stage diffs)', () => {
    const out = p.process(shopifyInput('carts/update', fixture('shopify/carts-update.json')));
    expect(out.quarantine).toBeNull();
    expect(out.candidates).toHaveLength(1);
    const c = out.candidates[0]!;
    expect(c.event.name).toBe('added_to_cart');
    expect(c.event.commerce?.sku).toBe('TEA-SENCHA-100');
    expect(c.event.commerce?.quantity).toBe(2);
    expect(c.event.commerce?.price).toBe(24);
    expect(c.event.commerce?.product_id).toBe('8123456789012');
    expect(c.event.commerce?.variant_id).toBe('45012345678901');
    expect(c.event.commerce?.cart_id).toBe('Z2NwLXVzLWVhc3QxOjAxSjk4');
    expect(c.event.occurred_at).toBe(Date.parse('2026-11-20T18:52:19Z'));
    expect(c.identifiers).toEqual({ cart_token: 'Z2NwLXVzLWVhc3QxOjAxSjk4' });
    expect(c.assertsLinks).toBe(false);
    expect(c.dedupeKey).toBe('shopify:wh-1:45012345678901');
    // A snapshot line, keyed like app add-to-cart lines, so the state stage counts what the cart gained.
    expect(c.cartSnapshot).toEqual({ cart_id: 'Z2NwLXVzLWVhc3QxOjAxSjk4', line_key: 'TEA-SENCHA-100', quantity: 2 });
  });

  it('a cart with two lines yields two events with distinct keys and ids', () => {
    const body = JSON.parse(fixture('shopify/carts-update.json').toString()) as { line_items: Record<string, unknown>[] };
    body.line_items.push({ id: 2, variant_id: 2, product_id: 3, sku: 3141592, quantity: '1', price: '60.00' });
    const out = p.process(shopifyInput('carts/update', body));
    expect(out.candidates.map((c) => [c.event.commerce?.sku, c.event.commerce?.quantity])).toEqual([['TEA-SENCHA-100', 2], ['3141592', 1]]);
    expect(new Set(out.candidates.map((c) => c.event.event_id)).size).toBe(2);
  });

  it('an emptied cart is counted, not lost', () => {
    const out = p.process(shopifyInput('carts/update', { token: 'abc', line_items: [] }));
    expect(out).toEqual({ candidates: [], quarantine: null, drops: [{ reason: 'no_events' }], seen: { sourceEvent: 'carts/update', identifiers: [], orderIds: [], messageId: null } });
  });

  it('customers/create -> identify with attributes and links', () => {
    const c = only(p.process(shopifyInput('customers/create', fixture('shopify/customers-create.json'))));
    expect(c.event.kind).toBe('identify');
    expect(c.event.name).toBe('identify');
    expect(c.event.email).toBe('maya.lindqvist@example.com');
    expect(c.event.attributes).toEqual({ first_name: 'Maya', last_name: 'Lindqvist', shopify_customer_id: '7301928374650192837', verified_email: true });
    expect(c.identifiers).toEqual({ email: 'maya.lindqvist@example.com', shopify_customer_id: '7301928374650192837' });
    expect(c.assertsLinks).toBe(true);
    expect(c.event.commerce).toBeNull();
    expect(c.event.occurred_at).toBe(Date.parse('2026-11-20T19:03:12Z'));
  });

  it('other topics are dropped as ignored_topic', () => {
    expect(p.process(shopifyInput('products/update', '{}'))).toEqual({ candidates: [], quarantine: null, drops: [{ reason: 'ignored_topic', event_name: 'products/update' }], seen: { sourceEvent: 'products/update', identifiers: [], orderIds: [], messageId: null } });
  });

  it('without a webhook id the delivery key is a hash of the body, stable across redeliveries', () => {
    const a = only(p.process(shopifyInput('customers/create', fixture('shopify/customers-create.json'), { webhook_id: null, ingest_id: 'a' })));
    const b = only(p.process(shopifyInput('customers/create', fixture('shopify/customers-create.json'), { webhook_id: null, ingest_id: 'b' })));
    expect(a.dedupeKey).toMatch(/^shopify:body:[0-9a-f]{32}$/);
    expect(b.dedupeKey).toBe(a.dedupeKey);
  });
});

describe('Recharge fixtures', () => {
  it('a signed charge resent under a subscription topic is ignored, not mapped (the topic is not signed)', () => {
    const out = p.process(rechargeInput('subscription/cancelled', fixture('recharge/charge-paid.json')));
    expect(out.candidates).toEqual([]);
    expect(out.drops).toEqual([{ reason: 'ignored_topic', event_name: 'subscription/cancelled' }]);
  });

  it('charge/paid -> subscription_charge_paid', () => {
    const c = only(p.process(rechargeInput('charge/paid', fixture('recharge/charge-paid.json'))));
    const e = c.event;
    expect(e.name).toBe('subscription_charge_paid');
    expect(e.tier).toBe(1);
    expect(e.source).toBe('subscriptions');
    expect(e.commerce?.charge_id).toBe('731829100');
    expect(e.commerce?.total).toBe(21.6);
    expect(e.commerce?.currency).toBe('USD');
    expect(e.commerce?.order_id).toBe('5904832711894309999');
    expect(e.commerce?.items).toEqual([
      { product_id: null, variant_id: null, sku: 'TEA-SENCHA-100', name: null, price: 21.6, quantity: 1, category: null, subscription_eligible: null, ...NO_PRODUCT_EXTRAS },
    ]);
    expect(e.occurred_at).toBe(Date.parse('2026-12-20T08:00:03Z'));
    expect(c.identifiers).toEqual({ subscription_customer_id: '118273645', email: 'maya.lindqvist@example.com', shopify_customer_id: '7301928374650192837' });
    expect(c.assertsLinks).toBe(true);
    expect(c.dedupeKey).toBe('subscription_charge_paid:731829100');
  });

  it('a charge with only a top-level key is inferred from its status', () => {
    const c = only(p.process(rechargeInput('charge', fixture('recharge/charge-paid.json'), { topic_from_header: false })));
    expect(c.event.name).toBe('subscription_charge_paid');
    expect(c.event.source_type).toBe('charge/paid');
    const failed = JSON.parse(fixture('recharge/charge-paid.json').toString()) as { charge: Record<string, unknown> };
    failed.charge['status'] = 'error';
    failed.charge['error'] = 'card declined';
    const f = only(p.process(rechargeInput('charge', failed)));
    expect(f.event.name).toBe('subscription_charge_failed');
    expect(f.event.properties['reason']).toBe('card declined');
  });

  it('subscription/created -> subscription_created', () => {
    const c = only(p.process(rechargeInput('subscription/created', fixture('recharge/subscription-created.json'))));
    const e = c.event;
    expect(e.name).toBe('subscription_created');
    expect(e.commerce?.subscription_id).toBe('402918273');
    expect(e.commerce?.sku).toBe('TEA-SENCHA-100');
    expect(e.commerce?.price).toBe(21.6);
    expect(e.commerce?.quantity).toBe(1);
    expect(e.properties).toEqual({ name: 'Sencha 100g', interval: '1 month' });
    expect(e.occurred_at).toBe(Date.parse('2026-11-20T19:05:40Z'));
    expect(c.identifiers).toEqual({ subscription_customer_id: '118273645' });
    expect(c.dedupeKey).toBe('subscription_created:402918273');
  });

  it('subscription/cancelled -> subscription_cancelled; customer/* -> identify; unmapped topics ignored', () => {
    const sub = { subscription: { id: 1, customer_id: 2, status: 'cancelled', cancellation_reason: 'too much tea', cancelled_at: '2026-12-01T10:00:00+00:00' } };
    const c = only(p.process(rechargeInput('subscription/cancelled', sub, {}, Date.parse('2026-12-01T10:00:01Z'))));
    expect(c.event.name).toBe('subscription_cancelled');
    expect(c.event.properties['reason']).toBe('too much tea');
    const cust = { customer: { id: 118273645, email: ' Maya@Example.com', first_name: 'Maya', external_customer_id: { ecommerce: '7301928374650192837' } } };
    const id = only(p.process(rechargeInput('customer/updated', cust)));
    expect(id.event.kind).toBe('identify');
    expect(id.identifiers).toEqual({ subscription_customer_id: '118273645', email: 'maya@example.com', shopify_customer_id: '7301928374650192837' });
    expect(id.event.attributes).toMatchObject({ first_name: 'Maya', subscription_customer_id: '118273645', shopify_customer_id: '7301928374650192837' });
    expect(p.process(rechargeInput('order/created', { order: { id: 1 } })).drops).toEqual([{ reason: 'ignored_topic', event_name: 'order/created' }]);
  });
});

describe('app journey fixture', () => {
  const messages = journeyMessages();
  const run = (i: number) => only(p.process(appInput(messages[i]!)));

  it('page -> page_viewed (kind page, tier 2, forwarded while anonymous)', () => {
    const c = run(0);
    expect(c.event.kind).toBe('page');
    expect(c.event.name).toBe('page_viewed');
    expect(c.event.tier).toBe(2);
    expect(c.event.properties).toEqual({ path: '/products/sencha-100', name: 'Sencha 100g' });
    expect(c.event.anonymous_id).toBe('anon-7f3c2a');
    expect(c.identifiers).toEqual({ anonymous_id: 'anon-7f3c2a' });
    expect(c.anonymousPolicy).toBe('forward');
    expect(c.event.occurred_at).toBe(Date.parse('2026-11-20T18:40:01.120Z'));
    expect(c.dedupeKey).toBe('app:m-0001');
    expect(c.event.validation_warnings).toEqual([]);
  });

  it('"Product Viewed" -> product_viewed with typed values', () => {
    const c = run(1);
    expect(c.event.name).toBe('product_viewed');
    expect(c.event.commerce?.product_id).toBe('8123456789012');
    expect(c.event.commerce?.sku).toBe('TEA-SENCHA-100');
    expect(c.event.commerce?.price).toBe(24);
    expect(c.event.commerce?.currency).toBe('USD');
  });

  it('"addToCart" -> added_to_cart, quantity an integer, cart id as cart token', () => {
    const c = run(2);
    expect(c.event.name).toBe('added_to_cart');
    expect(c.event.tier).toBe(1);
    expect(c.event.commerce?.quantity).toBe(2);
    expect(Number.isInteger(c.event.commerce?.quantity)).toBe(true);
    expect(c.event.commerce?.price).toBe(24);
    expect(c.event.commerce?.product_id).toBe('8123456789012');
    expect(c.event.commerce?.cart_id).toBe('Z2NwLXVzLWVhc3QxOjAxSjk4');
    expect(c.identifiers).toEqual({ anonymous_id: 'anon-7f3c2a', cart_token: 'Z2NwLXVzLWVhc3QxOjAxSjk4' });
    expect(c.anonymousPolicy).toBe('hold');
  });

  it('identify links anonymous id, user id, email and Shopify id', () => {
    const c = run(3);
    expect(c.event.kind).toBe('identify');
    expect(c.identifiers).toEqual({
      customer_id: 'cus_48213', anonymous_id: 'anon-7f3c2a', email: 'maya.lindqvist@example.com', shopify_customer_id: '7301928374650192837',
    });
    expect(c.event.attributes).toEqual({ first_name: 'Maya', shopify_customer_id: '7301928374650192837' });
    expect(c.event.email).toBe('maya.lindqvist@example.com');
    expect(c.assertsLinks).toBe(true);
  });

  it('"Checkout Started" -> checkout_started with cart_value as value and both tokens', () => {
    const c = run(4);
    expect(c.event.name).toBe('checkout_started');
    expect(c.event.commerce?.value).toBe(118.4);
    expect(c.event.commerce?.checkout_id).toBe('c0a8f3e2d1b4a5968778695a4b3c2d1e');
    expect(c.event.commerce?.currency).toBe('USD');
    expect(c.identifiers).toEqual({ customer_id: 'cus_48213', cart_token: 'Z2NwLXVzLWVhc3QxOjAxSjk4', checkout_token: 'c0a8f3e2d1b4a5968778695a4b3c2d1e' });
  });

  it('"Order Completed" -> order_completed with the same dedupe key as Shopify\'s order', () => {
    const c = run(5);
    expect(c.event.name).toBe('order_completed');
    expect(c.event.commerce?.order_id).toBe('5904832711894301745');
    expect(c.event.commerce?.total).toBe(118.4);
    expect(c.event.commerce?.currency).toBe('USD');
    expect(c.dedupeKey).toBe('order_completed:5904832711894301745');
    const shopify = only(p.process(shopifyInput('orders/create', fixture('shopify/orders-create.json'))));
    expect(c.dedupeKey).toBe(shopify.dedupeKey);
  });

  it('uses the skew-corrected envelope time over the message time', () => {
    const corrected = Date.parse('2026-11-20T18:40:00.000Z');
    const c = only(p.process(appInput(messages[0]!, { timestamp: corrected })));
    expect(c.event.occurred_at).toBe(corrected);
  });

  it('alias is an identity link only', () => {
    const c = only(p.process(appInput({ type: 'alias', messageId: 'm-9', previousId: 'anon-7f3c2a', userId: 'cus_48213' })));
    expect(c.event.kind).toBe('identify');
    expect(c.event.attributes).toEqual({});
    expect(c.identifiers).toEqual({ customer_id: 'cus_48213', anonymous_id: 'anon-7f3c2a' });
    expect(c.assertsLinks).toBe(true);
  });

  it('keeps a 19-digit id sent as a bare JSON number in an app body', () => {
    const text = '{"type":"track","userId":"u1","messageId":"m-big","event":"Order Completed","properties":{"order_id":5904832711894301745,"revenue":"118.40","currency":"eur"},"timestamp":"2026-11-20T19:03:12Z"}';
    const c = only(p.process(appInput(text)));
    expect(c.event.commerce?.order_id).toBe('5904832711894301745');
    expect(c.event.commerce?.total).toBe(118.4);
    expect(c.event.commerce?.currency).toBe('EUR');
  });

  it('group calls are ignored', () => {
    expect(p.process(appInput({ type: 'group', messageId: 'g', userId: 'u', groupId: 'x' })).drops).toEqual([{ reason: 'ignored_topic', event_name: 'group' }]);
  });

  it('unplanned events are kept as tier 2 with a warning', () => {
    const c = only(p.process(appInput({ type: 'track', messageId: 'm-u', userId: 'u', event: 'Wishlist Shared', properties: { list: { size: 3 } }, timestamp: '2026-11-20T19:00:00Z' })));
    expect(c.event.name).toBe('wishlist_shared');
    expect(c.event.tier).toBe(2);
    expect(c.event.validation_warnings).toEqual(['unplanned_event']);
    expect(c.event.properties).toEqual({ 'list.size': 3 });
  });
});
