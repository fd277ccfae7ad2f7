/**
 * End to end, from HTTP to Customer.io: ingest -> normalizer -> sink -> emulator (and the monitor),
 * every service a real process on the real broker and registry. Each journey's final state in the
 * emulator (what Customer.io would hold) is asserted field by field.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/local-stack.ts';
import { DEV_SECRETS, journey, shopifyDelivery, rechargeDelivery, shopper, type Delivery, type Shopper } from '../../scripts/demo/journeys.ts';
import { sendInOrder } from '../../scripts/demo/ingest-client.ts';
import { uniqueName } from '../support/kafka.ts';
import { eventually } from '../support/eventually.ts';
import { startPipeline, type CioPerson, type PipelineStack } from '../support/pipeline-stack.ts';

describe('the pipeline end to end', () => {
  const run = uniqueName('e2e').replace(/-/g, '');
  const alerts: Array<{ text: string }> = [];
  let webhook: Server;
  let stack: PipelineStack;

  beforeAll(async () => {
    const webhookPort = await freePort();
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        alerts.push(JSON.parse(body) as { text: string });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => webhook.listen(webhookPort, '127.0.0.1', r));
    stack = await startPipeline(run, {
      SHOPIFY_WEBHOOK_SECRETS: DEV_SECRETS.shopify, RECHARGE_WEBHOOK_SECRETS: DEV_SECRETS.recharge, APP_WRITE_KEYS: `web:${DEV_SECRETS.writeKey}`,
    }, {
      monitor: {
        MONITOR_WEBHOOK_URL: `http://127.0.0.1:${webhookPort}/hooks/alerts`, MONITOR_EVAL_INTERVAL_MS: '200',
        MONITOR_RULES: JSON.stringify([{ name: 'checkout-and-purchase', events: ['checkout_started', 'order_completed'], threshold: 0.01, window_ms: 900_000, min_events: 5 }]),
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await new Promise<void>((r) => (webhook ? webhook.close(() => r()) : r()));
  });

  async function deliver(deliveries: Delivery[]): Promise<void> {
    const results = await sendInOrder(stack.ingestUrl, deliveries);
    expect(results.map((r) => `${r.delivery.label}: ${r.status}`)).toEqual(deliveries.map((d) => `${d.label}: 200`));
  }

  const settled = (idOrEmail: string, ready: (p: CioPerson) => boolean) => stack.settled(idOrEmail, ready);

  const names = (p: CioPerson) => p.events.map((e) => e.name);
  const start = Date.now() - 3600_000;

  it('abandoned checkout: the person has checkout_started with the cart items, and nothing after it', async () => {
    const s: Shopper = shopper(1, run);
    await deliver(journey(s, { start, purchase: false }));
    const p = await settled(s.customerId, (x) => names(x).includes('checkout_started'));
    expect(p.id).toBe(s.customerId);
    expect(p.email).toBe(s.email);
    const checkouts = p.events.filter((e) => e.name === 'checkout_started');
    expect(checkouts).toHaveLength(1);
    // Nothing happened after the checkout: no purchase, no newer cart activity. (Anonymous browse
    // events travel under their anonymous id and may be received after it; their time is earlier.)
    const after = p.events.filter((e) => e.timestamp > checkouts[0]!.timestamp).map((e) => e.name);
    expect(after).toEqual([]);
    const data = checkouts[0]!.data;
    expect(data['checkout_id']).toBe(s.checkoutToken);
    expect(data['currency']).toBe('USD');
    expect((data['items'] as Array<{ sku: string }>).map((i) => i.sku)).toEqual(['TEA-SENCHA-100', '3141592']);
    expect(names(p)).not.toContain('order_completed');
    // Anonymous browsing, then login: the browse events are the same person's.
    expect(p.anonymous_ids).toContain(s.anonymousId);
    expect(names(p)).toContain('product_viewed');
    const viewed = p.events.find((e) => e.name === 'product_viewed')!;
    expect(viewed.timestamp).toBeLessThan(checkouts[0]!.timestamp);
    // Every event carries a ULID and a unix-seconds timestamp.
    for (const e of p.events) {
      expect(e.id).toMatch(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
      expect(Number.isInteger(e.timestamp)).toBe(true);
    }
  });

  it('recovered checkout: one purchase from Shopify and the app, and the late checkout webhook never re-triggers', async () => {
    const s = shopper(2, run);
    await deliver(journey(s, { start, purchase: true, appOrder: true, duplicateOrder: true, lateCheckout: true }));
    const p = await settled(s.customerId, (x) => names(x).includes('order_completed') && x.attributes['orders_count'] !== undefined);
    const orders = p.events.filter((e) => e.name === 'order_completed');
    expect(orders).toHaveLength(1);
    const order = orders[0]!.data;
    expect(order['order_id']).toBe(s.orderId);
    expect(order['total']).toBe(118.4);
    expect(order['currency']).toBe('USD');
    expect((order['items'] as Array<{ sku: string; quantity: number }>).map((i) => [i.sku, i.quantity])).toEqual([['TEA-SENCHA-100', 2], ['3141592', 1]]);
    // The app's checkout came before the purchase; Shopify's late copy of it is suppressed.
    const checkoutIndexes = names(p).flatMap((n, i) => (n === 'checkout_started' ? [i] : []));
    expect(checkoutIndexes.length).toBeLessThanOrEqual(1);
    expect(checkoutIndexes.every((i) => i < names(p).indexOf('order_completed'))).toBe(true);
    expect(names(p).slice(names(p).indexOf('order_completed') + 1)).not.toContain('checkout_started');
    expect(names(p).slice(names(p).indexOf('order_completed') + 1), JSON.stringify(p.events.map((e) => [e.name, e.data['cart_id'], e.data['sku'], e.data['quantity']]))).not.toContain('added_to_cart');
    // Profile redundancy for attribute-based journeys.
    expect(p.attributes['orders_count']).toBe(1);
    expect(p.attributes['lifetime_value']).toBe(118.4);
    expect(typeof p.attributes['last_order_date']).toBe('number');
    expect(p.attributes['first_order_date']).toBe(p.attributes['last_order_date']);
    expect(p.email).toBe(s.email);
  });

  it('a checkout webhook that arrives only after the purchase reaches no one', async () => {
    const s = shopper(3, run);
    await deliver(journey(s, { start, purchase: true, appCheckout: false, lateCheckout: true }));
    const p = await settled(s.customerId, (x) => names(x).includes('order_completed'));
    expect(names(p)).not.toContain('checkout_started');
    expect(p.events.filter((e) => e.name === 'order_completed')).toHaveLength(1);
  });

  it('a subscription charge for a customer known only by Shopify id and email lands on that person', async () => {
    const s = shopper(4, run);
    await deliver([
      shopifyDelivery('customers/create', `{"id": ${s.shopifyId}, "email": "${s.email}", "first_name": "Sub", "last_name": "Scriber", "state": "enabled", "verified_email": true, "currency": "USD", "created_at": "2025-03-02T09:12:40-05:00", "updated_at": "2026-11-20T14:03:12-05:00"}`, DEV_SECRETS),
      rechargeDelivery('charge/paid', {
        charge: { id: 990001, status: 'success', customer: { id: Number(s.rechargeId), email: s.email, external_customer_id: { ecommerce: s.shopifyId } },
          currency: 'USD', total_price: '21.60', processed_at: new Date(start).toISOString(), line_items: [{ sku: 'TEA-SENCHA-100', price: '21.60', quantity: 1 }] },
      }, DEV_SECRETS),
    ]);
    const p = await settled(s.email, (x) => names(x).includes('subscription_charge_paid'));
    expect(p.email).toBe(s.email);
    expect(p.attributes['first_name']).toBe('Sub');
    const charge = p.events.find((e) => e.name === 'subscription_charge_paid')!.data;
    expect(charge['charge_id']).toBe('990001');
    expect(charge['total']).toBe(21.6);
    expect(charge['currency']).toBe('USD');
  });

  it('a burst of invalid checkout events raises the invalid-data alert at the webhook', async () => {
    const deliveries = [10, 11, 12, 13, 14, 15].flatMap((i) => journey(shopper(i, run), { start, purchase: false, invalidCheckout: true, appCheckout: true }).slice(0, 1));
    await deliver(deliveries);
    const alert = await eventually('a firing alert at the webhook', () => alerts.find((a) => /FIRING/i.test(a.text) || /firing/i.test(JSON.stringify(a))), (a) => a !== undefined, { timeoutMs: 60_000, intervalMs: 300 });
    expect(JSON.stringify(alert)).toMatch(/checkout-and-purchase/);
  });

  it('trace explains every raw record of these journeys: each with its verdict, each event sent with Customer.io\'s answer', async () => {
    // The shoppers of the alert burst were never waited for: their traces are asked for by id.
    await stack.explainedByTrace([10, 11, 12, 13, 14, 15].map((i) => shopper(i, run).customerId));
  }, 120_000);
});
