// Issue #16: refunds and cancellations find their buyer through the order and correct the rollup.
import { describe, expect, it } from 'vitest';
import type { CandidateEvent } from '../../src/stages/candidate.ts';
import { createStateStage, type StateResult } from '../../src/state/state-stage.ts';
import { arrival, candidate, config, CUS, EMAIL, identify, ORDER, RECHARGE_ID, SHOPIFY_ID, shopifyOrder } from './journey.ts';

const ORDER2 = '5904832711894302001';
const secondOrder = candidate({
  name: 'order_completed', at: '2026-11-20T20:10:00.000Z', source: 'shopify', sourceId: ORDER2, dedupeKey: `order_completed:${ORDER2}`,
  ids: { shopify_customer_id: SHOPIFY_ID, email: EMAIL }, links: true, policy: 'hold',
  commerce: { ...shopifyOrder.event.commerce!, order_id: ORDER2, total: 50, checkout_id: null, cart_id: null },
});

function refund(id: string, orderId: string, amount: number, at: string): CandidateEvent {
  const c = candidate({
    name: 'order_refunded', at, source: 'shopify', sourceId: `wh-refund-${id}`, dedupeKey: `order_refunded:${id}`,
    ids: {}, policy: 'hold', commerce: { order_id: orderId, total: amount, currency: 'USD' },
  });
  return { ...c, event: { ...c.event, properties: { refund_id: id, reason: 'damaged' } } };
}

const cancel = candidate({
  name: 'order_cancelled', at: '2026-11-21T14:30:00.000Z', source: 'shopify', sourceId: 'wh-cancel-1', dedupeKey: `order_cancelled:${ORDER2}`,
  ids: { shopify_customer_id: SHOPIFY_ID, email: EMAIL }, links: true, policy: 'hold', commerce: { order_id: ORDER2, total: 50, currency: 'USD' },
});

function feed(cands: CandidateEvent[]) {
  const stage = createStateStage(config());
  const results = cands.map((c) => stage.apply([c], arrival(c)));
  const all: StateResult = {
    emit: results.flatMap((r) => r.emit), drops: results.flatMap((r) => r.drops),
    conflicts: results.flatMap((r) => r.conflicts), changes: results.flatMap((r) => r.changes),
  };
  const rollups = all.emit.filter((e) => e.event.attributes['orders_count'] !== undefined).map((e) => e.event.attributes);
  return { stage, all, rollups, last: rollups.at(-1) };
}

