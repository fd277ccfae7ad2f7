/**
 * Regressions found by the end-to-end journeys (test/e2e/pipeline.int.test.ts): both let a cart
 * event reach Customer.io after the checkout or purchase it led to.
 */
import { describe, expect, it } from 'vitest';
import { createStateStage } from '../../src/state/state-stage.ts';
import { CART, CHECKOUT, EMAIL, ORDER, SHOPIFY_ID, candidate, config, summary } from './journey.ts';

const cartLine = (sku: string, qty: number, at: string) => candidate({
  name: 'added_to_cart', at, source: 'shopify', sourceId: `wh-cart:${sku}:${at}`, ids: { cart_token: CART }, policy: 'hold',
  commerce: { sku, quantity: qty, cart_id: CART }, cartSnapshot: { cart_id: CART, line_key: sku, quantity: qty },
});

describe('state stage regressions', () => {
  it('a purchase closes its cart before the cart events it identifies are released', () => {
    const stage = createStateStage(config({ completenessHoldMs: 0 }));
    // Shopify's cart snapshot arrives first: only a cart token, so it is held.
    const held = stage.apply([cartLine('3141592', 1, '2026-11-20T18:52:19Z')], Date.parse('2026-11-20T19:00:00Z'));
    expect(held.emit).toEqual([]);
    // The order carries the cart token and the shopper's ids: it identifies the held cart event,
    // and it must also suppress it, because the cart is bought.
    const order = candidate({
      name: 'order_completed', at: '2026-11-20T19:03:11Z', source: 'shopify', sourceId: ORDER, dedupeKey: `order_completed:${ORDER}`,
      ids: { shopify_customer_id: SHOPIFY_ID, email: EMAIL, cart_token: CART, checkout_token: CHECKOUT }, links: true, policy: 'hold',
      commerce: { order_id: ORDER, total: 118.4, currency: 'USD', cart_id: CART, checkout_id: CHECKOUT },
    });
    const result = stage.apply([order], Date.parse('2026-11-20T19:03:12Z'));
    expect(summary(result).some((l) => l.includes('added_to_cart'))).toBe(false);
    expect(result.drops).toContainEqual(expect.objectContaining({ reason: 'suppressed_after_purchase', event_name: 'added_to_cart' }));
  });

  const identify = candidate({ name: 'identify', kind: 'identify', at: '2026-11-20T18:52:10Z', source: 'app', sourceId: 'm-4', ids: { customer_id: 'cus_1', email: EMAIL, shopify_customer_id: SHOPIFY_ID }, links: true, policy: 'forward' });
  const appCheckout = candidate({ name: 'checkout_started', at: '2026-11-20T18:58:02Z', source: 'app', sourceId: 'm-5', dedupeKey: `checkout_started:${CHECKOUT}`, ids: { customer_id: 'cus_1' }, policy: 'hold', commerce: { checkout_id: CHECKOUT, cart_id: CART, currency: 'USD' } });
  const shopifyCheckout = candidate({
    name: 'checkout_started', at: '2026-11-20T18:58:02Z', source: 'shopify', sourceId: 'wh-co', dedupeKey: `checkout_started:${CHECKOUT}`,
    ids: { shopify_customer_id: SHOPIFY_ID, email: EMAIL, cart_token: CART, checkout_token: CHECKOUT }, links: true, policy: 'hold',
    commerce: { checkout_id: CHECKOUT, cart_id: CART, currency: 'USD', items: [{ product_id: null, variant_id: null, sku: '3141592', name: null, price: 60, quantity: 1, category: null, subscription_eligible: null, brand: null, variant: null, coupon: null, position: null, url: null, image_url: null }] },
  });
  const gated = () => createStateStage(config({ completenessHoldMs: 60_000, completenessEvents: ['order_completed', 'checkout_started'] }));
  const eventNames = (r: { emit: Array<{ event: { kind: string; name: string } }> }) => r.emit.filter((e) => e.event.kind !== 'identify').map((e) => e.event.name);

  it('events queued behind a held checkout go out in the order they happened', () => {
    const stage = gated();
    const now = Date.parse('2026-11-20T19:00:00Z');
    // The app's checkout (no items) waits for Shopify's richer copy; the person is known.
    stage.apply([identify, appCheckout], now);
    // A page view from before the checkout arrives late and queues behind the held checkout.
    const page = candidate({ name: 'page_viewed', kind: 'page', at: '2026-11-20T18:55:00Z', source: 'app', sourceId: 'm-late', ids: { customer_id: 'cus_1' }, policy: 'forward' });
    const result = stage.apply([page, shopifyCheckout], now + 1000);
    expect(eventNames(result)).toEqual(['page_viewed', 'checkout_started']);
  });

  it('a cart event from before the checkout that arrives after it is old news and is suppressed; a newer one goes', () => {
    const stage = gated();
    const now = Date.parse('2026-11-20T19:00:00Z');
    stage.apply([identify, appCheckout], now);
    // Shopify's cart snapshot (before the checkout) is identified only by Shopify's checkout.
    const result = stage.apply([cartLine('3141592', 1, '2026-11-20T18:52:19Z'), shopifyCheckout], now + 1000);
    expect(eventNames(result)).toEqual(['checkout_started']);
    expect(result.drops).toContainEqual(expect.objectContaining({ reason: 'suppressed_after_purchase', event_name: 'added_to_cart' }));
    // The shopper goes back and adds to the same cart after starting checkout: new activity.
    const later = stage.apply([cartLine('3141592', 2, '2026-11-20T19:10:00Z')], now + 2000);
    expect(eventNames(later)).toEqual(['added_to_cart']);
  });

  it('a shopper\'s own add-to-cart released after the checkout was read still goes (only snapshots are old news)', () => {
    const stage = gated();
    const now = Date.parse('2026-11-20T19:00:00Z');
    // The app's add-to-cart waits anonymously; the checkout (other partition) is read first.
    const anonAdd = candidate({ name: 'added_to_cart', at: '2026-11-20T18:41:55Z', source: 'app', sourceId: 'm-3', ids: { anonymous_id: 'anon-1' }, policy: 'hold', commerce: { sku: 'TEA-1', quantity: 2, cart_id: CART } });
    stage.apply([anonAdd, identify, appCheckout], now);
    const login = candidate({ name: 'identify', kind: 'identify', at: '2026-11-20T18:52:10Z', source: 'app', sourceId: 'm-4b', ids: { anonymous_id: 'anon-1', customer_id: 'cus_1' }, links: true, policy: 'forward' });
    const all = [...stage.apply([login], now + 1000).emit, ...stage.apply([shopifyCheckout], now + 2000).emit];
    expect(all.filter((e) => e.event.kind === 'event').map((e) => e.event.name)).toContain('added_to_cart');
  });
});
