import { mulberry32 } from '@cio-pipeline/core';
/**
 * A large, realistic raw stream for the normalizer's load tests and benchmarks, built the way ingest
 * writes it (Avro envelopes, keyed like ingest keys them), and the canonical events the same stream
 * yields when run through the stateless and state stages in-process.
 *
 * Deterministic (seeded), and shaped so the expected output does not depend on how partitions
 * interleave: each person's raw events are in one partition of one topic (app users keyed by their
 * user id; Shopify buyers, a separate set of people, keyed by their Shopify customer id), so per
 * person the normalizer sees them in one order whatever the number of instances.
 */
import type { RawAppMessage, RawShopifyWebhook, RawSubscriptionWebhook } from '@cio-pipeline/core/generated/avro-types';
import type { ServiceConfig } from '../src/service-config.ts';
import { createStateConfig } from '../src/state/config.ts';
import { createStateStage, type KeyedEvent, type StateStage } from '../src/state/state-stage.ts';
import { createStatelessPipeline, pipelineOptionsFromConfig } from '../src/stages/stateless.ts';
import { loadTrackingPlan } from '@cio-pipeline/core';

export type SyntheticRecord =
  | { source: 'app'; key: string; value: RawAppMessage }
  | { source: 'shopify'; key: string; value: RawShopifyWebhook }
  | { source: 'subscriptions'; key: string; value: RawSubscriptionWebhook };

export interface StreamOptions {
  /** App track events (before duplicates). */
  appEvents: number;
  /** Known app users the events are spread over (`cus_<n>`). */
  people: number;
  /** Share of app events delivered a second time with the same messageId (a client retry). */
  duplicateRate: number;
  /**
   * Share of app events sent before the shopper logged in, under `anon-<n>` only; the person's
   * first known event is preceded by an identify linking the anonymous id (and an email).
   * 0 keeps every person in one partition.
   */
  anonymousRate?: number;
  /** Shopify orders/create webhooks (before duplicates), from buyers distinct from the app users. */
  shopifyOrders: number;
  /** Share of orders delivered again under a new webhook id (Shopify's retry): deduped by order id. */
  orderDuplicateRate: number;
  seed?: number;
}

/** Event times: from here on, one second apart per record. */
export const STREAM_T0 = Date.parse('2026-11-01T00:00:00Z');

const prng = mulberry32;

function appRecord(body: Record<string, unknown>, at: number): { key: string; value: RawAppMessage } {
  const value: RawAppMessage = {
    ingest_id: `ing-${String(body['messageId'])}`,
    received_at: at + 500,
    write_key_id: 'store-app',
    type: String(body['type']),
    message_id: String(body['messageId']),
    message_id_generated: false,
    timestamp: at,
    sent_at: null,
    ip: '203.0.113.24',
    user_agent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
    body: Buffer.from(JSON.stringify(body)),
    rejection: null,
  };
  return { key: String(body['userId'] ?? body['anonymousId']), value };
}

const SKUS = ['TEA-SENCHA-100', 'TEA-GENMAI-50', 'TEA-HOJICHA-80', 'POT-KYUSU-1', 'CUP-YUNOMI-2'];

function track(event: string, ids: { userId?: string; anonymousId?: string }, messageId: string, at: number, sku: string): Record<string, unknown> {
  const properties: Record<string, unknown> = event === 'Product Viewed'
    ? { sku, product_id: '8123456789012', price: '24.00', currency: 'usd' }
    : { sku, product_id: '8123456789012', price: 24, quantity: '1', currency: 'USD' };
  return { type: 'track', ...ids, messageId, event, properties, timestamp: new Date(at).toISOString() };
}

/** A Shopify orders/create delivery; without `customerId` the order carries only its email. */
export function shopifyOrderRecord(o: { orderId: string; customerId?: string; email: string; at: number; webhookId: string }): { source: 'shopify'; key: string; value: RawShopifyWebhook } {
  const customer = o.customerId === undefined ? '' : ` "customer": {"id": ${o.customerId}, "email": "${o.email}", "first_name": "Buyer", "last_name": "${o.customerId}"},`;
  // Raw JSON text so the ids keep every digit, as Shopify sends them.
  const body = `{"id": ${o.orderId}, "email": "${o.email}", "created_at": "${new Date(o.at).toISOString()}", "currency": "usd",`
    + ` "financial_status": "paid", "total_price": "66.00", "subtotal_price": "60.00", "total_discounts": "0.00", "total_tax": "6.00",`
    + ` "checkout_token": "chk-${o.orderId}", "cart_token": "cart-${o.orderId}",${customer}`
    + ` "line_items": [{"id": 1${o.orderId.slice(1)}, "product_id": 8123456789012, "variant_id": 45012345678901, "sku": "TEA-SENCHA-100", "title": "Sencha 100g", "price": "24.00", "quantity": 2},`
    + ` {"id": 2${o.orderId.slice(1)}, "product_id": 8123456789014, "variant_id": null, "sku": 3141592, "title": "Yunomi", "price": "12.00", "quantity": 1}]}`;
  const value: RawShopifyWebhook = {
    ingest_id: `ing-${o.webhookId}`,
    received_at: o.at + 2000,
    topic: 'orders/create',
    shop_domain: 'tea-example.myshopify.com',
    webhook_id: o.webhookId,
    event_id: null,
    triggered_at: null,
    api_version: '2025-10',
    body: Buffer.from(body),
  };
  // Ingest keys a Shopify webhook by its customer, else by what identifies the order.
  return { source: 'shopify', key: o.customerId ?? o.email, value };
}

