import type { RawSubscriptionWebhook } from '@cio-pipeline/core/generated/avro-types';
import type { EventDraft, SourceMapping } from '../draft.ts';
import { get, isPlainObject, parseJsonLossless } from '../json.ts';
import { IDENTIFY, type TrackingPlan } from '@cio-pipeline/core';
import { bodyKey, draft, firstPresent, requireObject } from './common.ts';

type Body = Record<string, unknown>;

/**
 * When ingest could only infer the topic from the payload's top-level key (`charge`), the object's
 * status says which event it is. Statuses with no event of their own map to nothing (ignored).
 */
const CHARGE_STATUS_TOPIC: Record<string, string> = {
  success: 'charge/paid', error: 'charge/failed', failed: 'charge/failed', refunded: 'charge/refunded', partially_refunded: 'charge/refunded',
};
const SUBSCRIPTION_STATUS_TOPIC: Record<string, string> = { active: 'subscription/created', cancelled: 'subscription/cancelled' };

/** The full `<object>/<action>` topic, inferring the action from the payload's status when only the object is known. */
export function resolveRechargeTopic(topic: string, body: Body): string {
  const t = topic.trim().toLowerCase();
  if (t.includes('/')) return t;
  const status = String(get(body, t, 'status') ?? '').toLowerCase();
  if (t === 'charge') return CHARGE_STATUS_TOPIC[status] ?? `charge/${status || 'unknown'}`;
  if (t === 'subscription') return SUBSCRIPTION_STATUS_TOPIC[status] ?? `subscription/${status || 'unknown'}`;
  if (t === 'customer') return 'customer/updated';
  return `${t}/unknown`;
}

/** Recharge webhooks -> drafts. Payloads wrap the object in its type: `{"charge": {...}}`. */
export function mapRechargeWebhook(raw: RawSubscriptionWebhook, plan: TrackingPlan): SourceMapping {
  const body = requireObject(parseJsonLossless(raw.body), 'Recharge webhook');
  const topic = resolveRechargeTopic(raw.topic, body);
  const object = topic.split('/')[0] ?? '';
  const name = plan.sourceTopic('subscriptions', topic);
  const payload = body[object];
  if (name === undefined || !isPlainObject(payload)) return { drafts: [], ignored: [{ reason: 'ignored_topic', event_name: topic }] };

  const base = {
    kind: name === IDENTIFY ? ('identify' as const) : ('event' as const),
    name: name === IDENTIFY ? null : name,
    sourceEventId: raw.webhook_id ?? `${object}:${String(payload['id'] ?? raw.ingest_id)}`,
    sourceType: topic,
    deliveryKey: raw.webhook_id ? `subscriptions:${raw.webhook_id}` : bodyKey('subscriptions', topic, raw.body),
    fallbackOccurredAt: raw.received_at,
  };
  const reader = READERS[object];
  return reader ? { drafts: [draft({ ...base, ...reader(payload, topic) })], ignored: [] } : { drafts: [], ignored: [{ reason: 'ignored_topic', event_name: topic }] };
}

type Reader = (p: Body, topic: string) => Partial<EventDraft>;

/** API 2021-11 nests the Shopify id in external_customer_id.ecommerce; 2021-01 sent shopify_customer_id. */
function shopifyCustomerId(p: Body): unknown {
  return firstPresent(get(p, 'external_customer_id', 'ecommerce'), p['shopify_customer_id']);
}

const subscription: Reader = (p, topic) => ({
  properties: {
    subscription_id: p['id'],
    sku: p['sku'],
    name: p['product_title'],
    price: p['price'],
    quantity: p['quantity'],
    interval: interval(p),
    reason: topic.endsWith('/cancelled') ? p['cancellation_reason'] : undefined,
  },
  identifiers: {
    subscription_customer_id: p['customer_id'],
    // Older payloads carry these; 2021-11 subscriptions carry neither.
    email: p['email'],
    shopify_customer_id: shopifyCustomerId(p),
  },
  occurredAt: topic.endsWith('/cancelled') ? firstPresent(p['cancelled_at'], p['updated_at']) : firstPresent(p['created_at'], p['updated_at']),
  occurredAtField: topic.endsWith('/cancelled') ? 'cancelled_at' : 'created_at',
  assertsLinks: p['email'] !== undefined || shopifyCustomerId(p) !== undefined,
});

