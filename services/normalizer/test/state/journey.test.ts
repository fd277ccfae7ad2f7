import { describe, expect, it } from 'vitest';
import type { CandidateEvent } from '../../src/stages/candidate.ts';
import type { ChangelogRecord } from '../../src/state/changelog.ts';
import type { StateConfig } from '../../src/state/config.ts';
import { createStateStage, type StateResult, type StateStage } from '../../src/state/state-stage.ts';
import {
  ANON, addToCart, appCheckout, appOrder, arrival, CART, cartsUpdate, chargePaid, config, CUS, EMAIL, identify, journey,
  ORDER, page, productViewed, shopifyCheckout, shopifyOrder, summary,
} from './journey.ts';

interface Run {
  stage: StateStage;
  results: StateResult[];
  all: StateResult;
}

/** Feeds candidates one per batch at their arrival time (as the consumer would, batch size 1). */
function run(cands: CandidateEvent[], overrides: Partial<StateConfig> = {}, stage = createStateStage(config(overrides))): Run {
  const results = cands.map((c) => stage.apply([c], arrival(c)));
  return { stage, results, all: merge(results) };
}

function merge(results: StateResult[]): StateResult {
  return {
    emit: results.flatMap((r) => r.emit),
    drops: results.flatMap((r) => r.drops),
    conflicts: results.flatMap((r) => r.conflicts),
    held: results.flatMap((r) => r.held),
    changes: results.flatMap((r) => r.changes),
  };
}

function eventsOf(r: StateResult, key: string) {
  return r.emit.filter((e) => e.key === key).map((e) => e.event);
}

