// Maya's journey (shared/fixtures) as the stateless stages would hand it to the state stage.
import { loadTrackingPlan, type TrackingPlan } from '@cio-pipeline/core';
import type { CanonicalEvent, CommerceProperties, LineItem } from '@cio-pipeline/core/generated/avro-types';
import type { CandidateEvent, IdentifierSet } from '../../src/stages/candidate.ts';
import { deterministicUlid } from '../../src/stages/deterministic-ulid.ts';
import { createStateConfig, type StateConfig } from '../../src/state/config.ts';
import type { StateResult } from '../../src/state/state-stage.ts';

const planPath = new URL('../../../../schemas/tracking-plan.yaml', import.meta.url).pathname;
export const plan: TrackingPlan = loadTrackingPlan(planPath);

export function config(overrides: Partial<StateConfig> = {}): Readonly<StateConfig> {
  return createStateConfig(plan, overrides);
}

export const ANON = 'anon-7f3c2a';
export const CUS = 'cus_48213';
export const EMAIL = 'maya.lindqvist@example.com';
export const SHOPIFY_ID = '7301928374650192837';
export const RECHARGE_ID = '118273645';
export const CART = 'Z2NwLXVzLWVhc3QxOjAxSjk4';
export const CHECKOUT = 'c0a8f3e2d1b4a5968778695a4b3c2d1e';
export const ORDER = '5904832711894301745';
export const T0 = Date.parse('2026-11-20T18:40:00Z');

function commerce(p: Partial<CommerceProperties>): CommerceProperties {
  return {
    order_id: null, checkout_id: null, cart_id: null, product_id: null, variant_id: null, sku: null,
    subscription_id: null, charge_id: null, price: null, quantity: null, value: null, total: null,
    subtotal: null, tax: null, discount: null, currency: null, revenue: null, shipping: null, coupon: null, items: [], ...p,
  };
}

function item(sku: string, price: number, quantity: number): LineItem {
  return { product_id: null, variant_id: null, sku, name: null, price, quantity, category: null, subscription_eligible: null, brand: null, variant: null, coupon: null, position: null, url: null, image_url: null };
}

interface Spec {
  name: string;
  kind?: string;
  at: string;
  source: 'app' | 'shopify' | 'subscriptions';
  sourceId: string;
  ids: IdentifierSet;
  links?: boolean;
  dedupeKey?: string;
  policy: 'hold' | 'forward';
  commerce?: Partial<CommerceProperties>;
  attributes?: Record<string, string>;
  cartSnapshot?: CandidateEvent['cartSnapshot'];
}

export function candidate(s: Spec): CandidateEvent {
  const dedupeKey = s.dedupeKey ?? `${s.source}:${s.sourceId}`;
  const occurred = Date.parse(s.at);
  const event: CanonicalEvent = {
    event_id: deterministicUlid(dedupeKey, occurred),
    kind: s.kind ?? 'event',
    name: s.name,
    customer_id: null,
    anonymous_id: s.ids.anonymous_id ?? null,
    email: s.ids.email ?? null,
    occurred_at: occurred,
    received_at: occurred + 500,
    source: s.source,
    source_event_id: s.sourceId,
    source_type: null,
    tracking_version: '2026.11.1',
    schema_version: 1,
    tier: 1,
    validation_warnings: [],
    commerce: s.commerce === undefined ? null : commerce(s.commerce),
    properties: {},
    attributes: s.attributes ?? {},
    merge: null,
  };
  return {
    event, identifiers: s.ids, assertsLinks: s.links ?? false, dedupeKey, anonymousPolicy: s.policy,
    ...(s.cartSnapshot !== undefined ? { cartSnapshot: s.cartSnapshot } : {}),
  };
}