/** "1 month" from order_interval_frequency and order_interval_unit. */
function interval(p: Body): string | undefined {
  const unit = p['order_interval_unit'];
  if (typeof unit !== 'string' || unit === '') return undefined;
  const freq = p['order_interval_frequency'];
  return freq === undefined || freq === null ? unit : `${String(freq)} ${unit}`;
}

const charge: Reader = (p, topic) => {
  const customer = isPlainObject(p['customer']) ? p['customer'] : {};
  const items = Array.isArray(p['line_items'])
    ? p['line_items'].map((li: unknown) => isPlainObject(li)
      ? {
        sku: li['sku'],
        price: li['price'],
        quantity: li['quantity'],
        name: firstPresent(li['title'], li['product_title']),
        product_id: firstPresent(get(li, 'external_product_id', 'ecommerce'), li['shopify_product_id']),
        variant_id: firstPresent(get(li, 'external_variant_id', 'ecommerce'), li['shopify_variant_id']),
      }
      : li)
    : undefined;
  if (topic.endsWith('/refunded')) return { ...chargeBase(p), properties: chargeRefund(p, items) };
  return {
    properties: {
      charge_id: p['id'],
      total: p['total_price'],
      currency: p['currency'],
      items,
      order_id: firstPresent(get(p, 'external_order_id', 'ecommerce'), p['shopify_order_id']),
      reason: topic.endsWith('/failed') ? firstPresent(p['error'], p['error_type']) : undefined,
    },
    identifiers: {
      subscription_customer_id: firstPresent(customer['id'], p['customer_id']),
      email: firstPresent(customer['email'], p['email']),
      shopify_customer_id: firstPresent(shopifyCustomerId(customer), p['shopify_customer_id']),
    },
    occurredAt: firstPresent(p['processed_at'], p['updated_at'], p['created_at']),
    occurredAtField: 'processed_at',
    // A charge names the subscriber, their email and their Shopify customer at once.
    assertsLinks: true,
  };
};

/**
 * charge/refunded reports the charge's refunds so far (`total_refunds`), not one refund: the refund
 * id is the charge id with that running total, so each further partial refund is a new fact. The
 * order it refers to is the Shopify order the charge created.
 */
function chargeRefund(p: Body, items: unknown): Record<string, unknown> {
  const refunded = firstPresent(p['total_refunds'], p['total_refunded']);
  return {
    order_id: firstPresent(get(p, 'external_order_id', 'ecommerce'), p['shopify_order_id']),
    refund_id: refunded === undefined ? undefined : `charge:${String(p['id'])}:${String(refunded)}`,
    charge_id: p['id'],
    // A running total: the state stage turns it into the money refunded since the last report.
    total: refunded,
    refunded_to_date: refunded,
    currency: p['currency'],
    reason: firstPresent(p['refund_reason'], p['note']),
    items,
  };
}

/** Who a charge names, and when it happened: the same for every charge topic. */
function chargeBase(p: Body): Partial<EventDraft> {
  const customer = isPlainObject(p['customer']) ? p['customer'] : {};
  return {
    identifiers: {
      subscription_customer_id: firstPresent(customer['id'], p['customer_id']),
      email: firstPresent(customer['email'], p['email']),
      shopify_customer_id: firstPresent(shopifyCustomerId(customer), p['shopify_customer_id']),
    },
    occurredAt: firstPresent(p['updated_at'], p['processed_at'], p['created_at']),
    occurredAtField: 'updated_at',
    assertsLinks: true,
  };
}

const customer: Reader = (p) => ({
  attributes: {
    first_name: p['first_name'],
    last_name: p['last_name'],
    phone: p['phone'],
    subscription_customer_id: p['id'],
    shopify_customer_id: shopifyCustomerId(p),
  },
  identifiers: { subscription_customer_id: p['id'], email: p['email'], shopify_customer_id: shopifyCustomerId(p) },
  occurredAt: firstPresent(p['updated_at'], p['created_at']),
  occurredAtField: 'updated_at',
  assertsLinks: true,
});

const READERS: Record<string, Reader | undefined> = { subscription, charge, customer };
