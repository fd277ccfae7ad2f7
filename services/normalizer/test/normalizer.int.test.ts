/**
 * The normalizer through the real broker and registry: raw envelopes in, canonical and quarantine
 * records out, read back read_committed and asserted field by field.
 */
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AvroSerde, createRegistry, loadAvroSchema, RAW_TOPIC_MAX_MESSAGE_BYTES, rawTopics, topicNames, valueSubject, type Kafka, type RawEnvelope, type RawSource, type Topics,
} from '@cio-pipeline/core';
import type { CanonicalEvent, QuarantineRecord, RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { startNormalizer, type NormalizerService } from '../src/app.ts';
import { loadServiceConfig } from '../src/service-config.ts';
import { loadTrackingPlan } from '@cio-pipeline/core';

const PLAN_PATH = new URL('../../../schemas/tracking-plan.yaml', import.meta.url).pathname;
const planVersion = loadTrackingPlan(PLAN_PATH).version;
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { appEnvelope, appEnvelopes, appKey, fixtureBytes, rechargeEnvelope, shopifyEnvelope } from '../../../test/support/raw-events.ts';
import { readTopic } from '../../../test/support/read-topic.ts';
import { eventually } from '../../../test/support/eventually.ts';

describe('normalizer through the real broker', () => {
  const prefix = `${uniqueName('norm')}.`;
  const topics: Topics = topicNames(prefix);
  let kafka: Kafka;
  let service: NormalizerService;
  let serdes: Map<RawSource, { topic: string; serde: AvroSerde<RawEnvelope> }>;
  let canonical: AvroSerde<CanonicalEvent>;
  let quarantine: AvroSerde<QuarantineRecord>;

  beforeAll(async () => {
    kafka = testKafka();
    const { brokers, registryUrl } = stackInfo();
    const config = loadServiceConfig({
      KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix,
      NORMALIZER_GROUP_ID: uniqueName('normalizer'), NORMALIZER_OPS_PORT: '0',
      NORMALIZER_TRACKING_PLAN: PLAN_PATH,
      // The fixture journey is dated 2026-11-20; the test must not depend on today's date.
      NORMALIZER_FUTURE_TOLERANCE_MS: String(10 * 365 * 86_400_000),
      // The app's order (no line items) waits briefly for Shopify's richer copy.
      NORMALIZER_COMPLETENESS_HOLD_MS: '3000', NORMALIZER_SWEEP_INTERVAL_MS: '200',
    });
    service = await startNormalizer(config, quietLogger);
    const registry = createRegistry(registryUrl);
    serdes = new Map(rawTopics(topics).map((t) => [t.source, {
      topic: t.topic,
      serde: new AvroSerde<RawEnvelope>({ registry, registryUrl, subject: valueSubject(t.topic), schema: loadAvroSchema(t.schema) }),
    }]));
    for (const { serde } of serdes.values()) await serde.init({ register: true, compatibility: 'BACKWARD_TRANSITIVE' });
    canonical = new AvroSerde({ registry, registryUrl, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
    quarantine = new AvroSerde({ registry, registryUrl, subject: valueSubject(topics.quarantine), schema: loadAvroSchema('quarantine-record') });
  });

  afterAll(async () => {
    await service?.stop();
  });

  async function produce(source: RawSource, records: Array<{ key: string; value: RawEnvelope | Buffer }>): Promise<void> {
    const { topic, serde } = serdes.get(source)!;
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: records.map((r) => ({ key: r.key, value: Buffer.isBuffer(r.value) ? r.value : serde.encode(r.value) })) });
    await producer.disconnect();
  }

  it('reports ready only once it consumes, and exposes its metrics', async () => {
    const base = `http://127.0.0.1:${service.opsPort}`;
    await eventually('/readyz to answer 200', async () => (await fetch(`${base}/readyz`)).status, (status) => status === 200, { timeoutMs: 30_000, intervalMs: 200 });
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('normalizer_events_in_total');
  });

  it('creates the raw topics with room for the largest webhook ingest accepts, not the broker default', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: rawTopics(topics).map(({ topic }) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] })),
      });
      expect(resources.map((r) => Number(r.configEntries[0]?.configValue))).toEqual([RAW_TOPIC_MAX_MESSAGE_BYTES, RAW_TOPIC_MAX_MESSAGE_BYTES, RAW_TOPIC_MAX_MESSAGE_BYTES]);
    } finally {
      await admin.disconnect();
    }
  });

  it('turns the fixture journey into one person with typed, deduped, ordered canonical events', async () => {
    const app = appEnvelopes();
    await produce('app', app.map((m) => ({ key: appKey(m), value: m })));
    // The sources deliver in this order: the app's journey before Shopify's order. The app's
    // messages sit in two partitions (keyed by anonymous id, then user id), so wait until both
    // are processed; otherwise the order can close the cart before the add-to-cart is read, and
    // the add-to-cart is then (rightly) suppressed as a late cart event.
    await readTopic(kafka, topics.canonical, canonical, {
      until: (all) => all.some((e) => e.value.name === 'added_to_cart') && all.some((e) => e.value.kind === 'identify' && e.value.customer_id === 'cus_48213'),
    });
    await produce('shopify', [
      { key: 'Z2NwLXVzLWVhc3QxOjAxSjk4', value: shopifyEnvelope('carts/update', fixtureBytes('shopify/carts-update.json')) },
      { key: '7301928374650192837', value: shopifyEnvelope('customers/create', fixtureBytes('shopify/customers-create.json')) },
      { key: '7301928374650192837', value: shopifyEnvelope('checkouts/create', fixtureBytes('shopify/checkouts-create.json')) },
      { key: '7301928374650192837', value: shopifyEnvelope('orders/create', fixtureBytes('shopify/orders-create.json')) },
      // A retried delivery of the same order (new webhook id): deduped by order_id.
      { key: '7301928374650192837', value: shopifyEnvelope('orders/create', fixtureBytes('shopify/orders-create.json'), { webhookId: 'wh-retry-1' }) },
    ]);
    await produce('subscriptions', [{ key: '118273645', value: rechargeEnvelope('charge/paid', fixtureBytes('recharge/charge-paid.json')) }]);

    const events = await readTopic(kafka, topics.canonical, canonical, {
      until: (all) => all.some((e) => e.value.name === 'subscription_charge_paid') && all.filter((e) => e.value.name === 'order_completed').length >= 1,
      settleMs: 2000,
    });
    const byName = (name: string) => events.filter((e) => e.value.name === name).map((e) => e.value);

    const orders = byName('order_completed');
    expect(orders).toHaveLength(1);
    const order = orders[0]!;
    expect(order.customer_id).toBe('cus_48213');
    expect(order.commerce?.order_id).toBe('5904832711894301745');
    expect(order.commerce?.total).toBe(118.4);
    expect(order.commerce?.currency).toBe('USD');
    expect(order.commerce?.items.map((i) => i.sku)).toEqual(['TEA-SENCHA-100', '3141592']);
    expect(order.commerce?.items.map((i) => i.quantity)).toEqual([2, 1]);
    expect(order.email).toBe('maya.lindqvist@example.com');
    expect(order.tracking_version).toBe(planVersion);
    expect(order.schema_version).toBeGreaterThanOrEqual(1);
    expect(order.event_id).toMatch(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);

    // Every event of Maya's is keyed by her canonical id once she is known, and the names are mapped.
    const maya = events.filter((e) => e.value.customer_id === 'cus_48213');
    expect(maya.every((e) => e.key === 'cus_48213')).toBe(true);
    const names = maya.map((e) => e.value.name);
    expect(names).toContain('added_to_cart');
    expect(names).toContain('checkout_started');
    expect(names).toContain('subscription_charge_paid');
    expect(names.indexOf('checkout_started')).toBeLessThan(names.indexOf('order_completed'));

    const cart = byName('added_to_cart')[0]!;
    expect(cart.commerce?.sku).toBe('TEA-SENCHA-100');
    expect(cart.commerce?.quantity).toBe(2);
    expect(cart.commerce?.price).toBe(24);

    // The purchase updates the profile redundantly.
    const rollup = maya.map((e) => e.value).find((e) => e.kind === 'identify' && e.attributes['orders_count'] !== undefined);
    expect(rollup?.attributes['orders_count']).toBe(1);
    expect(rollup?.attributes['lifetime_value']).toBe(118.4);
    expect(typeof rollup?.attributes['last_order_date']).toBe('number');

    // Anonymous browsing is forwarded with its anonymous id (the plan forwards browse events).
    const viewed = byName('product_viewed')[0]!;
    expect(viewed.anonymous_id).toBe('anon-7f3c2a');
    expect(viewed.commerce?.price ?? viewed.properties['price']).toBe(24);
    // The app reported the purchase first, so Shopify's order and its retried delivery are both
    // dropped as duplicates, and counted.
    const duplicateOrders = (await service.metrics.dropped.get()).values
      .filter((v) => v.labels['reason'] === 'duplicate' && v.labels['event'] === 'order_completed' && v.labels['source'] === 'shopify');
    expect(duplicateOrders.reduce((n, v) => n + v.value, 0)).toBe(2);
  });

  it('sends created_at as unix seconds, and an unconvertible one costs only itself, counted (#12)', async () => {
    const identify = (userId: string, createdAt: string) => appEnvelope({
      type: 'identify', userId, anonymousId: `anon-${userId}`, messageId: `identify-${userId}`, timestamp: '2026-11-20T10:00:00Z',
      traits: { created_at: createdAt, first_name: 'Ada' },
    });
    await produce('app', [
      { key: 'cus_date_ok', value: identify('cus_date_ok', '2024-06-01T10:00:00Z') },
      { key: 'cus_date_bad', value: identify('cus_date_bad', 'not a date') },
    ]);
    const profileOf = (all: Array<{ value: CanonicalEvent }>, id: string) =>
      all.map((e) => e.value).find((e) => e.kind === 'identify' && e.customer_id === id && e.attributes['first_name'] !== undefined);
    const events = await readTopic(kafka, topics.canonical, canonical, {
      until: (all) => profileOf(all, 'cus_date_ok') !== undefined && profileOf(all, 'cus_date_bad') !== undefined,
    });
    const ok = profileOf(events, 'cus_date_ok')!;
    expect(ok.attributes).toEqual({ created_at: 1_717_236_000, first_name: 'Ada' });
    expect(ok.anonymous_id).toBe('anon-cus_date_ok');
    const bad = profileOf(events, 'cus_date_bad')!;
    expect(bad.attributes).toEqual({ first_name: 'Ada' });
    expect(bad.anonymous_id).toBe('anon-cus_date_bad');
    expect(bad.validation_warnings).toEqual(['invalid_type:attributes.created_at']);
    const counted = (await service.metrics.warnings.get()).values.find((v) => v.labels['source'] === 'app' && v.labels['warning'] === 'invalid_type');
    expect(counted?.value).toBeGreaterThanOrEqual(1);
  });

  it('quarantines what it cannot trust, with a reason code, without stalling the partition', async () => {
    const order = JSON.parse(fixtureBytes('shopify/orders-create.json').toString('utf8').replace(/"id": 5904832711894301745/, '"id": 1')) as Record<string, unknown>;
    const badCurrency = Buffer.from(JSON.stringify({ ...order, id: 42, currency: 'XYZ' }));
    const noTotal = Buffer.from(JSON.stringify({ ...order, id: 43, total_price: null }));
    const unknownSchema = Buffer.from([0, 0, 0x0f, 0x42, 0x40, 1, 2, 3]);
    await produce('shopify', [
      { key: 'q', value: Buffer.from('not avro at all') },
      { key: 'q', value: unknownSchema },
      { key: 'q', value: shopifyEnvelope('orders/create', Buffer.from('{"id": 1, "total_price": ')) },
      { key: 'q', value: shopifyEnvelope('orders/create', badCurrency) },
      { key: 'q', value: shopifyEnvelope('orders/create', noTotal) },
    ]);
    const records = await readTopic(kafka, topics.quarantine, quarantine, { until: (all) => all.length >= 5, settleMs: 500 });
    const codes = records.map((r) => r.value.reasons.map((x) => x.code));
    expect(codes).toEqual([
      ['corrupt_record'],
      ['unknown_schema'],
      ['unparseable_body'],
      expect.arrayContaining(['unknown_currency']),
      expect.arrayContaining(['missing_required_property']),
    ]);
    for (const r of records) {
      expect(r.value.source_topic).toBe(topics.rawShopify);
      expect(r.value.tracking_version).toBe(planVersion);
      expect(r.value.original.length).toBeGreaterThan(0);
    }
    const missing = records[4]!.value.reasons.find((x) => x.code === 'missing_required_property');
    expect(missing?.field).toBe('total');
    // The original bytes are kept exactly, so a replay after a fix decodes them as the first time.
    expect(records[0]!.value.original.toString()).toBe('not avro at all');
  });

  it('quarantines a record the stages fail on (a bug, not bad data) and keeps the partition moving', async () => {
    const { brokers, registryUrl } = stackInfo();
    const otherPrefix = `${uniqueName('boom')}.`;
    const other = topicNames(otherPrefix);
    const failing = await startNormalizer(loadServiceConfig({
      KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: otherPrefix, NORMALIZER_GROUP_ID: uniqueName('normalizer'),
      NORMALIZER_OPS_PORT: '0', NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: String(10 * 365 * 86_400_000),
    }), quietLogger, {
      wrapStateless: (stages) => ({
        plan: stages.plan,
        process: (input) => {
          if ((input.envelope as RawAppMessage).message_id === 'boom') throw new Error('injected stage failure');
          return stages.process(input);
        },
      }),
    });
    try {
      const registry = createRegistry(registryUrl);
      const raw = new AvroSerde<RawAppMessage>({ registry, registryUrl, subject: valueSubject(other.rawApp), schema: loadAvroSchema('raw-app') });
      await raw.init({ register: true, compatibility: 'BACKWARD_TRANSITIVE' });
      const producer = kafka.producer({ idempotent: true });
      await producer.connect();
      const message = (id: string) => appEnvelope({ type: 'track', userId: 'cus_9', messageId: id, event: 'Product Viewed', properties: { sku: 'S-1' }, timestamp: '2026-11-20T10:00:00Z' });
      // Same key, same partition: the record after the failing one must still come out.
      await producer.send({ topic: other.rawApp, acks: -1, messages: [{ key: 'cus_9', value: raw.encode(message('boom')) }, { key: 'cus_9', value: raw.encode(message('fine')) }] });
      await producer.disconnect();
      const q = new AvroSerde<QuarantineRecord>({ registry, registryUrl, subject: valueSubject(other.quarantine), schema: loadAvroSchema('quarantine-record') });
      const quarantined = await readTopic(kafka, other.quarantine, q, { until: (all) => all.length >= 1 });
      expect(quarantined[0]!.value.reasons).toEqual([{ code: 'processing_error', field: null, message: 'injected stage failure' }]);
      const c = new AvroSerde<CanonicalEvent>({ registry, registryUrl, subject: valueSubject(other.canonical), schema: loadAvroSchema('canonical-event') });
      const out = await readTopic(kafka, other.canonical, c, { until: (all) => all.some((e) => e.value.name === 'product_viewed') });
      expect(out.filter((e) => e.value.name === 'product_viewed').map((e) => e.value.source_event_id)).toEqual(['fine']);
    } finally {
      await failing.stop();
    }
  });
});
