/**
 * Issue #20 through the real broker and registry: for every form of the order id the app reports
 * (numeric id, GraphQL id, name, order number, checkout token) and every arrival order (app first,
 * Shopify first, Shopify's webhook retried after both), exactly one order_completed with the
 * store's numeric id, and exactly one purchase in the profile rollup.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde, createRegistry, loadAvroSchema, topicNames, valueSubject, type Kafka, type Topics } from '@cio-pipeline/core';
import type { CanonicalEvent, RawAppMessage, RawShopifyWebhook } from '@cio-pipeline/core/generated/avro-types';
import { startNormalizer, type NormalizerService } from '../src/app.ts';
import { loadServiceConfig } from '../src/service-config.ts';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { appEnvelope, shopifyEnvelope } from '../../../test/support/raw-events.ts';
import { readTopic } from '../../../test/support/read-topic.ts';
import { anyError, eventually } from '../../../test/support/eventually.ts';

const PLAN_PATH = new URL('../../../schemas/tracking-plan.yaml', import.meta.url).pathname;

type Form = 'numeric id' | 'GraphQL id' | 'name' | 'number' | 'checkout token';
type Arrival = 'app first' | 'Shopify first';
const FORMS: Form[] = ['numeric id', 'GraphQL id', 'name', 'number', 'checkout token'];
const ARRIVALS: Arrival[] = ['app first', 'Shopify first'];

/** One shopper and one order per case; ids above 2^53, written as JSON numbers as Shopify does. */
interface Case {
  form: Form;
  arrival: Arrival;
  customer: string;
  email: string;
  orderId: string;
  name: string;
  number: number;
  checkoutToken: string;
  total: number;
}

function cases(run: string): Case[] {
  return FORMS.flatMap((form, f) => ARRIVALS.map((arrival, a) => {
    const n = f * 2 + a;
    return {
      form, arrival,
      customer: `cus-${run}-${n}`,
      email: `shopper.${run}.${n}@example.com`,
      orderId: `90071992857177${String(10 + n)}`,
      name: `#H${44180 + n}`,
      number: 44180 + n,
      checkoutToken: `${run}${String(n).padStart(2, '0')}`.padEnd(32, 'c'),
      total: 40 + n,
    };
  }));
}

function formOf(c: Case): string {
  switch (c.form) {
    case 'numeric id': return c.orderId;
    case 'GraphQL id': return `gid://shopify/Order/${c.orderId}`;
    case 'name': return c.name;
    case 'number': return String(c.number);
    case 'checkout token': return c.checkoutToken;
  }
}

/** orders/create as Shopify sends it (the id a bare JSON number, beyond 2^53). */
function shopifyOrder(c: Case): Buffer {
  return Buffer.from(`{"id":${c.orderId},"admin_graphql_api_id":"gid://shopify/Order/${c.orderId}","name":"${c.name}",`
    + `"order_number":${c.number},"email":"${c.email}","created_at":"2026-11-20T14:03:11-05:00","currency":"USD",`
    + `"total_price":"${c.total.toFixed(2)}","subtotal_price":"${c.total.toFixed(2)}","total_tax":"0.00","total_discounts":"0.00",`
    + `"checkout_token":"${c.checkoutToken}","line_items":[{"id":1,"product_id":8123456789012,"variant_id":44012345678901,`
    + `"sku":"TEA-SENCHA-100","title":"Sencha","quantity":1,"price":"${c.total.toFixed(2)}"}]}`);
}

function appMessages(c: Case): RawAppMessage[] {
  return [
    appEnvelope({ type: 'identify', userId: c.customer, messageId: `${c.customer}-id`, traits: { email: c.email }, timestamp: '2026-11-20T19:00:00.000Z' }),
    appEnvelope({
      type: 'track', userId: c.customer, messageId: `${c.customer}-order`, event: 'Order Completed',
      properties: { order_id: formOf(c), total: c.total, currency: 'USD' }, timestamp: '2026-11-20T19:03:12.000Z',
    }),
  ];
}

