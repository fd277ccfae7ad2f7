/**
 * Held events leave under the right person, in order, as soon as the person is known:
 * - a purchase gated under a fallback id (email) whose profile is merged into a customer id goes out
 *   under the customer id, after the merge (not under the merged-away email profile);
 * - a held anonymous copy replaced by the store's copy, which names the buyer, goes out at once
 *   under the buyer (not at the 24 h anonymous TTL);
 * - a replaced held copy keeps its place among held events (TTL order, budget order).
 */
import { describe, expect, it } from 'vitest';
import type { CandidateEvent } from '../../src/stages/candidate.ts';
import { createStateStage, type StateResult } from '../../src/state/state-stage.ts';
import { CART, CHECKOUT, EMAIL, ORDER, SHOPIFY_ID, candidate, config, summary } from './journey.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T = Date.parse('2026-11-20T19:00:00Z');
const item = { product_id: null, variant_id: null, sku: 'X', name: null, price: 10, quantity: 1, category: null, subscription_eligible: null, brand: null, variant: null, coupon: null, position: null, url: null, image_url: null };

function flat(results: StateResult[]): Pick<StateResult, 'emit' | 'drops'> {
  return { emit: results.flatMap((r) => r.emit), drops: results.flatMap((r) => r.drops) };
}

/** Customer id and name of each emitted event that is not an identify. */
const events = (r: Pick<StateResult, 'emit'>) => r.emit.filter((e) => e.event.kind !== 'identify').map((e) => `${e.key} ${e.event.name}`);

describe('a purchase gated under a fallback id whose profile is merged into a customer id', () => {
  const appOrder = candidate({
    name: 'order_completed', at: '2026-11-20T19:00:00Z', source: 'app', sourceId: 'm-2', dedupeKey: `order_completed:${ORDER}`,
    ids: { email: EMAIL, anonymous_id: 'a1' }, policy: 'hold', commerce: { order_id: ORDER, total: 10, currency: 'USD' },
  });
  const login = candidate({ name: 'identify', kind: 'identify', at: '2026-11-20T19:00:05Z', source: 'app', sourceId: 'm-3', ids: { customer_id: 'cus_9', email: EMAIL, anonymous_id: 'a1' }, links: true, policy: 'forward' });
  const shopOrder = candidate({
    name: 'order_completed', at: '2026-11-20T19:00:00Z', source: 'shopify', sourceId: ORDER, dedupeKey: `order_completed:${ORDER}`,
    ids: { email: EMAIL, shopify_customer_id: SHOPIFY_ID, cart_token: CART, checkout_token: CHECKOUT }, links: true, policy: 'hold',
    commerce: { order_id: ORDER, total: 10, currency: 'USD', items: [item] },
  });
  const refund = candidate({ name: 'order_refunded', at: '2026-11-22T10:00:00Z', source: 'shopify', sourceId: 'r1', dedupeKey: 'order_refunded:r1', ids: {}, policy: 'hold', commerce: { order_id: ORDER, total: 10, currency: 'USD' } });

  it('is released under the customer id, after the merge, and its refund nets to zero', () => {
    const stage = createStateStage(config());
    const held = stage.apply([appOrder], T);
    expect(events(held)).toEqual([]); // waits for the store to confirm the order id, under the email
    expect(stage.stores.buffer.hasGate(EMAIL)).toBe(true);

    const merged = stage.apply([login], T + 5000);
    expect(summary(merged)).toEqual([
      'cus_9 identify:identify app:m-3',
      `cus_9 merge:merge app:m-3 <- email:${EMAIL}`,
    ]);
    expect(events(merged)).toEqual([`cus_9 merge`]); // the purchase is still held, now under cus_9
    expect(stage.stores.buffer.hasGate(EMAIL)).toBe(false);
    expect(stage.stores.buffer.hasGate('cus_9')).toBe(true);

    const released = stage.apply([shopOrder], T + 10_000);
    expect(released.emit.every((e) => e.key === 'cus_9' && e.event.customer_id === 'cus_9')).toBe(true);
    expect(events(released)).toEqual(['cus_9 order_completed']);
    const purchase = released.emit.find((e) => e.event.name === 'order_completed')!.event;
    expect(purchase.event_id).toBe(appOrder.event.event_id); // the held copy, enriched by the store's
    expect(purchase.commerce!.items).toHaveLength(1);
    const rollup = released.emit.find((e) => e.event.attributes['orders_count'] !== undefined)!;
    expect(rollup.key).toBe('cus_9');
    expect(rollup.event.attributes).toMatchObject({ orders_count: 1, lifetime_value: 10 });
    expect(stage.stores.rollup.get(EMAIL)).toBeUndefined();
    expect(stage.stats().heldEvents).toBe(0);

    const refunded = stage.apply([refund], Date.parse('2026-11-22T10:00:01Z'));
    expect(events(refunded)).toEqual(['cus_9 order_refunded']);
    expect(refunded.emit.find((e) => e.event.attributes['lifetime_value'] !== undefined)!.event.attributes).toMatchObject({ orders_count: 1, lifetime_value: 0 });
  });

  it('the held purchase keeps its gate deadline under the customer id: the hold ending releases it there', () => {
    const stage = createStateStage(config({ completenessHoldMs: 60_000 }));
    stage.apply([appOrder], T);
    stage.apply([login], T + 5000);
    expect(events(stage.expire(T + 59_000))).toEqual([]);
    const swept = stage.expire(T + 60_000);
    expect(events(swept)).toEqual(['cus_9 order_completed']);
    expect(swept.emit.every((e) => e.key === 'cus_9')).toBe(true);
  });

  it('moved behind the customer id\'s own open gate, it queues there and both go out under the customer id in order', () => {
    const stage = createStateStage(config({ completenessHoldMs: 60_000 }));
    // cus_9's own purchase of another order waits for its store copy (gate under cus_9).
    const own = candidate({
      name: 'order_completed', at: '2026-11-20T18:59:00Z', source: 'app', sourceId: 'm-1', dedupeKey: 'order_completed:777',
      ids: { customer_id: 'cus_9' }, policy: 'hold', commerce: { order_id: '777', total: 5, currency: 'USD' },
    });
    stage.apply([own], T - 1000);
    stage.apply([appOrder], T);
    const merged = stage.apply([login], T + 5000);
    expect(events(merged)).toEqual([`cus_9 merge`]);
    const out = flat([stage.apply([shopOrder], T + 10_000), stage.expire(T + 60_000), stage.expire(T + 10_000 + 60_000)]);
    expect(out.emit.every((e) => e.key === 'cus_9')).toBe(true);
    expect(events(out).filter((e) => e.endsWith('order_completed'))).toEqual(['cus_9 order_completed', 'cus_9 order_completed']);
    expect(out.emit.filter((e) => e.event.name === 'order_completed').map((e) => e.event.commerce!.order_id)).toEqual(['777', ORDER]);
    expect(stage.stats().heldEvents).toBe(0);
  });
});

