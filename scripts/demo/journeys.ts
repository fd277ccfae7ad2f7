/**
 * Realistic shopper journeys as HTTP deliveries to ingest, built from the shared fixtures' shapes:
 * Maya's journey (anonymous browse, add to cart, login, checkout, purchase, a subscription charge)
 * repeated over many shoppers, with the defects real tracking carries: drifting event names,
 * prices as strings, skus as numbers, lower-case currencies, emails with capitals and spaces,
 * duplicated and late webhooks, bots, and a share of invalid checkout events.
 */
import { createHash, createHmac } from 'node:crypto';

export interface Delivery {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** What the delivery is, for logs and test assertions. */
  label: string;
}

export interface Secrets {
  shopify: string;
  recharge: string;
  writeKey: string;
}

export const DEV_SECRETS: Secrets = { shopify: 'dev-shopify-secret', recharge: 'dev-recharge-secret', writeKey: 'dev-write-key' };

export interface Shopper {
  index: number;
  customerId: string;
  anonymousId: string;
  email: string;
  shopifyId: string;
  rechargeId: string;
  cartToken: string;
  checkoutToken: string;
  orderId: string;
}

/** Ids shaped like the real ones: Shopify ids above 2^53, opaque tokens, a per-shopper email. */
export function shopper(index: number, runId = 'demo'): Shopper {
  const h = (what: string) => createHash('sha256').update(`${runId}:${index}:${what}`).digest('hex');
  const big = (what: string) => (BigInt(`0x${h(what).slice(0, 15)}`) % 900000000000000000n + 7000000000000000000n).toString();
  return {
    index,
    customerId: `cus_${runId}_${index}`,
    anonymousId: `anon-${h('anon').slice(0, 10)}`,
    email: `shopper.${runId}.${index}@example.com`,
    shopifyId: big('shopify'),
    rechargeId: String(100000000 + (index % 800000000)),
    cartToken: `cart-${h('cart').slice(0, 20)}`,
    checkoutToken: h('checkout').slice(0, 32),
    orderId: big('order'),
  };
}

export function shopifyDelivery(topic: string, payload: unknown, secrets: Secrets, opts: { webhookId?: string; label?: string } = {}): Delivery {
  const body = typeof payload === 'string' ? payload : stringifyWithBigInts(payload);
  return {
    path: '/webhooks/shopify',
    headers: {
      'content-type': 'application/json',
      'x-shopify-topic': topic,
      'x-shopify-hmac-sha256': createHmac('sha256', secrets.shopify).update(body).digest('base64'),
      'x-shopify-shop-domain': 'tea-example.myshopify.com',
      'x-shopify-api-version': '2025-10',
      'x-shopify-webhook-id': opts.webhookId ?? `wh-${createHash('sha256').update(topic).update(body).digest('hex').slice(0, 24)}`,
      'x-shopify-triggered-at': new Date().toISOString(),
    },
    body,
    label: opts.label ?? `shopify ${topic}`,
  };
}

export function rechargeDelivery(topic: string, payload: unknown, secrets: Secrets, now = Date.now()): Delivery {
  const body = JSON.stringify(payload);
  const ts = String(Math.floor(now / 1000));
  const v1 = createHmac('sha256', secrets.recharge).update(`${ts}.${body}`).digest('hex');
  return {
    path: '/webhooks/recharge',
    headers: { 'content-type': 'application/json', 'x-recharge-topic': topic, 'x-recharge-webhook-timestamp': ts, 'x-recharge-webhook-signature': `t=${ts},v1=${v1}` },
    body,
    label: `recharge ${topic}`,
  };
}

