/**
 * Orders end to end, from HTTP to the Customer.io emulator (ingest -> normalizer -> sink), every
 * service a real process on the real broker and registry:
 * - issue #20: the app reports its purchase under any form of the order id (numeric id, GraphQL
 *   id, name, order number, checkout token), before or after Shopify's orders/create, and Shopify
 *   retries its webhook after both. Each shopper ends with one order_completed carrying the
 *   numeric id, and one purchase in the profile rollup.
 * - issue #16: two orders, a partial refund of one and a cancellation of the other.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appBatchDelivery, DEV_SECRETS, shopifyDelivery, shopper, stringifyWithBigInts, type Delivery, type Shopper } from '../../scripts/demo/journeys.ts';
import { sendInOrder } from '../../scripts/demo/ingest-client.ts';
import { uniqueName } from '../support/kafka.ts';
import { startPipeline, type CioPerson, type PipelineStack } from '../support/pipeline-stack.ts';


type Form = 'numeric id' | 'GraphQL id' | 'name' | 'number' | 'checkout token';
const FORMS: Form[] = ['numeric id', 'GraphQL id', 'name', 'number', 'checkout token'];

const BIG = (digits: string) => `__bigint__${digits}`;
const shopifyTime = (ms: number) => new Date(ms - 5 * 3600_000).toISOString().replace(/\.\d{3}Z$/, '-05:00');

function orderNumber(s: Shopper, n = 0): number {
  return 5000 + s.index * 10 + n;
}

function formOf(s: Shopper, form: Form): string {
  switch (form) {
    case 'numeric id': return s.orderId;
    case 'GraphQL id': return `gid://shopify/Order/${s.orderId}`;
    case 'name': return `#S${orderNumber(s)}`;
    case 'number': return String(orderNumber(s));
    case 'checkout token': return s.checkoutToken;
  }
}

/** orders/create (or orders/cancelled) in Shopify's shape; the id a bare JSON number beyond 2^53. */
function orderBody(s: Shopper, at: number, o: { orderId?: string; n?: number; total?: string; cancelled?: boolean } = {}): string {
  const orderId = o.orderId ?? s.orderId;
  const n = orderNumber(s, o.n ?? 0);
  const total = o.total ?? '118.40';
  return stringifyWithBigInts({
    id: BIG(orderId), admin_graphql_api_id: `gid://shopify/Order/${orderId}`, name: `#S${n}`, order_number: n,
    email: s.email, created_at: shopifyTime(at), currency: 'USD', financial_status: o.cancelled ? 'refunded' : 'paid',
    total_price: total, subtotal_price: total, total_discounts: '0.00', total_tax: '0.00',
    checkout_token: o.n ? createHash('md5').update(`${s.checkoutToken}${n}`).digest('hex') : s.checkoutToken,
    customer: { id: BIG(s.shopifyId), email: s.email },
    line_items: [{ id: BIG(String(45012345678901 + n)), product_id: BIG('8123456789012'), variant_id: BIG('45012345678901'), sku: 'TEA-SENCHA-100', title: 'Sencha 100g', price: total, quantity: 1 }],
    ...(o.cancelled ? { cancelled_at: shopifyTime(at + 300_000), cancel_reason: 'customer', updated_at: shopifyTime(at + 300_000) } : {}),
  });
}

function appPurchase(s: Shopper, form: Form, at: number): Delivery {
  return appBatchDelivery([
    { type: 'identify', userId: s.customerId, messageId: `${s.customerId}-id`, traits: { email: s.email, shopify_customer_id: s.shopifyId }, timestamp: new Date(at - 60_000).toISOString() },
    { type: 'track', userId: s.customerId, messageId: `${s.customerId}-order`, event: 'Order Completed',
      properties: { order_id: formOf(s, form), total: 118.4, currency: 'USD' }, timestamp: new Date(at).toISOString() },
  ], DEV_SECRETS, `app purchase ${form}`);
}