describe('a held anonymous copy replaced by a store copy that names the buyer', () => {
  it('a guest app purchase goes out with the store\'s order, under the buyer, not at the anonymous TTL', () => {
    const stage = createStateStage(config());
    const appOrder = candidate({
      name: 'order_completed', at: '2026-11-20T19:00:00Z', source: 'app', sourceId: 'm-2', dedupeKey: `order_completed:${ORDER}`,
      ids: { anonymous_id: 'a1', checkout_token: CHECKOUT }, policy: 'hold', commerce: { order_id: ORDER, checkout_id: CHECKOUT, total: 10, currency: 'USD' },
    });
    const shopOrder = candidate({
      name: 'order_completed', at: '2026-11-20T19:00:00Z', source: 'shopify', sourceId: ORDER, dedupeKey: `order_completed:${ORDER}`,
      ids: { email: EMAIL, shopify_customer_id: SHOPIFY_ID, cart_token: CART, checkout_token: CHECKOUT }, links: true, policy: 'hold',
      commerce: { order_id: ORDER, checkout_id: CHECKOUT, total: 10, currency: 'USD', items: [item] },
    });
    expect(stage.apply([appOrder], T).emit).toEqual([]);
    const r = stage.apply([shopOrder], T + 2000);
    expect(summary(r)).toEqual([
      `${EMAIL} identify:identify shopify:${ORDER}`,
      `${EMAIL} event:order_completed shopify:${ORDER}`,
      `${EMAIL} identify:identify shopify:${ORDER}`,
    ]);
    expect(r.emit[1]!.event.event_id).toBe(appOrder.event.event_id);
    expect(r.emit[2]!.event.attributes).toMatchObject({ orders_count: 1, lifetime_value: 10 });
    expect(r.drops).toEqual([expect.objectContaining({ reason: 'duplicate', detail: 'replaced_held_copy' })]);
    expect(stage.stats().heldEvents).toBe(0);
    expect(stage.expire(T + DAY + 1).emit).toEqual([]);
  });

  it('an anonymous app checkout goes out with the store\'s checkout webhook, under the buyer', () => {
    const stage = createStateStage(config());
    const app = candidate({ name: 'checkout_started', at: '2026-11-20T19:00:00Z', source: 'app', sourceId: 'm-5', dedupeKey: `checkout_started:${CHECKOUT}`, ids: { anonymous_id: 'a1', checkout_token: CHECKOUT, cart_token: CART }, policy: 'hold', commerce: { checkout_id: CHECKOUT, cart_id: CART, currency: 'USD' } });
    const shop = candidate({ name: 'checkout_started', at: '2026-11-20T19:00:01Z', source: 'shopify', sourceId: 'wh-co', dedupeKey: `checkout_started:${CHECKOUT}`, ids: { email: EMAIL, cart_token: CART, checkout_token: CHECKOUT }, links: true, policy: 'hold', commerce: { checkout_id: CHECKOUT, cart_id: CART, currency: 'USD', items: [item] } });
    expect(stage.apply([app], T).emit).toEqual([]);
    const r = stage.apply([shop], T + 2000);
    expect(summary(r)).toEqual([`${EMAIL} identify:identify shopify:wh-co`, `${EMAIL} event:checkout_started shopify:wh-co`]);
    expect(r.emit[1]!.event.event_id).toBe(app.event.event_id);
    expect(stage.stats().heldEvents).toBe(0);
    expect(stage.expire(T + DAY + 1).emit).toEqual([]);
  });

  it('a guest app purchase under the order name goes out when the store\'s order (numeric id) names the buyer', () => {
    const stage = createStateStage(config());
    const NAME = '#H44183';
    const app = candidate({
      name: 'order_completed', at: '2026-11-20T19:00:00Z', source: 'app', sourceId: 'm-2', dedupeKey: `order_completed:${NAME}`,
      ids: { anonymous_id: 'a1' }, policy: 'hold', commerce: { order_id: NAME, total: 10, currency: 'USD' },
    });
    const base = candidate({
      name: 'order_completed', at: '2026-11-20T19:00:00Z', source: 'shopify', sourceId: ORDER, dedupeKey: `order_completed:${ORDER}`,
      ids: { email: EMAIL, shopify_customer_id: SHOPIFY_ID }, links: true, policy: 'hold', commerce: { order_id: ORDER, total: 10, currency: 'USD', items: [item] },
    });
    const shop: CandidateEvent = { ...base, event: { ...base.event, properties: { order_name: NAME, order_number: '44183' } } };
    expect(stage.apply([app], T).emit).toEqual([]);
    const r = stage.apply([shop], T + 2000);
    expect(events(r)).toEqual([`${EMAIL} order_completed`]);
    const purchase = r.emit.find((e) => e.event.name === 'order_completed')!.event;
    expect(purchase.commerce!.order_id).toBe(ORDER);
    expect(purchase.customer_id).toBe(EMAIL);
    expect(r.drops).toEqual([expect.objectContaining({ reason: 'duplicate', event_name: 'order_completed' })]);
    expect(stage.stats().heldEvents).toBe(0);
  });
});