function shopifyOrder(orderId: string, buyer: number, at: number, webhookId: string): { source: 'shopify'; key: string; value: RawShopifyWebhook } {
  // Customer ids above 2^53, as Shopify's are.
  return shopifyOrderRecord({ orderId, customerId: `80${String(buyer).padStart(17, '0')}`, email: `buyer${buyer}@example.com`, at, webhookId });
}

/**
 * The stream, in the order it is produced. Duplicates of app events go out either right after the
 * original or at the end of the stream (same key, so same partition, later offset), so some of them
 * straddle transactions, a crash and a restart.
 */
export function syntheticStream(opts: StreamOptions): SyntheticRecord[] {
  const random = prng(opts.seed ?? 42);
  const out: SyntheticRecord[] = [];
  const late: SyntheticRecord[] = [];
  const anonymousRate = opts.anonymousRate ?? 0;
  const identified = new Set<number>();
  // Each person browses anonymously for their first few events (on average `anonymousRate` of them), then logs in.
  const perPerson = opts.appEvents / opts.people;
  const anonymousLeft = new Map<number, number>();
  const anonymousBudget = (p: number): number => {
    let left = anonymousLeft.get(p);
    if (left === undefined) anonymousLeft.set(p, (left = Math.floor(random() * (2 * anonymousRate * perPerson + 1))));
    return left;
  };
  let t = STREAM_T0;
  let appLeft = opts.appEvents;
  let ordersLeft = opts.shopifyOrders;
  let i = 0;
  while (appLeft > 0 || ordersLeft > 0) {
    t += 1000;
    // Orders spread evenly through the app traffic.
    if (ordersLeft > 0 && (appLeft === 0 || random() < opts.shopifyOrders / (opts.appEvents + opts.shopifyOrders))) {
      const k = opts.shopifyOrders - ordersLeft--;
      const orderId = `59${String(k).padStart(17, '0')}`;
      const buyer = Math.floor(k / 2); // two orders per buyer
      out.push(shopifyOrder(orderId, buyer, t, `wh-${k}`));
      if (random() < opts.orderDuplicateRate) {
        const retry: SyntheticRecord = shopifyOrder(orderId, buyer, t, `wh-${k}-retry`);
        (random() < 0.5 ? out : late).push(retry);
      }
      continue;
    }
    appLeft--;
    const p = Math.floor(random() * opts.people);
    const sku = SKUS[i % SKUS.length]!;
    const event = random() < 0.7 ? 'Product Viewed' : 'Product Added';
    const messageId = `ld-${i++}`;
    let body: Record<string, unknown>;
    if (anonymousRate > 0 && !identified.has(p) && anonymousBudget(p) > 0) {
      anonymousLeft.set(p, anonymousBudget(p) - 1);
      body = track(event, { anonymousId: `anon-${p}` }, messageId, t, sku);
    } else {
      if (anonymousRate > 0 && !identified.has(p)) {
        // The login: links the anonymous id (and an email) before the person's first known event.
        identified.add(p);
        out.push({ source: 'app', ...appRecord({
          type: 'identify', userId: `cus_${p}`, anonymousId: `anon-${p}`, messageId: `id-${p}`,
          traits: { email: `shopper${p}@example.com`, first_name: 'Shopper' }, timestamp: new Date(t).toISOString(),
        }, t) });
        t += 1000;
      }
      body = track(event, { userId: `cus_${p}` }, messageId, t, sku);
    }
    const record: SyntheticRecord = { source: 'app', ...appRecord(body, t) };
    out.push(record);
    if (random() < opts.duplicateRate) (random() < 0.5 ? out : late).push({ ...record });
  }
  return [...out, ...late];
}

/** The service config's view of the stages, for running them in-process exactly as the service does. */
export type StageConfig = Pick<ServiceConfig, 'stages' | 'state'>;

export interface InProcessRun {
  emitted: KeyedEvent[];
  state: StateStage;
}

/**
 * Runs the records through the same stateless and state stages the service builds, one record per
 * batch, in the given order (per partition, the order the service sees). Nothing may stay held:
 * a stream that holds events is settled with `expire(settleAt)`.
 */
export function runInProcess(records: readonly SyntheticRecord[], config: StageConfig, opts: { now?: number; settleAt?: number; allowQuarantine?: boolean } = {}): InProcessRun {
  const plan = loadTrackingPlan(config.stages.trackingPlanPath);
  const stateless = createStatelessPipeline({ plan, options: pipelineOptionsFromConfig(config.stages) });
  const state = createStateStage(createStateConfig(plan, config.state));
  const emitted: KeyedEvent[] = [];
  const now = opts.now ?? Date.now();
  let offset = 0;
  for (const r of records) {
    const coordinates = { topic: `raw.${r.source}`, partition: 0, offset: String(offset++), key: Buffer.from(r.key) };
    const result = stateless.process({ source: r.source, envelope: r.value, schemaVersion: 1, coordinates, receivedAt: r.value.received_at });
    if (result.quarantine && opts.allowQuarantine) continue;
    if (result.quarantine) throw new Error(`synthetic record quarantined: ${JSON.stringify(result.quarantine)}`);
    emitted.push(...state.apply(result.candidates, now).emit);
    // Every batch "commits" here: nothing is ever rolled back.
    void state.commit();
  }
  if (opts.settleAt !== undefined) emitted.push(...state.expire(opts.settleAt).emit);
  return { emitted, state };
}