describe('one purchase whatever form of the order id, through the real broker', () => {
  const prefix = `${uniqueName('orderids')}.`;
  const topics: Topics = topicNames(prefix);
  const groupId = uniqueName('normalizer');
  const all = cases(uniqueName('r').replace(/[^a-z0-9]/g, '').slice(-6));
  let kafka: Kafka;
  let service: NormalizerService;
  let shopifySerde: AvroSerde<RawShopifyWebhook>;
  let appSerde: AvroSerde<RawAppMessage>;
  let canonical: AvroSerde<CanonicalEvent>;
  let config: ReturnType<typeof loadServiceConfig>;

  beforeAll(async () => {
    kafka = testKafka();
    const { brokers, registryUrl } = stackInfo();
    config = loadServiceConfig({
      KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix,
      NORMALIZER_GROUP_ID: groupId, NORMALIZER_OPS_PORT: '0', NORMALIZER_TRACKING_PLAN: PLAN_PATH,
      NORMALIZER_FUTURE_TOLERANCE_MS: String(10 * 365 * 86_400_000),
      // Long enough that every app-first purchase is still waiting when Shopify's webhook comes.
      NORMALIZER_COMPLETENESS_HOLD_MS: '120000', NORMALIZER_SWEEP_INTERVAL_MS: '200',
    });
    service = await startNormalizer(config, quietLogger);
    const registry = createRegistry(registryUrl);
    shopifySerde = new AvroSerde({ registry, registryUrl, subject: valueSubject(topics.rawShopify), schema: loadAvroSchema('raw-shopify') });
    appSerde = new AvroSerde({ registry, registryUrl, subject: valueSubject(topics.rawApp), schema: loadAvroSchema('raw-app') });
    for (const s of [shopifySerde, appSerde]) await s.init({ register: true, compatibility: 'BACKWARD_TRANSITIVE' });
    canonical = new AvroSerde({ registry, registryUrl, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
  });

  afterAll(async () => {
    await service?.stop();
  });

  async function send(app: RawAppMessage[], shopify: Array<{ key: string; value: RawShopifyWebhook }>): Promise<void> {
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    if (app.length > 0) {
      await producer.send({ topic: topics.rawApp, acks: -1, messages: app.map((m) => ({ key: JSON.parse(m.body.toString()).userId as string, value: appSerde.encode(m) })) });
    }
    if (shopify.length > 0) {
      await producer.send({ topic: topics.rawShopify, acks: -1, messages: shopify.map((m) => ({ key: m.key, value: shopifySerde.encode(m.value) })) });
    }
    await producer.disconnect();
  }

  /** Waits until the normalizer committed every raw record written so far: the arrival order is then fixed. */
  async function consumedAll(): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await eventually('the normalizer to commit every raw record', async () => {
        for (const topic of [topics.rawApp, topics.rawShopify]) {
          const ends = await admin.fetchTopicOffsets(topic);
          const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
          for (const end of ends) {
            const at = committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
            if (Number(end.high) > 0 && Number(at) < Number(end.high)) return false;
          }
        }
        return true;
      }, { timeoutMs: 60_000, intervalMs: 300, retryOn: anyError });
    } finally {
      await admin.disconnect();
    }
  }

  function appPurchaseAgain(c: Case): RawAppMessage {
    // The app reports the purchase again under a new message id: only the business key can tell.
    const m = appMessages(c)[1]!;
    return { ...m, message_id: `${m.message_id}-again`, body: Buffer.from(m.body.toString().replace(`"${c.customer}-order"`, `"${c.customer}-order-again"`)) };
  }

  const duplicatesCounted = async (): Promise<number> => (await service.metrics.dropped.get()).values
    .filter((v) => v.labels['reason'] === 'duplicate' && v.labels['event'] === 'order_completed')
    .reduce((n, v) => n + v.value, 0);

  const webhook = (c: Case, id: string) => ({ key: c.email, value: shopifyEnvelope('orders/create', shopifyOrder(c), { webhookId: `${id}-${c.orderId}` }) });

  it('ends each case with one order_completed carrying the numeric id, and one purchase in the rollup', async () => {
    const appFirst = all.filter((c) => c.arrival === 'app first');
    const shopifyFirst = all.filter((c) => c.arrival === 'Shopify first');
    // 1. The first source of each case. Identifies go first so each purchase has a person.
    await send([...appFirst.flatMap(appMessages), ...shopifyFirst.map((c) => appMessages(c)[0]!)], shopifyFirst.map((c) => webhook(c, 'wh')));
    await consumedAll();
    // 2. The other source.
    await send(shopifyFirst.map((c) => appMessages(c)[1]!), appFirst.map((c) => webhook(c, 'wh')));
    await consumedAll();
    // 3. Shopify retries every webhook (a new delivery id, the same order).
    await send([], all.map((c) => webhook(c, 'wh-retry')));
    await consumedAll();

    const records = await readTopic(kafka, topics.canonical, canonical, {
      until: (rs) => all.every((c) => rs.some((r) => r.value.customer_id === c.customer && r.value.name === 'order_completed')),
      settleMs: 2000,
    });
    for (const c of all) {
      const mine = records.map((r) => r.value).filter((e) => e.customer_id === c.customer);
      const orders = mine.filter((e) => e.name === 'order_completed');
      expect.soft(orders.map((o) => o.commerce?.order_id), `${c.form}, ${c.arrival}`).toEqual([c.orderId]);
      const rollups = mine.filter((e) => e.kind === 'identify' && e.attributes['orders_count'] !== undefined);
      expect.soft(rollups.map((e) => [e.attributes['orders_count'], e.attributes['lifetime_value']]), `${c.form}, ${c.arrival}`).toEqual([[1, c.total]]);
      // The source's form stays on the event when it was not the numeric id.
      if (c.form === 'name') expect.soft(orders[0]?.properties['order_name'], c.arrival).toBe(c.name);
    }
    // Each case dropped exactly two copies as duplicates: the second source's and Shopify's retry.
    expect(await duplicatesCounted()).toBe(all.length * 2);
  });

  it('after a restart, the learned id forms are restored from the changelog: every form still resolves', async () => {
    await service.stop();
    service = await startNormalizer(config, quietLogger);
    await send(all.map(appPurchaseAgain), all.map((c) => webhook(c, 'wh-after-restart')));
    await consumedAll();
    const records = await readTopic(kafka, topics.canonical, canonical, {
      until: (rs) => all.every((c) => rs.some((r) => r.value.customer_id === c.customer && r.value.name === 'order_completed')),
      settleMs: 2000,
    });
    for (const c of all) {
      const orders = records.map((r) => r.value).filter((e) => e.customer_id === c.customer && e.name === 'order_completed');
      expect.soft(orders.map((o) => o.commerce?.order_id), `${c.form}, ${c.arrival}`).toEqual([c.orderId]);
    }
    expect(await duplicatesCounted()).toBe(all.length * 2);
  });
});