describe('refunds and cancellations', () => {
  it('two orders, a partial refund of one and a cancellation of the other: the events under the buyer, the rollup corrected', () => {
    const { all, rollups, last } = feed([identify, shopifyOrder, secondOrder, refund('929361462', ORDER, 26.31, '2026-11-28T15:15:02Z'), cancel]);
    const names = all.emit.filter((e) => e.event.kind === 'event').map((e) => `${e.key} ${e.event.name} ${e.event.commerce?.order_id}`);
    expect(names).toEqual([
      `${CUS} order_completed ${ORDER}`,
      `${CUS} order_completed ${ORDER2}`,
      `${CUS} order_refunded ${ORDER}`,
      `${CUS} order_cancelled ${ORDER2}`,
    ]);
    expect(all.emit.find((e) => e.event.name === 'order_refunded')!.event.customer_id).toBe(CUS);
    expect(rollups.map((r) => [r['orders_count'], r['lifetime_value'], r['cancelled_orders_count']])).toEqual([
      [1, 118.4, undefined], [2, 168.4, undefined], [2, 142.09, undefined], [1, 142.09, 1],
    ]);
    expect(last).toMatchObject({ email: EMAIL });
    expect(all.drops).toEqual([]);
  });

  it('dedupes a refund and a cancellation by their own keys, and never refunds more than the order brought', () => {
    const r1 = refund('r-1', ORDER, 100, '2026-11-28T15:15:02Z');
    const r2 = refund('r-2', ORDER, 100, '2026-11-29T15:15:02Z');
    const { all, rollups } = feed([identify, shopifyOrder, r1, r1, r2, secondOrder, cancel, cancel]);
    expect(all.emit.filter((e) => e.event.name === 'order_refunded')).toHaveLength(2);
    expect(all.emit.filter((e) => e.event.name === 'order_cancelled')).toHaveLength(1);
    expect(all.drops).toEqual([
      { reason: 'duplicate', event_name: 'order_refunded', source: 'shopify' },
      { reason: 'duplicate', event_name: 'order_cancelled', source: 'shopify' },
    ]);
    // 118.4 - 100, then only the 18.4 the order still counted; the second order adds 50, its cancel counts apart.
    expect(rollups.map((r) => [r['orders_count'], r['lifetime_value'], r['cancelled_orders_count']])).toEqual([
      [1, 118.4, undefined], [1, 18.4, undefined], [1, 0, undefined], [2, 50, undefined], [1, 50, 1],
    ]);
  });

  it('a refund that arrives before its order waits for the purchase, then follows it on the buyer', () => {
    const early = refund('r-1', ORDER, 18.4, '2026-11-20T19:03:30Z');
    const { all, stage } = feed([identify, early, shopifyOrder]);
    expect(all.emit.filter((e) => e.event.kind === 'event').map((e) => `${e.key} ${e.event.name}`)).toEqual([
      `${CUS} order_completed`, `${CUS} order_refunded`,
    ]);
    expect(all.emit.at(-1)!.event.attributes).toMatchObject({ orders_count: 1, lifetime_value: 100 });
    expect(stage.stats().heldEvents).toBe(0);
  });

  it('a refund whose order never comes names nobody: dropped and counted after the TTL, the rollup untouched', () => {
    const stage = createStateStage(config({ anonymousTtlMs: 60_000 }));
    stage.apply([identify], arrival(identify));
    const r = refund('r-9', '999', 10, '2026-11-28T15:15:02Z');
    const held = stage.apply([r], arrival(r));
    expect(held.emit).toEqual([]);
    expect(stage.stats().heldEvents).toBe(1);
    const swept = stage.expire(arrival(r) + 60_000);
    expect(swept.emit).toEqual([]);
    expect(swept.drops).toEqual([{ reason: 'anonymous_expired', event_name: 'order_refunded', source: 'shopify', detail: 'order_unknown' }]);
  });

  it('a purchase sent under the email before the customer id was known is refunded on the person it merged into', () => {
    const { all } = feed([shopifyOrder, identify, refund('r-1', ORDER, 18.4, '2026-11-28T15:15:02Z')]);
    expect(all.emit.find((e) => e.event.name === 'order_completed')!.key).toBe(EMAIL);
    const refunded = all.emit.filter((e) => e.event.name === 'order_refunded');
    expect(refunded.map((e) => e.key)).toEqual([CUS]);
    expect(all.emit.at(-1)!.event.attributes).toMatchObject({ orders_count: 1, lifetime_value: 100 });
  });

  it('a refund held where its purchase was not seen goes to the buyer at the end of its hold, once the ledger knows the order', () => {
    const stage = createStateStage(config({ anonymousTtlMs: 60_000 }));
    const r = refund('r-1', ORDER, 18.4, '2026-11-20T19:03:30Z');
    expect(stage.apply([r], arrival(r)).emit).toEqual([]);
    // Another instance sent the purchase; this one reads its changelog records.
    const other = createStateStage(config());
    stage.restore([identify, shopifyOrder].flatMap((c) => other.apply([c], arrival(c)).changes));
    const swept = stage.expire(arrival(r) + 60_000);
    expect(swept.emit.map((e) => [e.key, e.event.name])).toEqual([[CUS, 'order_refunded'], [CUS, 'identify']]);
    expect(swept.emit[1]!.event.attributes).toMatchObject({ orders_count: 1, lifetime_value: 100 });
  });

  it('Recharge\'s running refund total becomes the money new since its last report', () => {
    const charge = (toDate: number, at: string): CandidateEvent => {
      const c = candidate({
        name: 'order_refunded', at, source: 'subscriptions', sourceId: `charge-${toDate}`, dedupeKey: `order_refunded:charge:731829100:${toDate}`,
        ids: { subscription_customer_id: RECHARGE_ID, email: EMAIL, shopify_customer_id: SHOPIFY_ID }, links: true, policy: 'hold',
        commerce: { order_id: ORDER2, charge_id: '731829100', total: toDate, currency: 'USD' },
      });
      return { ...c, event: { ...c.event, properties: { refund_id: `charge:731829100:${toDate}`, refunded_to_date: toDate } } };
    };
    const first = charge(10.8, '2026-12-22T16:41:09Z');
    const { all, last } = feed([identify, secondOrder, first, charge(21.6, '2026-12-23T09:00:00Z'), { ...first, dedupeKey: 'order_refunded:charge:731829100:10.8-again' }]);
    expect(all.emit.filter((e) => e.event.name === 'order_refunded').map((e) => e.event.commerce?.total)).toEqual([10.8, 10.8]);
    expect(all.drops).toEqual([{ reason: 'duplicate', event_name: 'order_refunded', source: 'subscriptions', detail: 'no_new_refund_money' }]);
    expect(last).toMatchObject({ orders_count: 1, lifetime_value: 50 - 21.6 });
  });

  it('an app refund naming the order by its name resolves to the numeric id and lands on the buyer', () => {
    const named: CandidateEvent = { ...shopifyOrder, event: { ...shopifyOrder.event, properties: { order_name: '#1042', order_number: '1042' } } };
    const app = candidate({
      name: 'order_refunded', at: '2026-11-20T19:08:00.000Z', source: 'app', sourceId: 'm-refund-1', dedupeKey: 'order_refunded:r-1',
      ids: { customer_id: CUS }, policy: 'hold', commerce: { order_id: '#1042', total: 10, currency: 'USD' },
    });
    const { all, last } = feed([identify, named, app]);
    const refunded = all.emit.find((e) => e.event.name === 'order_refunded')!.event;
    expect(refunded.commerce?.order_id).toBe(ORDER);
    expect(refunded.properties['order_name']).toBe('#1042');
    expect(refunded.customer_id).toBe(CUS);
    expect(last).toMatchObject({ orders_count: 1, lifetime_value: 108.4 });
  });

  it('a cancellation made before the shopper logged in folds into their profile on the merge', () => {
    const { all, last } = feed([secondOrder, cancel, identify]);
    expect(all.emit.filter((e) => e.event.kind === 'event').map((e) => `${e.key} ${e.event.name}`)).toEqual([
      `${EMAIL} order_completed`, `${EMAIL} order_cancelled`,
    ]);
    expect(all.emit.some((e) => e.event.kind === 'merge' && e.key === CUS)).toBe(true);
    const onCustomer = all.emit.filter((e) => e.key === CUS && e.event.attributes['orders_count'] !== undefined);
    expect(onCustomer.map((e) => e.event.attributes)).toEqual([expect.objectContaining({ orders_count: 0, lifetime_value: 50, cancelled_orders_count: 1 })]);
    expect(last).toMatchObject({ cancelled_orders_count: 1 });
  });

  it('restores the order ledger from its changelog: a refund after a restart still finds its buyer', () => {
    const { all } = feed([identify, shopifyOrder]);
    const restarted = createStateStage(config());
    restarted.restore(all.changes);
    const r = refund('r-1', ORDER, 18.4, '2026-11-28T15:15:02Z');
    const out = restarted.apply([r], arrival(r));
    expect(out.emit.map((e) => [e.key, e.event.name])).toEqual([[CUS, 'order_refunded'], [CUS, 'identify']]);
    expect(out.emit[1]!.event.attributes).toMatchObject({ orders_count: 1, lifetime_value: 100 });
  });
});
