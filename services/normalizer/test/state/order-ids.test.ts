import { describe, expect, it } from 'vitest';
import type { CandidateEvent } from '../../src/stages/candidate.ts';
import { parseOrderGid } from '../../src/state/order-ids.ts';
import { createStateStage, type StateResult, type StateStage } from '../../src/state/state-stage.ts';
import { appOrder, arrival, candidate, CHECKOUT, config, CUS, identify, ORDER, shopifyOrder } from './journey.ts';

// Issue #20: one purchase whatever form of the order id the app reports, in any arrival order.
const NAME = '#H44183';
const NUMBER = '44183';

/** Shopify's orders/create as the stateless stages hand it over: numeric id, name and number as properties. */
const storeOrder: CandidateEvent = { ...shopifyOrder, event: { ...shopifyOrder.event, properties: { order_name: NAME, order_number: NUMBER } } };

const FORMS: Record<string, string> = {
  'numeric id': ORDER,
  'GraphQL id': `gid://shopify/Order/${ORDER}`,
  name: NAME,
  number: NUMBER,
  'checkout token': CHECKOUT,
};

/** The app's purchase under one id form; with line items or without (then the store's copy is richer). */
function appPurchase(orderId: string, withItems: boolean): CandidateEvent {
  const items = withItems ? shopifyOrder.event.commerce!.items : [];
  return candidate({
    name: 'order_completed', at: '2026-11-20T19:03:12.000Z', source: 'app', sourceId: 'm-0006', dedupeKey: `order_completed:${orderId}`,
    ids: { customer_id: CUS }, policy: 'hold', commerce: { ...appOrder.event.commerce!, order_id: orderId, items },
  });
}

/** Feeds each candidate in its own batch, a second after the previous one. */
function feed(stage: StateStage, cands: CandidateEvent[], start = arrival(storeOrder)): StateResult[] {
  return cands.map((c, i) => stage.apply([c], start + i * 1000));
}

function flat(results: StateResult[]): StateResult {
  return {
    emit: results.flatMap((r) => r.emit), drops: results.flatMap((r) => r.drops),
    conflicts: results.flatMap((r) => r.conflicts), changes: results.flatMap((r) => r.changes),
  };
}

function orders(r: StateResult) {
  return r.emit.filter((e) => e.event.name === 'order_completed').map((e) => e.event);
}

function rollups(r: StateResult) {
  return r.emit.filter((e) => e.event.attributes['orders_count'] !== undefined).map((e) => e.event.attributes);
}

describe('parseOrderGid', () => {
  it('takes the digits of a Shopify order GraphQL id as a string, beyond 2^53', () => {
    expect(parseOrderGid('gid://shopify/Order/9007199285717705')).toBe('9007199285717705');
    expect(parseOrderGid('gid://shopify/Order/9007199285717705?key=abc')).toBe('9007199285717705');
    expect(parseOrderGid('gid://shopify/Customer/1')).toBeNull();
    expect(parseOrderGid('9007199285717705')).toBeNull();
  });
});