describe('Maya journey, in source order', () => {
  const { all, stage } = run(journey);

  it('emits exactly the expected events, in order', () => {
    expect(summary(all)).toEqual([
      `${ANON} page:page_viewed app:m-0001`,
      `${ANON} event:product_viewed app:m-0002`,
      // identify links anon -> cus_48213 and goes first, then the held add-to-cart in order
      `${CUS} identify:identify app:m-0004`,
      `${CUS} event:added_to_cart app:m-0003`,
      `${CUS} event:checkout_started app:m-0005`,
      `${CUS} event:checkout_started shopify:wh-checkout-1`,
      `${CUS} event:order_completed shopify:${ORDER}`,
      `${CUS} identify:identify shopify:${ORDER}`, // rollup
      `${CUS} event:subscription_charge_paid subscriptions:731829100`,
    ]);
  });

  it('ends with one person, cus_48213, email as attribute and anonymous browsing attached', () => {
    const people = new Set(all.emit.map((e) => e.event.customer_id).filter((c) => c !== null));
    expect([...people]).toEqual([CUS]);
    const id = eventsOf(all, CUS)[0]!;
    expect(id.anonymous_id).toBe(ANON);
    expect(id.attributes).toMatchObject({ email: EMAIL, first_name: 'Maya' });
    for (const node of ['anonymous_id:' + ANON, 'email:' + EMAIL, 'shopify_customer_id:7301928374650192837', 'subscription_customer_id:118273645', 'cart_token:' + CART]) {
      expect(stage.stores.identity.clusterOf(node)?.customers).toEqual([CUS]);
    }
  });

  it('keeps exactly one order_completed, the complete one, plus the profile rollup', () => {
    const orders = all.emit.filter((e) => e.event.name === 'order_completed');
    expect(orders).toHaveLength(1);
    expect(orders[0]!.event.commerce).toMatchObject({ order_id: ORDER, total: 118.4, currency: 'USD' });
    expect(orders[0]!.event.commerce!.items.map((i) => i.sku)).toEqual(['TEA-SENCHA-100', '3141592']);
    const rollup = all.emit.find((e) => e.event.kind === 'identify' && e.event.attributes['orders_count'] !== undefined)!;
    expect(rollup.event.attributes).toEqual({
      orders_count: 1, lifetime_value: 118.4, email: EMAIL,
      first_order_date: Math.floor(Date.parse('2026-11-20T19:03:11Z') / 1000),
      last_order_date: Math.floor(Date.parse('2026-11-20T19:03:11Z') / 1000),
    });
  });

  it('counts the cart snapshot that gained nothing and the app duplicate of the order', () => {
    expect(all.drops).toEqual([
      { reason: 'duplicate', event_name: 'added_to_cart', source: 'shopify', detail: 'cart_snapshot_no_gain' },
      { reason: 'duplicate', event_name: 'order_completed', source: 'app' },
    ]);
    expect(all.conflicts).toEqual([]);
  });

  it('gives every emitted event a distinct id', () => {
    const ids = all.emit.map((e) => e.event.event_id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('Maya journey, other arrival orders', () => {
  it('suppresses a checkouts/create that arrives after orders/create', () => {
    const order = [page, productViewed, addToCart, identify, appCheckout, shopifyOrder, appOrder, shopifyCheckout, chargePaid];
    const { all } = run(order);
    expect(all.emit.filter((e) => e.event.name === 'checkout_started').map((e) => e.event.source)).toEqual(['app']);
    expect(all.drops).toContainEqual({ reason: 'suppressed_after_purchase', event_name: 'checkout_started', source: 'shopify' });
    expect(summary(all).at(-1)).toBe(`${CUS} event:subscription_charge_paid subscriptions:731829100`);
  });

  it('dedupes a redelivered orders/create', () => {
    const { all } = run([identify, shopifyOrder, shopifyOrder, appOrder]);
    expect(all.emit.filter((e) => e.event.name === 'order_completed')).toHaveLength(1);
    expect(all.drops.filter((d) => d.reason === 'duplicate')).toHaveLength(2);
    expect(all.emit.filter((e) => e.event.attributes['orders_count'] !== undefined)).toHaveLength(1);
  });

  it('holds the app order without items until the Shopify copy replaces it, keeping later events behind', () => {
    const { all } = run([identify, appCheckout, appOrder, shopifyOrder, chargePaid]);
    expect(summary(all)).toEqual([
      `${CUS} identify:identify app:m-0004`,
      `${CUS} event:checkout_started app:m-0005`,
      `${CUS} event:order_completed shopify:${ORDER}`,
      `${CUS} identify:identify shopify:${ORDER}`,
      `${CUS} event:subscription_charge_paid subscriptions:731829100`,
    ]);
    const order = all.emit.find((e) => e.event.name === 'order_completed')!.event;
    expect(order.event_id).toBe(appOrder.event.event_id); // same id, whichever copy is sent
    expect(order.commerce!.items).toHaveLength(2);
    expect(all.drops).toEqual([{ reason: 'duplicate', event_name: 'order_completed', source: 'shopify', detail: 'replaced_held_copy' }]);
  });

  it('releases a held incomplete order after the completeness hold when no richer copy comes', () => {
    const stage = createStateStage(config({ completenessHoldMs: 60_000 }));
    const first = stage.apply([identify, appOrder], arrival(appOrder));
    expect(summary(first)).toEqual([`${CUS} identify:identify app:m-0004`]);
    const later = productViewedAs(CUS, '2026-11-20T19:03:30Z');
    const queued = stage.apply([later], arrival(later));
    expect(queued.emit).toEqual([]); // behind the gate: per-person order
    const swept = stage.expire(arrival(appOrder) + 60_000);
    expect(summary(swept)).toEqual([
      `${CUS} event:order_completed app:m-0006`,
      `${CUS} identify:identify app:m-0006`,
      `${CUS} event:product_viewed app:m-later`,
    ]);
  });

  it('with the completeness hold off, the first copy wins and a richer late copy is only counted', () => {
    const { all, stage } = run([identify, appOrder, shopifyOrder], { completenessHoldMs: 0 });
    const order = all.emit.find((e) => e.event.name === 'order_completed')!.event;
    expect(order.source).toBe('app');
    expect(all.drops).toEqual([{ reason: 'duplicate', event_name: 'order_completed', source: 'shopify', detail: 'richer_duplicate_after_emit' }]);
    expect(stage.stores.dedupe.richerArrived(`order_completed:${ORDER}`)).toBe(true);
  });

  it('resolves everything to cus_48213 whatever the order, when the Shopify order comes first (merge of the email profile)', () => {
    const order = [shopifyOrder, page, addToCart, identify, appCheckout, appOrder, chargePaid];
    const { all, stage } = run(order);
    expect(summary(all)).toEqual([
      // no customer id yet: the email stands in (fallback policy), identify first
      `${EMAIL} identify:identify shopify:${ORDER}`,
      `${EMAIL} event:order_completed shopify:${ORDER}`,
      `${EMAIL} identify:identify shopify:${ORDER}`,
      `${ANON} page:page_viewed app:m-0001`,
      `${CUS} identify:identify app:m-0004`,
      `${CUS} merge:merge app:m-0004 <- email:${EMAIL}`,
      `${CUS} identify:identify app:m-0004`, // rollup carried over from the email profile
      // the held add-to-cart is released after its cart was bought: suppressed, no cart journey
      `${CUS} event:subscription_charge_paid subscriptions:731829100`,
    ]);
    // the app's checkout_started for the purchased cart came late: suppressed
    expect(all.drops).toEqual([
      { reason: 'suppressed_after_purchase', event_name: 'added_to_cart', source: 'app' },
      { reason: 'suppressed_after_purchase', event_name: 'checkout_started', source: 'app' },
      { reason: 'duplicate', event_name: 'order_completed', source: 'app' },
    ]);
    const carried = all.emit[6]!.event;
    expect(carried.attributes).toMatchObject({ orders_count: 1, lifetime_value: 118.4 });
    expect(stage.stores.identity.resolve({ email: EMAIL }).canonical).toBe(CUS);
  });

  it('suppresses a held add-to-cart released after its cart was bought', () => {
    const { all } = run([addToCart, shopifyOrder, identify]);
    expect(all.emit.some((e) => e.event.name === 'added_to_cart')).toBe(false);
    expect(all.drops).toContainEqual({ reason: 'suppressed_after_purchase', event_name: 'added_to_cart', source: 'app' });
  });
});

function productViewedAs(customer: string, at: string): CandidateEvent {
  const occurred = Date.parse(at);
  return {
    ...productViewed,
    event: { ...productViewed.event, event_id: 'later', occurred_at: occurred, source_event_id: 'm-later', anonymous_id: null },
    identifiers: { customer_id: customer },
    dedupeKey: 'app:m-later',
  };
}

describe('anonymous hold', () => {
  const secondAdd: CandidateEvent = {
    ...addToCart,
    event: { ...addToCart.event, event_id: 'add2', occurred_at: addToCart.event.occurred_at + 30_000, source_event_id: 'm-0003b', commerce: { ...addToCart.event.commerce!, sku: 'TEA-GENMAI-50', quantity: 1 } },
    dedupeKey: 'app:m-0003b',
  };

  it('releases held events in their original order under the canonical id at identify', () => {
    const { results, all } = run([addToCart, page, secondAdd, identify]);
    expect(results[0]!.emit).toEqual([]);
    expect(summary(all)).toEqual([
      `${ANON} page:page_viewed app:m-0001`,
      `${CUS} identify:identify app:m-0004`,
      `${CUS} event:added_to_cart app:m-0003`,
      `${CUS} event:added_to_cart app:m-0003b`,
    ]);
    expect(eventsOf(all, CUS).slice(1).every((e) => e.customer_id === CUS && e.anonymous_id === ANON)).toBe(true);
  });

  it('forwards held events as anonymous after the TTL, and attaches them at a later identify', () => {
    const ttl = 60 * 60 * 1000;
    const stage = createStateStage(config({ anonymousTtlMs: ttl }));
    stage.apply([addToCart], arrival(addToCart));
    expect(stage.expire(arrival(addToCart) + ttl - 1).emit).toEqual([]);
    const swept = stage.expire(arrival(addToCart) + ttl);
    expect(summary(swept)).toEqual([`${ANON} event:added_to_cart app:m-0003`]);
    expect(swept.emit[0]!.event.customer_id).toBeNull();
    // The login carries the anonymous id: Customer.io attaches the anonymous profile through it.
    const id = stage.apply([identify], arrival(identify) + ttl);
    expect(summary(id)).toEqual([`${CUS} identify:identify app:m-0004`]);
    expect(id.emit[0]!.event.anonymous_id).toBe(ANON);
  });

  it('attaches events forwarded under a cart token with an identify once a purchase links the cart', () => {
    const stage = createStateStage(config({ anonymousTtlMs: 1000 }));
    stage.apply([cartsUpdate], arrival(cartsUpdate));
    const swept = stage.expire(arrival(cartsUpdate) + 1000);
    expect(summary(swept)).toEqual([`cart_token:${CART} event:added_to_cart shopify:wh-cart-1:TEA-SENCHA-100`]);
    const r = stage.apply([identify, shopifyOrder], arrival(shopifyOrder));
    expect(summary(r)).toEqual([
      `${CUS} identify:identify app:m-0004`,
      `${CUS} identify:identify shopify:${ORDER}`, // attach
      `${CUS} event:order_completed shopify:${ORDER}`,
      `${CUS} identify:identify shopify:${ORDER}`, // rollup
    ]);
    expect(r.emit[1]!.event).toMatchObject({ customer_id: CUS, anonymous_id: `cart_token:${CART}` });
    // attached once only
    expect(stage.apply([chargePaid], arrival(chargePaid)).emit).toHaveLength(1);
  });

  it('drops held events after the TTL when configured to, and counts them', () => {
    const stage = createStateStage(config({ anonymousTtlMs: 1000, anonymousExpiry: 'drop' }));
    stage.apply([addToCart], arrival(addToCart));
    const swept = stage.expire(arrival(addToCart) + 1000);
    expect(swept.emit).toEqual([]);
    expect(swept.drops).toEqual([{ reason: 'anonymous_expired', event_name: 'added_to_cart', source: 'app', detail: 'ttl' }]);
  });

  it('forwards the oldest held event as anonymous when over the state budget', () => {
    const stage = createStateStage(config({ maxHeldEvents: 1 }));
    stage.apply([addToCart], arrival(addToCart));
    const r = stage.apply([secondAdd], arrival(secondAdd));
    expect(summary(r)).toEqual([`${ANON} event:added_to_cart app:m-0003`]);
    expect(stage.stats().heldEvents).toBe(1);
    const id = stage.apply([identify], arrival(identify));
    expect(summary(id)).toEqual([`${CUS} identify:identify app:m-0004`, `${CUS} event:added_to_cart app:m-0003b`]);
  });

  it('forwards events with the forward policy immediately as anonymous', () => {
    const { results } = run([productViewed]);
    expect(results[0]!.emit).toHaveLength(1);
    expect(results[0]!.emit[0]!.event).toMatchObject({ customer_id: null, anonymous_id: ANON });
  });
});

describe('restore from the changelog', () => {
  const permutations: CandidateEvent[][] = [
    journey,
    [page, productViewed, addToCart, identify, appCheckout, shopifyOrder, appOrder, shopifyCheckout, shopifyOrder, chargePaid],
    [shopifyOrder, page, addToCart, identify, appCheckout, appOrder, chargePaid, shopifyCheckout],
    [addToCart, identify, appOrder, cartsUpdate, shopifyOrder, appOrder, chargePaid],
  ];

  for (const [i, order] of permutations.entries()) {
    for (let cut = 1; cut < order.length; cut++) {
      it(`permutation ${i}: a stage restored after ${cut} events decides exactly as one that never stopped`, () => {
        const whole = run(order);
        const first = run(order.slice(0, cut));
        const restored = createStateStage(config());
        restored.restore(compact(first.all.changes));
        const rest = run(order.slice(cut), {}, restored);
        const resumed = merge([first.all, rest.all]);
        expect(summary(resumed)).toEqual(summary(whole.all));
        expect(resumed.emit.map((e) => e.event)).toEqual(whole.all.emit.map((e) => e.event));
        expect(resumed.drops).toEqual(whole.all.drops);
        expect(restored.stats()).toEqual(whole.stage.stats());
      });
    }
  }

  it('rollback undoes a batch whose transaction aborted', () => {
    const stage = createStateStage(config());
    stage.apply([page, addToCart], arrival(addToCart));
    void stage.commit();
    const before = stage.stats();
    const r1 = stage.apply([identify, shopifyOrder], arrival(shopifyOrder));
    stage.rollback();
    expect(stage.stats()).toEqual(before);
    const r2 = stage.apply([identify, shopifyOrder], arrival(shopifyOrder));
    expect(summary(r2)).toEqual(summary(r1));
    expect(r2.changes).toEqual(r1.changes);
  });
});

/** What a compacted topic keeps: the last value per (topic, key), tombstones removed. */
function compact(records: ChangelogRecord[]): ChangelogRecord[] {
  const last = new Map<string, ChangelogRecord>();
  for (const r of records) {
    const k = `${r.topic}\u0000${r.key}`;
    last.delete(k);
    last.set(k, r);
  }
  return [...last.values()].filter((r) => r.value !== null);
}

describe('cart snapshots', () => {
  const snap = (qty: number, at: string, line = 'TEA-SENCHA-100', id = 'wh-cart'): CandidateEvent => ({
    ...cartsUpdate,
    event: { ...cartsUpdate.event, occurred_at: Date.parse(at), event_id: `${id}:${line}`, commerce: { ...cartsUpdate.event.commerce!, quantity: qty, sku: line } },
    identifiers: { customer_id: CUS },
    dedupeKey: `${id}:${line}`,
    cartSnapshot: { cart_id: CART, line_key: line, quantity: qty },
  });

  it('emits only what the cart gained, with quantity = delta', () => {
    const { all } = run([
      snap(2, '2026-11-20T18:50:00Z', 'TEA-SENCHA-100', 'a'),
      snap(3, '2026-11-20T18:51:00Z', 'TEA-SENCHA-100', 'b'),
      snap(3, '2026-11-20T18:51:00Z', 'TEA-GENMAI-50', 'b'),
      snap(1, '2026-11-20T18:52:00Z', 'TEA-SENCHA-100', 'c'), // removal: nothing to send
      snap(2, '2026-11-20T18:53:00Z', 'TEA-SENCHA-100', 'd'), // gained one back
      snap(9, '2026-11-20T18:50:30Z', 'TEA-SENCHA-100', 'old'), // stale snapshot
    ]);
    const adds = all.emit.filter((e) => e.event.name === 'added_to_cart').map((e) => [e.event.commerce!.sku, e.event.commerce!.quantity]);
    expect(adds).toEqual([['TEA-SENCHA-100', 2], ['TEA-SENCHA-100', 1], ['TEA-GENMAI-50', 3], ['TEA-SENCHA-100', 1]]);
    expect(all.drops.map((d) => d.detail)).toEqual(['cart_snapshot_no_gain', 'stale_cart_snapshot']);
  });

  it('drops an app add-to-cart the snapshot already contains, counts a later one', () => {
    const appAdd = (at: string, id: string): CandidateEvent => ({
      ...addToCart, identifiers: { customer_id: CUS }, dedupeKey: id,
      event: { ...addToCart.event, event_id: id, occurred_at: Date.parse(at), source_event_id: id },
    });
    const { all } = run([snap(2, '2026-11-20T18:50:00Z'), appAdd('2026-11-20T18:49:00Z', 'late-app'), appAdd('2026-11-20T18:55:00Z', 'new-app'), snap(4, '2026-11-20T18:56:00Z', 'TEA-SENCHA-100', 'e')]);
    const adds = all.emit.filter((e) => e.event.name === 'added_to_cart').map((e) => e.event.commerce!.quantity);
    expect(adds).toEqual([2, 2]); // snapshot 2, app +2 at 18:55; the 18:56 snapshot of 4 gained nothing new
    expect(all.drops.map((d) => d.detail)).toEqual(['included_in_cart_snapshot', 'cart_snapshot_no_gain']);
  });
});