export function appBatchDelivery(messages: unknown[], secrets: Secrets, label = 'app batch'): Delivery {
  return {
    path: '/v1/batch',
    headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${secrets.writeKey}:`).toString('base64')}` },
    body: JSON.stringify({ batch: messages, sentAt: new Date().toISOString() }),
    label,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
/** Shopify writes local times with an offset. */
const shopifyTime = (ms: number) => new Date(ms - 5 * 3600_000).toISOString().replace(/\.\d{3}Z$/, '-05:00');

export interface JourneyOptions {
  /** When the journey starts (event time of the first page view). */
  start: number;
  /** The shopper buys (else the checkout is abandoned). */
  purchase: boolean;
  /** Shopify delivers orders/create twice (a retry with a new webhook id). */
  duplicateOrder?: boolean;
  /** checkouts/create arrives after orders/create. */
  lateCheckout?: boolean;
  /** The app sends its own Order Completed for the same order. */
  appOrder?: boolean;
  /** The subscription platform charges the shopper later. */
  subscriptionCharge?: boolean;
  /** The app's checkout event lacks its currency: a tier 1 event that must be quarantined. */
  invalidCheckout?: boolean;
  /** The app reports the checkout too (default); without it only Shopify's webhook tells of it. */
  appCheckout?: boolean;
}

/** One shopper's journey as deliveries in the order the sources would send them. */
export function journey(s: Shopper, o: JourneyOptions, secrets: Secrets = DEV_SECRETS): Delivery[] {
  const t = (minutes: number) => o.start + minutes * 60_000;
  const lines = [
    { id: 45012345678901 + s.index, product_id: 8123456789012, variant_id: 45012345678901, sku: 'TEA-SENCHA-100', title: 'Sencha 100g', price: '24.00', quantity: 2 },
    { id: 45012345678902 + s.index, product_id: 8123456789013, variant_id: null, sku: 3141592, title: 'Kyusu teapot', price: '60.00', quantity: 1 },
  ];
  const app: unknown[] = [
    { type: 'page', anonymousId: s.anonymousId, messageId: `${s.anonymousId}-m1`, name: 'Sencha 100g', properties: { path: '/products/sencha-100' }, timestamp: iso(t(0)),
      context: { ip: '203.0.113.24', userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1' } },
    { type: 'track', anonymousId: s.anonymousId, messageId: `${s.anonymousId}-m2`, event: 'Product Viewed', properties: { product_id: 8123456789012, sku: 'TEA-SENCHA-100', price: '24.00', currency: 'usd' }, timestamp: iso(t(0.1)) },
    { type: 'track', anonymousId: s.anonymousId, messageId: `${s.anonymousId}-m3`, event: 'addToCart', properties: { product_id: '8123456789012', sku: 'TEA-SENCHA-100', price: 24, quantity: '2', currency: 'USD', cart_id: s.cartToken }, timestamp: iso(t(2)) },
    { type: 'identify', anonymousId: s.anonymousId, userId: s.customerId, messageId: `${s.anonymousId}-m4`, traits: { email: s.email, first_name: 'Shopper', shopify_customer_id: s.shopifyId }, timestamp: iso(t(12)) },
  ];
  if (o.appCheckout ?? true) {
    app.push({ type: 'track', userId: s.customerId, messageId: `${s.anonymousId}-m5`, event: 'Checkout Started',
      properties: { cart_id: s.cartToken, checkout_id: s.checkoutToken, cart_value: '108.00', ...(o.invalidCheckout ? {} : { currency: 'USD' }) }, timestamp: iso(t(18)) });
  }
  if (o.purchase && o.appOrder) {
    app.push({ type: 'track', userId: s.customerId, messageId: `${s.anonymousId}-m6`, event: 'Order Completed', properties: { order_id: s.orderId, total: 118.4, currency: 'USD' }, timestamp: iso(t(23)) });
  }
  const out: Delivery[] = [appBatchDelivery(app, secrets, `app journey ${s.index}`)];
  out.push(shopifyDelivery('carts/update', {
    id: s.cartToken, token: s.cartToken, note: null, created_at: shopifyTime(t(2)), updated_at: shopifyTime(t(12)),
    line_items: lines.map((l) => ({ id: l.id, variant_id: l.variant_id, product_id: l.product_id, sku: l.sku, quantity: l.quantity, price: l.price, line_price: (Number(l.price) * l.quantity).toFixed(2) })),
  }, secrets));
  const checkout = shopifyDelivery('checkouts/create', {
    token: s.checkoutToken, cart_token: s.cartToken, email: s.email, customer: { id: BigIntJson(s.shopifyId), email: s.email }, currency: 'USD', total_price: '118.40',
    created_at: shopifyTime(t(18)), updated_at: shopifyTime(t(18)), completed_at: null,
    abandoned_checkout_url: `https://tea-example.myshopify.com/checkouts/${s.checkoutToken.slice(0, 8)}/recover`,
    line_items: lines.map((l) => ({ product_id: l.product_id, variant_id: l.variant_id, sku: l.sku, price: l.price, quantity: l.quantity, key: `${l.variant_id ?? l.product_id}:1` })),
  }, secrets);
  if (!o.lateCheckout) out.push(checkout);
  if (o.purchase) {
    const order = {
      id: BigIntJson(s.orderId), name: `#${1000 + s.index}`, order_number: 1000 + s.index,
      email: `  ${s.email.replace(/^s/, 'S')} `, contact_email: s.email, created_at: shopifyTime(t(23)), currency: 'usd', financial_status: 'paid',
      total_price: '118.40', subtotal_price: '108.00', total_discounts: '0.00', total_tax: '10.40',
      token: createHash('md5').update(s.orderId).digest('hex'), checkout_token: s.checkoutToken, cart_token: s.cartToken,
      customer: { id: BigIntJson(s.shopifyId), email: s.email, first_name: 'Shopper', last_name: String(s.index) },
      line_items: lines,
    };
    const body = stringifyWithBigInts(order);
    out.push(shopifyDelivery('orders/create', body, secrets));
    if (o.duplicateOrder) out.push(shopifyDelivery('orders/create', body, secrets, { webhookId: `wh-retry-${s.orderId}`, label: 'shopify orders/create (retry)' }));
  }
  if (o.lateCheckout) out.push({ ...checkout, label: 'shopify checkouts/create (late)' });
  if (o.subscriptionCharge) {
    out.push(rechargeDelivery('charge/paid', {
      charge: {
        id: 731829100 + s.index, status: 'success', customer: { id: Number(s.rechargeId), email: s.email, external_customer_id: { ecommerce: s.shopifyId } },
        currency: 'USD', total_price: '21.60', processed_at: iso(t(25)), line_items: [{ sku: 'TEA-SENCHA-100', price: '21.60', quantity: 1 }],
      },
    }, secrets));
  }
  return out;
}

/** Page views from a crawler: dropped by the bot filter, never forwarded. */
export function botTraffic(i: number, at: number, secrets: Secrets = DEV_SECRETS): Delivery {
  return appBatchDelivery([
    { type: 'page', anonymousId: `bot-${i}`, messageId: `bot-${i}-${at}`, name: 'Home', properties: { path: '/' }, timestamp: iso(at),
      context: { ip: '66.249.66.1', userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' } },
  ], secrets, 'bot page view');
}

/**
 * Shopify ids are integers above 2^53: JSON.stringify cannot write them from numbers without
 * corrupting them, so they are carried as marked strings and written as bare digits.
 */
function BigIntJson(digits: string): string {
  return `__bigint__${digits}`;
}

function stringifyWithBigInts(value: unknown): string {
  return JSON.stringify(value).replace(/"__bigint__(\d+)"/g, '$1');
}

export { stringifyWithBigInts };