export const page = candidate({ name: 'page_viewed', kind: 'page', at: '2026-11-20T18:40:01.120Z', source: 'app', sourceId: 'm-0001', ids: { anonymous_id: ANON }, policy: 'forward' });
export const productViewed = candidate({ name: 'product_viewed', at: '2026-11-20T18:40:02.004Z', source: 'app', sourceId: 'm-0002', ids: { anonymous_id: ANON }, policy: 'forward', commerce: { sku: 'TEA-SENCHA-100', product_id: '8123456789012', price: 24, currency: 'USD' } });
export const addToCart = candidate({ name: 'added_to_cart', at: '2026-11-20T18:41:55.310Z', source: 'app', sourceId: 'm-0003', ids: { anonymous_id: ANON }, policy: 'hold', commerce: { sku: 'TEA-SENCHA-100', product_id: '8123456789012', price: 24, quantity: 2, currency: 'USD', cart_id: CART } });
export const identify = candidate({ name: 'identify', kind: 'identify', at: '2026-11-20T18:52:10.000Z', source: 'app', sourceId: 'm-0004', ids: { anonymous_id: ANON, customer_id: CUS, email: EMAIL, shopify_customer_id: SHOPIFY_ID }, links: true, policy: 'forward', attributes: { first_name: 'Maya' } });
export const cartsUpdate = candidate({ name: 'added_to_cart', at: '2026-11-20T18:52:19.000Z', source: 'shopify', sourceId: 'wh-cart-1:TEA-SENCHA-100', ids: { cart_token: CART }, policy: 'hold', commerce: { sku: 'TEA-SENCHA-100', quantity: 2, price: 24, cart_id: CART }, cartSnapshot: { cart_id: CART, line_key: 'TEA-SENCHA-100', quantity: 2 } });
export const appCheckout = candidate({ name: 'checkout_started', at: '2026-11-20T18:58:02.000Z', source: 'app', sourceId: 'm-0005', ids: { customer_id: CUS }, policy: 'hold', commerce: { cart_id: CART, checkout_id: CHECKOUT, value: 118.4, currency: 'USD' } });
export const shopifyCheckout = candidate({ name: 'checkout_started', at: '2026-11-20T18:58:02.000Z', source: 'shopify', sourceId: 'wh-checkout-1', ids: { shopify_customer_id: SHOPIFY_ID, email: EMAIL, checkout_token: CHECKOUT, cart_token: CART }, links: true, policy: 'hold', commerce: { cart_id: CART, checkout_id: CHECKOUT, value: 118.4, currency: 'USD', items: [item('TEA-SENCHA-100', 24, 2), item('3141592', 60, 1)] } });
const orderCommerce = { order_id: ORDER, checkout_id: CHECKOUT, cart_id: CART, total: 118.4, subtotal: 108, tax: 10.4, discount: 0, currency: 'USD', items: [item('TEA-SENCHA-100', 24, 2), item('3141592', 60, 1)] };
export const shopifyOrder = candidate({ name: 'order_completed', at: '2026-11-20T19:03:11.000Z', source: 'shopify', sourceId: ORDER, dedupeKey: `order_completed:${ORDER}`, ids: { shopify_customer_id: SHOPIFY_ID, email: EMAIL, cart_token: CART, checkout_token: CHECKOUT }, links: true, policy: 'hold', commerce: orderCommerce });
export const appOrder = candidate({ name: 'order_completed', at: '2026-11-20T19:03:12.000Z', source: 'app', sourceId: 'm-0006', dedupeKey: `order_completed:${ORDER}`, ids: { customer_id: CUS }, policy: 'hold', commerce: { order_id: ORDER, total: 118.4, currency: 'USD' } });
export const chargePaid = candidate({ name: 'subscription_charge_paid', at: '2026-12-20T08:00:03Z', source: 'subscriptions', sourceId: '731829100', dedupeKey: 'subscription_charge_paid:731829100', ids: { subscription_customer_id: RECHARGE_ID, email: EMAIL, shopify_customer_id: SHOPIFY_ID }, links: true, policy: 'hold', commerce: { charge_id: '731829100', order_id: '5904832711894309999', total: 21.6, currency: 'USD', items: [item('TEA-SENCHA-100', 21.6, 1)] } });

/** The journey in the order the sources sent it. */
export const journey: CandidateEvent[] = [page, productViewed, addToCart, identify, cartsUpdate, appCheckout, shopifyCheckout, shopifyOrder, appOrder, chargePaid];

/** Arrival time of a candidate: a second after it happened (the charge a month later). */
export function arrival(c: CandidateEvent): number {
  return c.event.occurred_at + 1000;
}

/** Compact view of emitted events for assertions. */
export function summary(r: Pick<StateResult, 'emit'>): string[] {
  return r.emit.map(({ key, event: e }) => {
    const extra = e.kind === 'merge' ? ` <- ${e.merge?.identifier_type}:${e.merge?.identifier}` : '';
    return `${key} ${e.kind}:${e.name} ${e.source}:${e.source_event_id}${extra}`;
  });
}