describe('orders end to end', () => {
  const run = uniqueName('orders').replace(/-/g, '');
  let stack: PipelineStack;
  const start = Date.now() - 3600_000;

  beforeAll(async () => {
    stack = await startPipeline(run, {
      SHOPIFY_WEBHOOK_SECRETS: DEV_SECRETS.shopify, RECHARGE_WEBHOOK_SECRETS: DEV_SECRETS.recharge, APP_WRITE_KEYS: `web:${DEV_SECRETS.writeKey}`,
    }, {
      // Long enough that an app-first purchase still waits when Shopify's webhook comes.
      normalizer: { NORMALIZER_COMPLETENESS_HOLD_MS: '120000' },
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function deliver(deliveries: Delivery[]): Promise<void> {
    const results = await sendInOrder(stack.ingestUrl, deliveries);
    expect(results.map((r) => `${r.delivery.label}: ${r.status}`)).toEqual(deliveries.map((d) => `${d.label}: 200`));
  }

  const person = (id: string) => stack.person(id);
  const arrived = (id: string, ready: (p: CioPerson) => boolean) => stack.arrived(id, ready);

  const named = (p: CioPerson, name: string) => p.events.filter((e) => e.name === name);

  it('one order_completed with the numeric id, and one purchase in the rollup, for every id form and arrival order', async () => {
    const cases = FORMS.flatMap((form, f) => (['app first', 'Shopify first'] as const).map((arrival, a) => ({ form, arrival, s: shopper(100 + f * 2 + a, run) })));
    const at = start + 20 * 60_000;
    const webhook = (s: Shopper, retry = false) => shopifyDelivery('orders/create', orderBody(s, at), DEV_SECRETS, retry ? { webhookId: `wh-retry-${s.orderId}`, label: 'orders/create (retry)' } : {});
    // 1. The first source of each case, then wait until it went through: for app-first cases the
    //    identify sent with the purchase (the purchase itself waits for the store), for
    //    Shopify-first cases the purchase.
    await deliver(cases.map(({ form, arrival, s }) => (arrival === 'app first' ? appPurchase(s, form, at) : webhook(s))));
    for (const { arrival, s } of cases) {
      if (arrival === 'app first') await arrived(s.customerId, () => true);
      else await arrived(s.email, (p) => named(p, 'order_completed').length === 1);
    }
    // 2. The other source, then 3. Shopify's retry of every webhook.
    await deliver(cases.map(({ form, arrival, s }) => (arrival === 'app first' ? webhook(s) : appPurchase(s, form, at))));
    await deliver(cases.map(({ s }) => webhook(s, true)));

    for (const { form, arrival, s } of cases) {
      const label = `${form}, ${arrival}`;
      // Shopify-first purchases went out under the email, then merged into the app's customer id.
      const p = await arrived(s.customerId, (x) => named(x, 'order_completed').length >= 1 && x.attributes['orders_count'] !== undefined);
      expect.soft(p.email, label).toBe(s.email);
      expect.soft(named(p, 'order_completed').map((e) => e.data['order_id']), label).toEqual([s.orderId]);
      expect.soft([p.attributes['orders_count'], p.attributes['lifetime_value']], label).toEqual([1, 118.4]);
    }
    // Stragglers: a second purchase would show by now.
    await new Promise((r) => setTimeout(r, 4000));
    for (const { form, arrival, s } of cases) {
      const p = (await person(s.customerId))!;
      expect(named(p, 'order_completed'), `${form}, ${arrival}`).toHaveLength(1);
      expect(p.attributes['orders_count'], `${form}, ${arrival}`).toBe(1);
    }
  });

  it('two orders, a partial refund of one and a cancellation of the other: the right events and rollup on the profile', async () => {
    const s = shopper(200, run);
    const second = (BigInt(s.orderId) + 1n).toString();
    const at = start + 30 * 60_000;
    await deliver([
      appBatchDelivery([{ type: 'identify', userId: s.customerId, messageId: `${s.customerId}-id`, traits: { email: s.email, shopify_customer_id: s.shopifyId }, timestamp: new Date(at - 60_000).toISOString() }], DEV_SECRETS),
      shopifyDelivery('orders/create', orderBody(s, at), DEV_SECRETS),
      shopifyDelivery('orders/create', orderBody(s, at + 60_000, { orderId: second, n: 1, total: '50.00' }), DEV_SECRETS),
    ]);
    await arrived(s.customerId, (p) => named(p, 'order_completed').length === 2);
    const refund = stringifyWithBigInts({
      id: BIG(String(929361000 + s.index)), order_id: BIG(s.orderId), created_at: shopifyTime(at + 600_000), processed_at: shopifyTime(at + 600_000),
      note: 'One tin arrived dented', restock: false,
      refund_line_items: [{ id: 1, quantity: 1, line_item_id: 2, restock_type: 'no_restock', subtotal: 24, total_tax: 0,
        line_item: { id: 2, variant_id: BIG('45012345678901'), product_id: BIG('8123456789012'), sku: 'TEA-SENCHA-100', title: 'Sencha 100g', price: '24.00', quantity: 1 } }],
      transactions: [{ id: 3, order_id: BIG(s.orderId), kind: 'refund', status: 'success', amount: '24.00', currency: 'USD', gateway: 'shopify_payments' }],
      order_adjustments: [],
    });
    const refundDelivery = shopifyDelivery('refunds/create', refund, DEV_SECRETS);
    await deliver([
      refundDelivery,
      // Shopify retries the refund: deduped by the refund's id.
      { ...refundDelivery, headers: { ...refundDelivery.headers, 'x-shopify-webhook-id': `wh-retry-refund-${s.index}` }, label: 'refunds/create (retry)' },
      shopifyDelivery('orders/cancelled', orderBody(s, at + 60_000, { orderId: second, n: 1, total: '50.00', cancelled: true }), DEV_SECRETS),
    ]);
    const p = await arrived(s.customerId, (x) => named(x, 'order_refunded').length === 1 && named(x, 'order_cancelled').length === 1 && x.attributes['cancelled_orders_count'] !== undefined);
    await new Promise((r) => setTimeout(r, 4000));
    const final = (await person(s.customerId))!;
    // The refund webhook carries no customer, so ingest keys it apart from the orders: it and the
    // cancellation may reach the normalizer in either order, both after the purchases they follow.
    const orderEvents = final.events.map((e) => e.name).filter((n) => n.startsWith('order_'));
    expect(orderEvents.slice(0, 2)).toEqual(['order_completed', 'order_completed']);
    expect(orderEvents.slice(2).sort()).toEqual(['order_cancelled', 'order_refunded']);
    const refunded = named(final, 'order_refunded')[0]!.data;
    expect(refunded).toMatchObject({ order_id: s.orderId, refund_id: String(929361000 + s.index), total: 24, currency: 'USD', reason: 'One tin arrived dented' });
    expect((refunded['items'] as Array<{ sku: string; quantity: number }>).map((i) => [i.sku, i.quantity])).toEqual([['TEA-SENCHA-100', 1]]);
    expect(named(final, 'order_cancelled')[0]!.data).toMatchObject({ order_id: second, reason: 'customer', currency: 'USD' });
    expect(final.attributes).toMatchObject({ orders_count: 1, cancelled_orders_count: 1, lifetime_value: 144.4 });
    expect(p.email).toBe(s.email);
  });

  it('trace explains every raw record of these orders: each with its verdict, each event sent with Customer.io\'s answer', async () => {
    await stack.explainedByTrace();
  }, 120_000);
});
