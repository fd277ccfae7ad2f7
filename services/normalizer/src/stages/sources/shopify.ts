import type { RawShopifyWebhook } from '@cio-pipeline/core/generated/avro-types';
import { InvalidValue, toMoney, toTimestampMs } from '../coerce.ts';
import { addMoney } from '../money.ts';
import type { EventDraft, SourceMapping } from '../draft.ts';
import { get, isPlainObject, parseJsonLossless } from '../json.ts';
import { IDENTIFY, type TrackingPlan } from '@cio-pipeline/core';
import { bodyKey, browserTraffic, draft, firstPresent, requireObject } from './common.ts';

export interface ShopifyOptions {
  /** Order topics that become a purchase (default orders/create; orders/paid when configured). */
  orderTopics: readonly string[];
}

type Body = Record<string, unknown>;
type Family = (body: Body, base: Base) => EventDraft[];
interface Base {
  name: string;
  topic: string;
  sourceEventId: string;
  deliveryKey: string;
  fallbackOccurredAt: number;
}

/**
 * Shopify webhooks -> drafts. The plan's `source_topics.shopify` names the event a topic becomes;
 * this file only knows how each payload family is read. Throws UnparseableBodyError for a body
 * that is not a JSON object.
 */
export function mapShopifyWebhook(raw: RawShopifyWebhook, plan: TrackingPlan, options: ShopifyOptions): SourceMapping {
  const topic = raw.topic.trim().toLowerCase();
  const family = FAMILIES[topic.split('/')[0] ?? ''];
  const name = plan.sourceTopic('shopify', topic);
  // NORMALIZER_ORDER_TOPICS picks which order topics count as the purchase; a cancellation is not one.
  const isOrderTopic = topic.startsWith('orders/') && topic !== 'orders/cancelled';
  if (!family || name === undefined || (isOrderTopic && !options.orderTopics.includes(topic))) {
    return { drafts: [], ignored: [{ reason: 'ignored_topic', event_name: topic }] };
  }
  const body = requireObject(parseJsonLossless(raw.body), `Shopify ${topic}`);
  const triggered = raw.triggered_at ? toTimestampMs(raw.triggered_at) : null;
  const base: Base = {
    name,
    topic,
    sourceEventId: raw.webhook_id ?? raw.ingest_id,
    deliveryKey: deliveryKeyOf(raw, topic),
    fallbackOccurredAt: triggered?.ok ? triggered.value : raw.received_at,
  };
  return { drafts: family(body, base), ignored: [] };
}

/**
 * What makes two deliveries the same fact. A customer webhook is a profile snapshot with no plan
 * dedupe key, and the webhook id is not signed: keyed by it, one signed body replayed under new ids
 * made a new identify each time. Its content is its business key (a real change moves updated_at).
 */
function deliveryKeyOf(raw: RawShopifyWebhook, topic: string): string {
  if (topic.startsWith('customers/')) return bodyKey('shopify', 'customers', raw.body);
  return raw.webhook_id ? `shopify:${raw.webhook_id}` : bodyKey('shopify', topic, raw.body);
}

function common(base: Base, fields: Partial<EventDraft>): EventDraft {
  return draft({
    kind: base.name === IDENTIFY ? 'identify' : 'event',
    name: base.name,
    sourceEventId: base.sourceEventId,
    sourceType: base.topic,
    deliveryKey: base.deliveryKey,
    fallbackOccurredAt: base.fallbackOccurredAt,
    ...fields,
  });
}

/** Email from the order or checkout itself, else its customer; coerced (trimmed, lower-cased) later. */
function emailOf(body: Body): unknown {
  return firstPresent(body['email'], body['contact_email'], get(body, 'customer', 'email'));
}

const orders: Family = (body, base) => [
  common(base, {
    properties: {
      ...(base.topic === 'orders/cancelled' ? { reason: body['cancel_reason'] } : {}),
      order_id: body['id'],
      order_name: body['name'],
      order_number: body['order_number'],
      total: body['total_price'],
      subtotal: body['subtotal_price'],
      tax: body['total_tax'],
      discount: body['total_discounts'],
      currency: firstPresent(body['currency'], body['presentment_currency']),
      items: body['line_items'],
      checkout_id: body['checkout_token'],
      cart_id: body['cart_token'],
    },
    identifiers: {
      email: emailOf(body),
      shopify_customer_id: get(body, 'customer', 'id'),
      cart_token: body['cart_token'],
      checkout_token: body['checkout_token'],
    },
    ...(base.topic === 'orders/cancelled'
      ? { occurredAt: firstPresent(body['cancelled_at'], body['updated_at']), occurredAtField: 'cancelled_at' }
      : { occurredAt: firstPresent(body['processed_at'], body['created_at']), occurredAtField: 'created_at' }),
    traffic: browserTraffic(body),
    // An order names its buyer: it ties the email, Shopify customer, cart and checkout together.
    assertsLinks: true,
  }),
];