describe('a replaced held copy keeps its place', () => {
  // Store copies that name no person: the held copy is replaced but stays held anonymously.
  const appCheckout = (token: string, at: string, anon: string) => candidate({
    name: 'checkout_started', at, source: 'app', sourceId: `m-${token}`, dedupeKey: `checkout_started:${token}`,
    ids: { anonymous_id: anon, checkout_token: token }, policy: 'hold', commerce: { checkout_id: token, currency: 'USD' },
  });
  const storeCheckout = (token: string, at: string) => candidate({
    name: 'checkout_started', at, source: 'shopify', sourceId: `wh-${token}`, dedupeKey: `checkout_started:${token}`,
    ids: { checkout_token: token }, policy: 'hold', commerce: { checkout_id: token, currency: 'USD', items: [item] },
  });

  it('it still expires at its own TTL, ahead of events held after it', () => {
    const stage = createStateStage(config());
    stage.apply([appCheckout('co-1', '2026-11-20T19:00:00Z', 'a1')], T);
    stage.apply([appCheckout('co-2', '2026-11-20T20:00:00Z', 'a2')], T + HOUR);
    const replaced = stage.apply([storeCheckout('co-1', '2026-11-20T19:00:01Z')], T + 2 * HOUR);
    expect(replaced.drops).toEqual([expect.objectContaining({ detail: 'replaced_held_copy' })]);
    expect(stage.stats().heldEvents).toBe(2);
    const first = stage.expire(T + DAY);
    expect(first.emit.map((e) => `${e.key} ${e.event.name} ${e.event.source}`)).toEqual(['a1 checkout_started shopify']);
    expect(stage.stats().heldEvents).toBe(1);
    expect(stage.expire(T + HOUR + DAY).emit.map((e) => e.key)).toEqual(['a2']);
  });

  it('it is still the oldest when the budget is exceeded', () => {
    const stage = createStateStage(config({ maxHeldEvents: 2 }));
    stage.apply([appCheckout('co-1', '2026-11-20T19:00:00Z', 'a1')], T);
    stage.apply([appCheckout('co-2', '2026-11-20T20:00:00Z', 'a2')], T + HOUR);
    stage.apply([storeCheckout('co-1', '2026-11-20T19:00:01Z')], T + 2 * HOUR);
    const over = stage.apply([appCheckout('co-3', '2026-11-20T21:00:00Z', 'a3')], T + 3 * HOUR);
    expect(over.emit.map((e) => `${e.key} ${e.event.name} ${e.event.source}`)).toEqual(['a1 checkout_started shopify']);
    expect(stage.stats().heldEvents).toBe(2);
  });
});
