// Issue #16: refunds and cancellations, mapped from Shopify's and Recharge's payloads.
import { describe, expect, it } from 'vitest';
import { appInput, fixture, only, pipeline, rechargeInput, shopifyInput } from './helpers.ts';

const p = pipeline();

describe('refunds and cancellations from their webhooks', () => {
  it('Shopify refunds/create -> order_refunded: successful refund money summed, refunded lines, note as reason, no person', () => {
    const c = only(p.process(shopifyInput('refunds/create', fixture('shopify/refunds-create.json'), {}, Date.parse('2026-11-28T15:20:00Z'))));
    const e = c.event;
    expect(e.name).toBe('order_refunded');
    expect(e.tier).toBe(1);
    expect(e.commerce?.order_id).toBe('5904832711894301745');
    expect(e.properties['refund_id']).toBe('929361462');
    // 20.00 + 6.31; the failed 26.31 is not money returned.
    expect(e.commerce?.total).toBe(26.31);
    expect(e.commerce?.currency).toBe('USD');
    expect(e.properties['reason']).toBe('One tin arrived dented');
    expect(e.commerce?.items).toEqual([
      { product_id: '8123456789012', variant_id: '44012345678901', sku: 'TEA-SENCHA-100', name: 'Sencha 100 g', price: 24, quantity: 1, category: null, subscription_eligible: null,
        brand: null, variant: null, coupon: null, position: null, url: null, image_url: null },
    ]);
    expect(e.occurred_at).toBe(Date.parse('2026-11-28T15:15:02Z'));
    expect(c.identifiers).toEqual({});
    expect(c.dedupeKey).toBe('order_refunded:929361462');
  });

  it('Shopify orders/cancelled -> order_cancelled with the cancel reason, keyed by order id, whatever NORMALIZER_ORDER_TOPICS says', () => {
    const c = only(p.process(shopifyInput('orders/cancelled', fixture('shopify/orders-cancelled.json'), {}, Date.parse('2026-11-21T14:31:00Z'))));
    const e = c.event;
    expect(e.name).toBe('order_cancelled');
    expect(e.commerce?.order_id).toBe('5904832711894302001');
    expect(e.commerce?.total).toBe(118.4);
    expect(e.properties).toMatchObject({ reason: 'customer', order_name: '#1043', order_number: '1043' });
    expect(e.occurred_at).toBe(Date.parse('2026-11-21T14:30:00Z'));
    expect(c.identifiers).toMatchObject({ email: 'maya.lindqvist@example.com', shopify_customer_id: '7301928374650192837' });
    expect(c.dedupeKey).toBe('order_cancelled:5904832711894302001');
  });

  it('Recharge charge/refunded (also inferred from a partially_refunded charge) -> order_refunded for the charge\'s Shopify order', () => {
    for (const topic of ['charge/refunded', 'charge']) {
      const c = only(p.process(rechargeInput(topic, fixture('recharge/charge-refunded.json'), {}, Date.parse('2026-12-22T16:42:00Z'))));
      const e = c.event;
      expect(e.name).toBe('order_refunded');
      expect(e.commerce?.order_id).toBe('5904832711894309999');
      expect(e.commerce?.total).toBe(10.8);
      expect(e.commerce?.currency).toBe('USD');
      expect(e.properties['refund_id']).toBe('charge:731829100:10.80');
      expect(e.properties['refunded_to_date']).toBe(10.8);
      expect(c.identifiers).toEqual({ subscription_customer_id: '118273645', email: 'maya.lindqvist@example.com', shopify_customer_id: '7301928374650192837' });
      expect(c.dedupeKey).toBe('order_refunded:charge:731829100:10.80');
    }
  });

  it('the app\'s Order Refunded (Segment spec) -> order_refunded, the order named however the app knows it', () => {
    const c = only(p.process(appInput({
      type: 'track', userId: 'cus_48213', messageId: 'm-refund-1', event: 'Order Refunded', timestamp: '2026-11-20T19:08:00Z',
      properties: { order_id: '#1042', refund_id: 'r-1', revenue: '10.00', currency: 'usd', products: [{ sku: 'TEA-SENCHA-100', price: 10, quantity: 1 }] },
    })));
    expect(c.event.name).toBe('order_refunded');
    expect(c.event.commerce).toMatchObject({ order_id: '#1042', total: 10, currency: 'USD' });
    expect(c.dedupeKey).toBe('order_refunded:r-1');
  });

  it('a restock-only refund (its one transaction failed) refunds no money, in the currency of its lines', () => {
    const body = JSON.parse(fixture('shopify/refunds-create.json').toString('utf8').replace(/(\d{16,})/g, '"$1"')) as Record<string, unknown>;
    const failed = { ...body, transactions: [{ kind: 'refund', status: 'failure', amount: '26.31', currency: 'USD' }],
      refund_line_items: [{ quantity: 1, subtotal_set: { shop_money: { amount: '24.00', currency_code: 'USD' } }, line_item: { sku: 'TEA-SENCHA-100', price: '24.00' } }] };
    const c = only(p.process(shopifyInput('refunds/create', failed, {}, Date.parse('2026-11-28T15:20:00Z'))));
    expect(c.event.commerce).toMatchObject({ total: 0, currency: 'USD' });
  });

  it('quarantines a refund whose amount is not money, with the field named', () => {
    const body = fixture('shopify/refunds-create.json').toString('utf8').replace('"6.31"', '"6,31"');
    const out = p.process(shopifyInput('refunds/create', body, {}, Date.parse('2026-11-28T15:20:00Z')));
    expect(out.quarantine?.reasons.map((r) => r.field)).toContain('total');
  });
});