const checkouts: Family = (body, base) => [
  common(base, {
    properties: {
      checkout_id: body['token'],
      cart_id: body['cart_token'],
      value: body['total_price'],
      currency: body['currency'],
      items: body['line_items'],
      checkout_url: body['abandoned_checkout_url'],
    },
    identifiers: {
      email: emailOf(body),
      shopify_customer_id: get(body, 'customer', 'id'),
      cart_token: body['cart_token'],
      checkout_token: body['token'],
    },
    occurredAt: body['created_at'],
    occurredAtField: 'created_at',
    // A checkout is where an anonymous cart gets an email: the link cart recovery depends on.
    assertsLinks: true,
  }),
];

/**
 * Carts carry no email, customer or currency, and a cart webhook is the cart's whole current state,
 * not a change. The previous state lives in the state stage, so this emits one draft per line item
 * with its current quantity and the state stage diffs against the last seen cart (emitting
 * added_to_cart only for new or increased lines). The delivery key gets a per-line suffix.
 */
const carts: Family = (body, base) => {
  const token = firstPresent(body['token'], body['id']);
  const lines = Array.isArray(body['line_items']) ? body['line_items'] : [];
  return lines.map((line: unknown, i) => {
    const item = isPlainObject(line) ? line : {};
    const lineKey = firstPresent(item['key'], item['id'], item['variant_id'], item['sku']);
    const suffix = lineKey === undefined ? String(i) : String(isPlainObject(lineKey) ? i : (lineKey as { toString(): string }).toString());
    return common(base, {
      properties: {
        sku: item['sku'],
        quantity: item['quantity'],
        product_id: item['product_id'],
        variant_id: item['variant_id'],
        price: item['price'],
        name: item['title'],
        cart_id: token,
      },
      identifiers: { cart_token: token },
      occurredAt: firstPresent(body['updated_at'], body['created_at']),
      occurredAtField: 'updated_at',
      deliveryKey: `${base.deliveryKey}:${suffix}`,
      fieldPrefix: `line_items[${i}].`,
      cartSnapshotLine: true,
    });
  });
};

const customers: Family = (body, base) => [
  common(base, {
    kind: 'identify',
    name: null,
    attributes: {
      first_name: body['first_name'],
      last_name: body['last_name'],
      phone: body['phone'] ?? undefined,
      shopify_customer_id: body['id'],
      verified_email: body['verified_email'],
    },
    identifiers: { email: body['email'], shopify_customer_id: body['id'] },
    occurredAt: firstPresent(body['updated_at'], body['created_at']),
    occurredAtField: 'updated_at',
    assertsLinks: true,
  }),
];

/**
 * refunds/create: the money is the sum of the refund's successful refund transactions; the
 * refunded line items carry the quantity refunded. It names no customer: the order does (state).
 */
const refunds: Family = (body, base) => {
  const sent = body['transactions'];
  // Each successful refund transaction with its place in `transactions`, for reasons.
  const refunded = (Array.isArray(sent) ? sent : []).flatMap((t: unknown, i) =>
    isPlainObject(t) && t['kind'] === 'refund' && (t['status'] === undefined || t['status'] === 'success') ? [{ t, where: `transactions[${i}].amount` }] : []);
  const transactions = refunded.map(({ t }) => t);
  const lines = Array.isArray(body['refund_line_items']) ? body['refund_line_items'] : [];
  const currency = firstPresent(
    ...transactions.map((t) => t['currency']),
    ...lines.map((rl: unknown) => get(rl, 'subtotal_set', 'shop_money', 'currency_code')),
  );
  return [common(base, {
    properties: {
      order_id: body['order_id'],
      refund_id: body['id'],
      // No successful refund transaction (a restock-only refund): no money went back.
      total: Array.isArray(sent) ? sumAmounts(refunded.map(({ t, where }) => ({ amount: t['amount'], where })), currency) : undefined,
      currency,
      reason: body['note'],
      items: lines.map((rl: unknown) => {
        const r = isPlainObject(rl) ? rl : {};
        const li = isPlainObject(r['line_item']) ? r['line_item'] : {};
        return { ...li, quantity: firstPresent(r['quantity'], li['quantity']) };
      }),
    },
    occurredAt: firstPresent(body['processed_at'], body['created_at']),
    occurredAtField: 'processed_at',
    personFromOrder: true,
  })];
};

/**
 * Sum of a refund's transaction amounts ("10.00", as strings or numbers), in whole minor units of
 * the refund's currency (money.ts), as the ledger adds money. Each amount is read exactly as
 * coercion reads money (toMoney). An amount that is not money, or is negative, makes the total an
 * InvalidValue: the refund fails coercion (invalid_type on total, naming the transaction) instead of
 * counting a total made of the other transactions. Negative amounts are refused rather than
 * subtracted: a refund transaction is money going back to the shopper (Shopify sends it positive,
 * the kind says the direction), so a negative one contradicts its kind.
 */
function sumAmounts(amounts: ReadonlyArray<{ amount: unknown; where: string }>, currency: unknown): unknown {
  const code = typeof currency === 'string' ? currency.trim().toUpperCase() : null;
  let total = 0;
  for (const { amount, where } of amounts) {
    const n = toMoney(amount);
    if (!n.ok) return new InvalidValue(`${where}: ${n.message}`);
    if (n.value < 0) return new InvalidValue(`${where}: a refund transaction of ${n.value} is negative, a refund returns money`);
    total = addMoney(total, n.value, code);
  }
  return total;
}

const FAMILIES: Record<string, Family | undefined> = { orders, checkouts, carts, customers, refunds };