describe('one purchase per order, whatever id form the app reports', () => {
  const arrivals: Record<string, (app: CandidateEvent) => CandidateEvent[]> = {
    'app first': (app) => [app, storeOrder],
    'Shopify first': (app) => [storeOrder, app],
    'app, Shopify, Shopify retried': (app) => [app, storeOrder, storeOrder],
    'Shopify, app, Shopify retried': (app) => [storeOrder, app, storeOrder],
  };
  for (const [form, orderId] of Object.entries(FORMS)) {
    for (const [order, sequence] of Object.entries(arrivals)) {
      for (const withItems of [false, true]) {
        it(`${form}, ${order}, app copy ${withItems ? 'with' : 'without'} items: one order_completed with the numeric id, counted once`, () => {
          const stage = createStateStage(config());
          const all = flat([stage.apply([identify], arrival(identify)), ...feed(stage, sequence(appPurchase(orderId, withItems)))]);
          const out = orders(all);
          expect(out).toHaveLength(1);
          expect(out[0]!.commerce!.order_id).toBe(ORDER);
          expect(out[0]!.customer_id).toBe(CUS);
          expect(rollups(all)).toHaveLength(1);
          expect(rollups(all)[0]).toMatchObject({ orders_count: 1, lifetime_value: 118.4 });
          expect(stage.stats().heldEvents).toBe(0);
          expect(all.drops.every((d) => d.reason === 'duplicate' && d.event_name === 'order_completed')).toBe(true);
          expect(all.drops).toHaveLength(sequence(storeOrder).length - 1);
        });
      }
    }
  }

  it('keeps the form the app sent: a name as order_name, other forms as source_order_id', () => {
    const viaGid = createStateStage(config());
    const held = flat(feed(viaGid, [identify, appPurchase(`gid://shopify/Order/${ORDER}`, true)]));
    // A GraphQL id is the store's id for sure: a complete purchase goes out at once.
    expect(orders(held)).toHaveLength(1);
    expect(orders(held)[0]!.commerce!.order_id).toBe(ORDER);
    expect(orders(held)[0]!.properties['source_order_id']).toBe(`gid://shopify/Order/${ORDER}`);

    const byName = createStateStage(config());
    const named = flat(feed(byName, [identify, appPurchase(NAME, true)]));
    expect(orders(named)).toEqual([]); // waits for the store to say which order #H44183 is
    const released = flat(feed(byName, [storeOrder], arrival(storeOrder) + 5000));
    expect(orders(released)[0]!.properties['order_name']).toBe(NAME);
    expect(orders(released)[0]!.commerce!.order_id).toBe(ORDER);
  });

  it('when the hold ends first, the purchase goes out under its own form and the store\'s webhook is a counted duplicate', () => {
    const stage = createStateStage(config({ completenessHoldMs: 60_000 }));
    const t = arrival(storeOrder);
    stage.apply([identify], arrival(identify));
    expect(orders(stage.apply([appPurchase(NAME, true)], t))).toEqual([]);
    const swept = stage.expire(t + 60_000);
    expect(orders(swept).map((e) => e.commerce!.order_id)).toEqual([NAME]);
    expect(rollups(swept)).toEqual([expect.objectContaining({ orders_count: 1 })]);
    const late = flat(feed(stage, [storeOrder, storeOrder], t + 61_000));
    expect(late.emit).toEqual([]);
    expect(late.drops).toEqual([
      { reason: 'duplicate', event_name: 'order_completed', source: 'shopify', detail: 'sent_under_other_id_form' },
      { reason: 'duplicate', event_name: 'order_completed', source: 'shopify' },
    ]);
  });

  it('holds nothing that names no order: a complete app checkout goes out at once under the production completeness events', () => {
    const stage = createStateStage(config({ completenessEvents: ['order_completed', 'checkout_started'] }));
    stage.apply([identify], arrival(identify));
    const checkout = candidate({
      name: 'checkout_started', at: '2026-11-20T18:58:02.000Z', source: 'app', sourceId: 'm-0005', ids: { customer_id: CUS }, policy: 'hold',
      commerce: { checkout_id: CHECKOUT, value: 118.4, currency: 'USD', items: shopifyOrder.event.commerce!.items },
    });
    expect(stage.apply([checkout], arrival(checkout)).emit.map((e) => e.event.name)).toEqual(['checkout_started']);
  });

  it('restores the learned forms from the changelog, and forgets them after the dedupe window', () => {
    const first = createStateStage(config({ dedupeWindowMs: 10 * 60_000 }));
    const changes = flat(feed(first, [identify, storeOrder])).changes;
    expect(changes.filter((r) => r.key.startsWith('oid:')).map((r) => r.key).sort())
      .toEqual([`oid:${CHECKOUT}`, `oid:${NAME}`, `oid:${NUMBER}`, `oid:${ORDER}`].sort());
    const second = createStateStage(config({ dedupeWindowMs: 10 * 60_000 }));
    second.restore(changes);
    const dup = flat(feed(second, [appPurchase(NUMBER, true)], arrival(storeOrder) + 5000));
    expect(orders(dup)).toEqual([]);
    expect(dup.drops).toEqual([{ reason: 'duplicate', event_name: 'order_completed', source: 'app' }]);
    const swept = second.expire(arrival(storeOrder) + 11 * 60_000);
    expect(swept.changes.filter((r) => r.key.startsWith('oid:')).every((r) => r.value === null)).toBe(true);
    expect(second.stores.orderIds.resolve(NUMBER)).toBeNull();
  });
});
