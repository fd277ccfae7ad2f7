import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { RawShopifyWebhook } from '@cio-pipeline/core/generated/avro-types';
import { badRequest, unauthorized } from './errors.ts';
import { getIdString, isObject, parseJsonBody } from './lossless-json.ts';
import type { RawRecord } from './raw-writer.ts';
import { header, type IngestRequest } from './request-context.ts';
import { isBase64Digest, verifyShopifyHmac } from './signatures.ts';

export interface ShopifyOptions {
  secrets: readonly string[];
  topic: string;
}

/**
 * Before the body is read: the HMAC needs the body, but a missing signature, or one that is not a
 * base64 SHA-256 digest, can never match, so it is refused without reading anything.
 */
export function checkShopifyHeaders(headers: IncomingHttpHeaders): void {
  const hmac = header(headers, 'x-shopify-hmac-sha256');
  if (hmac === undefined) throw unauthorized('missing_signature', 'X-Shopify-Hmac-Sha256 header is required');
  if (!isBase64Digest(hmac, 32)) throw unauthorized('bad_signature', 'X-Shopify-Hmac-Sha256 does not match the body');
}

/**
 * A Shopify webhook: HMAC over the raw bytes first, then a lossless parse only to validate and to
 * find the partition key. The body goes to Kafka byte for byte.
 */
export function shopifyRecords(req: IngestRequest, opts: ShopifyOptions): RawRecord[] {
  checkShopifyHeaders(req.headers);
  if (!verifyShopifyHmac(req.body, header(req.headers, 'x-shopify-hmac-sha256'), opts.secrets)) {
    throw unauthorized('bad_signature', 'X-Shopify-Hmac-Sha256 does not match the body');
  }
  const topic = header(req.headers, 'x-shopify-topic');
  if (topic === undefined) throw badRequest('missing_topic', 'X-Shopify-Topic header is required');
  const { value } = parseJsonBody(req.body);
  if (!isObject(value)) throw badRequest('bad_json', 'request body must be a JSON object');
  if (!bodyFitsTopic(topic, value)) {
    throw unauthorized('topic_mismatch', 'the signed body does not fit X-Shopify-Topic (the topic header is not covered by the HMAC)');
  }
  const webhookId = header(req.headers, 'x-shopify-webhook-id') ?? null;
  const record: RawShopifyWebhook = {
    ingest_id: randomUUID(),
    received_at: req.receivedAt,
    topic,
    shop_domain: header(req.headers, 'x-shopify-shop-domain') ?? null,
    webhook_id: webhookId,
    event_id: header(req.headers, 'x-shopify-event-id') ?? null,
    triggered_at: header(req.headers, 'x-shopify-triggered-at') ?? null,
    api_version: header(req.headers, 'x-shopify-api-version') ?? null,
    body: req.body,
  };
  return [{ topic: opts.topic, key: shopifyKey(topic, value) ?? webhookId, value: record }];
}

/**
 * Members whose presence tells payload families apart (Shopify's documented shapes): only orders
 * carry an order number and a financial status; only orders, checkouts and carts have line items;
 * carts carry no email or customer.
 */
const ORDER = { requiresOneOf: ['order_number', 'financial_status'], forbids: [] };
const CHECKOUT = { requiresOneOf: ['token'], forbids: ['order_number', 'financial_status'] };
const CUSTOMER = { requiresOneOf: ['id'], forbids: ['line_items', 'order_number', 'financial_status'] };
const CART = { requiresOneOf: ['token', 'id'], forbids: ['order_number', 'financial_status', 'email', 'customer'] };
/** Only topics whose payload is the whole object; others (orders/edited, customers/redact, ...) differ. */
const TOPIC_SHAPES: Record<string, { requiresOneOf: readonly string[]; forbids: readonly string[] }> = {
  'orders/create': ORDER,
  'orders/updated': ORDER,
  'orders/paid': ORDER,
  'orders/cancelled': ORDER,
  'orders/fulfilled': ORDER,
  'orders/partially_fulfilled': ORDER,
  'checkouts/create': CHECKOUT,
  'checkouts/update': CHECKOUT,
  'customers/create': CUSTOMER,
  'customers/update': CUSTOMER,
  'customers/enable': CUSTOMER,
  'customers/disable': CUSTOMER,
  'carts/create': CART,
  'carts/update': CART,
};

/**
 * X-Shopify-Topic is not signed: a signed orders body resent as `checkouts/create` made a fake
 * checkout. A body that contradicts its topic's family is refused as unauthentic (401), not stored
 * for the normalizer: Shopify itself never sends one, so only a replay lands here. The rules are
 * deliberately few and coarse, so a field Shopify adds cannot make a genuine webhook fail, and only
 * the topics listed above are judged.
 */
export function bodyFitsTopic(topic: string, body: Record<string, unknown>): boolean {
  const shape = TOPIC_SHAPES[topic.trim().toLowerCase()];
  if (shape === undefined) return true;
  const has = (member: string): boolean => Object.hasOwn(body, member) && body[member] !== null;
  return shape.requiresOneOf.some(has) && !shape.forbids.some(has);
}

/**
 * The shopper's key, ids as sent (digits kept): the customer id where the payload has one, else the
 * cart token, else the checkout token. Carts carry no customer: their token is the only link.
 */
export function shopifyKey(topic: string, body: unknown): string | null {
  if (topic.startsWith('customers/')) return getIdString(body, ['id']);
  const isCart = topic.startsWith('carts/');
  const isCheckout = topic.startsWith('checkouts/');
  return (
    getIdString(body, ['customer', 'id']) ??
    getIdString(body, ['cart_token']) ??
    (isCart ? getIdString(body, ['token']) ?? getIdString(body, ['id']) : null) ??
    getIdString(body, ['checkout_token']) ??
    (isCheckout ? getIdString(body, ['token']) : null)
  );
}
