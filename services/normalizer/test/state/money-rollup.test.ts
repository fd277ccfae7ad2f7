// Issue #17 (money): lifetime_value and refunds in minor units of the order's currency.
import { describe, expect, it } from 'vitest';
import type { CandidateEvent } from '../../src/stages/candidate.ts';
import { createStateStage } from '../../src/state/state-stage.ts';
import { arrival, candidate, config, EMAIL, SHOPIFY_ID } from './journey.ts';

let n = 0;
function order(total: number, currency: string): CandidateEvent {
  const id = `ord-${++n}`;
  return candidate({
    name: 'order_completed', at: `2026-11-20T18:${String(10 + n).padStart(2, '0')}:00.000Z`, source: 'shopify', sourceId: id, dedupeKey: `order_completed:${id}`,
    ids: { shopify_customer_id: SHOPIFY_ID, email: EMAIL }, links: true, policy: 'hold',
    commerce: { order_id: id, total, currency, items: [{ product_id: null, variant_id: null, sku: 'S', name: null, price: total, quantity: 1, category: null, subscription_eligible: null, brand: null, variant: null, coupon: null, position: null, url: null, image_url: null }] },
  });
}

function refund(of: CandidateEvent, amount: number): CandidateEvent {
  const id = `ref-${++n}`;
  const c = candidate({
    name: 'order_refunded', at: '2026-11-28T15:15:02.000Z', source: 'shopify', sourceId: id, dedupeKey: `order_refunded:${id}`,
    ids: {}, policy: 'hold', commerce: { order_id: of.event.commerce!.order_id, total: amount, currency: of.event.commerce!.currency },
  });
  return { ...c, event: { ...c.event, properties: { refund_id: id } } };
}

/** lifetime_value after each event that changed it. */
function lifetimeValues(cands: CandidateEvent[]): unknown[] {
  const stage = createStateStage(config());
  return cands.flatMap((c) => stage.apply([c], arrival(c)).emit)
    .filter((e) => e.event.attributes['lifetime_value'] !== undefined)
    .map((e) => e.event.attributes['lifetime_value']);
}

describe('lifetime_value in minor units per currency', () => {
  it('USD: 0.1 + 0.2 is 0.3, less a refund of 0.1 is 0.2', () => {
    const a = order(0.1, 'USD');
    expect(lifetimeValues([a, order(0.2, 'USD'), refund(a, 0.1)])).toEqual([0.1, 0.3, 0.2]);
  });

  it('KWD keeps three decimals (the old rounding to two lost the fils)', () => {
    const a = order(12.345, 'KWD');
    expect(lifetimeValues([a, order(0.001, 'KWD'), refund(a, 0.005)])).toEqual([12.345, 12.346, 12.341]);
  });

  it('JPY stays in whole yen, and a refund never takes more than the order brought', () => {
    const a = order(1500, 'JPY');
    expect(lifetimeValues([a, order(2980, 'JPY'), refund(a, 480), refund(a, 5000)])).toEqual([1500, 4480, 4000, 2980]);
  });

  it('refunds that add up to the whole order leave exactly its share, and 0 once all is back', () => {
    const a = order(0.3, 'USD');
    expect(lifetimeValues([a, refund(a, 0.1), refund(a, 0.1), refund(a, 0.1)])).toEqual([0.3, 0.2, 0.1, 0]);
  });
});

describe('drops decided by the state stage name their own source', () => {
  it('a duplicate Shopify order is dropped as shopify', () => {
    const stage = createStateStage(config());
    const a = order(10, 'USD');
    stage.apply([a], arrival(a));
    expect(stage.apply([a], arrival(a)).drops).toEqual([{ reason: 'duplicate', event_name: 'order_completed', source: 'shopify' }]);
  });
});
