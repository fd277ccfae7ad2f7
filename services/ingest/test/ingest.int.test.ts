/**
 * Ingest through the real broker and registry: every fixture answered 200 is on its raw topic, the
 * body byte for byte, the transport facts right; every refused request leaves the topics untouched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawAppMessage, RawShopifyWebhook, RawSubscriptionWebhook } from '@cio-pipeline/core/generated/avro-types';
import { topicNames, type Kafka } from '@cio-pipeline/core';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { createIngestServer, type IngestServer } from '../src/http-server.ts';
import { KafkaRawWriter, kafkaRawWriterOptions } from '../src/kafka-raw-writer.ts';
import { loadIngestConfig } from '../src/config.ts';
import { createIngestMetrics } from '../src/metrics.ts';
import {
  basic,
  fixture,
  post,
  RECHARGE_SECRETS,
  rechargeLegacy,
  rechargeTimestamped,
  shopifyHeaders,
  testConfig,
} from './helpers.ts';
import { batchElementTexts, endOffsets, readTopic } from './kafka-helpers.ts';
import { byDeadline, openIdleAttackers, postFrom, untilAttackersSeen } from './raw-http.ts';

const prefix = `${uniqueName('it')}.`;
const topics = topicNames(prefix);
const RAW = [topics.rawShopify, topics.rawApp, topics.rawSubscriptions];
const SHOP = 'tea-example.myshopify.com';
const SHOPIFY = [
  ['shopify/orders-create.json', 'orders/create', '7301928374650192837'],
  ['shopify/checkouts-create.json', 'checkouts/create', '7301928374650192837'],
  ['shopify/carts-update.json', 'carts/update', 'Z2NwLXVzLWVhc3QxOjAxSjk4'],
  ['shopify/customers-create.json', 'customers/create', '7301928374650192837'],
] as const;

let kafka: Kafka;
let writer: KafkaRawWriter;
let ingest: IngestServer;
let url: string;

beforeAll(async () => {
  const { brokers, registryUrl } = stackInfo();
  const config = testConfig({
    kafkaBrokers: brokers.split(','),
    kafkaBrokersConfigured: true,
    schemaRegistryUrl: registryUrl,
    topicPrefix: prefix,
    kafkaCompression: 'snappy',
    kafkaTimeoutMs: 10_000,
    maxWebhookBytes: 256 * 1024,
    rechargeLegacySecrets: [RECHARGE_SECRETS[0]!],
  });
  kafka = testKafka();
  writer = new KafkaRawWriter(kafkaRawWriterOptions(config, quietLogger));
  await writer.start();
  ingest = createIngestServer({ config, writer, logger: quietLogger, metrics: createIngestMetrics() });
  url = await ingest.listen(0, '127.0.0.1');
});

afterAll(async () => {
  await ingest?.close();
  await writer?.close();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: RAW }).catch(() => undefined);
  await admin.disconnect();
});

describe('ingest through the real broker', () => {
  it('creates the raw topics, registers their schemas and reports ready', async () => {
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(200);
    const admin = kafka.admin();
    await admin.connect();
    const listed = await admin.listTopics();
    await admin.disconnect();
    expect(listed).toEqual(expect.arrayContaining(RAW));
    for (const topic of RAW) {
      const subject = await fetch(`${stackInfo().registryUrl}/subjects/${encodeURIComponent(`${topic}-value`)}/versions`);
      expect(subject.status).toBe(200);
    }
  });

  it('stores each Shopify fixture on raw.shopify, body byte for byte, with its transport facts', async () => {
    const sent = new Map<string, Buffer>();
    for (const [i, [file, topic]] of SHOPIFY.entries()) {
      const body = fixture(file);
      const webhookId = `wh-${i}-${uniqueName('s')}`;
      sent.set(webhookId, body);
      const res = await post(`${url}/webhooks/shopify`, body, { ...shopifyHeaders(body, topic), 'X-Shopify-Webhook-Id': webhookId });
      expect(res.status, res.text).toBe(200);
    }
    const stored = await readTopic<RawShopifyWebhook>(kafka, stackInfo().registryUrl, topics.rawShopify, uniqueName('read'));
    expect(stored).toHaveLength(SHOPIFY.length);
    for (const [i, [, topic, key]] of SHOPIFY.entries()) {
      const rec = stored.find((r) => r.value.topic === topic);
      expect(rec, topic).toBeDefined();
      const v = rec!.value;
      expect(rec!.key).toBe(key);
      expect(v.webhook_id).toMatch(new RegExp(`^wh-${i}-`));
      expect(Buffer.compare(v.body, sent.get(v.webhook_id!)!)).toBe(0);
      expect(v).toMatchObject({
        shop_domain: SHOP,
        event_id: '98880550-7158-44d4-b7cd-2c97c8a091b5',
        triggered_at: '2026-11-20T19:03:12.345Z',
        api_version: '2025-10',
      });
      expect(v.ingest_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(Math.abs(Date.now() - v.received_at)).toBeLessThan(120_000);
    }
  });

  it('stores each Recharge fixture on raw.subscriptions under either signature scheme', async () => {
    const paid = fixture('recharge/charge-paid.json');
    const created = fixture('recharge/subscription-created.json');
    const nowS = Math.floor(Date.now() / 1000);
    const a = await post(`${url}/webhooks/recharge`, paid, {
      'X-Recharge-Hmac-Sha256': rechargeLegacy(paid, RECHARGE_SECRETS[0]!),
      'X-Recharge-Topic': 'charge/paid',
      'X-Recharge-Webhook-Id': 'rc-wh-1',
    });
    expect(a.status, a.text).toBe(200);
    const b = await post(`${url}/webhooks/recharge`, created, {
      'X-Recharge-Webhook-Signature': rechargeTimestamped(created, RECHARGE_SECRETS[1]!, nowS),
      'X-Recharge-Webhook-Timestamp': String(nowS),
      'X-Recharge-Webhook-Id': 'rc-wh-2',
    });
    expect(b.status, b.text).toBe(200);

    const stored = await readTopic<RawSubscriptionWebhook>(kafka, stackInfo().registryUrl, topics.rawSubscriptions, uniqueName('read'));
    expect(stored).toHaveLength(2);
    const byId = new Map(stored.map((r) => [r.value.webhook_id, r]));
    const charge = byId.get('rc-wh-1')!;
    expect(charge.key).toBe('118273645');
    expect(Buffer.compare(charge.value.body, paid)).toBe(0);
    expect(charge.value).toMatchObject({ topic: 'charge/paid', topic_from_header: true, signature_scheme: 'legacy-sha256' });
    const sub = byId.get('rc-wh-2')!;
    expect(sub.key).toBe('118273645');
    expect(Buffer.compare(sub.value.body, created)).toBe(0);
    expect(sub.value).toMatchObject({ topic: 'subscription', topic_from_header: false, signature_scheme: 'hmac-timestamped' });
  });

  it('stores each message of the app journey batch on raw.app as its exact slice of the request', async () => {
    const body = fixture('app/journey-batch.json');
    const res = await post(`${url}/v1/batch`, body, { authorization: basic('wk_ios_123'), 'content-type': 'application/json' });
    expect(res.status, res.text).toBe(200);

    const slices = batchElementTexts(body.toString('utf8'));
    expect(slices).toHaveLength(6);
    const stored = await readTopic<RawAppMessage>(kafka, stackInfo().registryUrl, topics.rawApp, uniqueName('read'));
    expect(stored).toHaveLength(6);
    const byMessageId = new Map(stored.map((r) => [r.value.message_id, r]));
    for (const [i, slice] of slices.entries()) {
      const rec = byMessageId.get(`m-000${i + 1}`);
      expect(rec).toBeDefined();
      expect(Buffer.compare(rec!.value.body, Buffer.from(slice, 'utf8'))).toBe(0);
      expect(rec!.value).toMatchObject({ write_key_id: 'ios-app', message_id_generated: false });
    }
    expect(stored.map((r) => r.value.type).sort()).toEqual(['identify', 'page', 'track', 'track', 'track', 'track']);
    // One shopper's records share a partition and keep their order within it.
    const anon = stored.filter((r) => r.key === 'anon-7f3c2a');
    const known = stored.filter((r) => r.key === 'cus_48213');
    expect(anon.map((r) => r.value.message_id)).toEqual(['m-0001', 'm-0002', 'm-0003']);
    expect(known.map((r) => r.value.message_id)).toEqual(['m-0004', 'm-0005', 'm-0006']);
    expect(new Set(anon.map((r) => r.partition)).size).toBe(1);
    expect(new Set(known.map((r) => r.partition)).size).toBe(1);
  });

  it('stores a call with repeated writeKey members as valid JSON without the key', async () => {
    const messageId = uniqueName('dupkey');
    const res = await post(`${url}/v1/track`, `{"userId":"u-dup","event":"A","messageId":"${messageId}","writeKey":"wk_web_456","writeKey":"wk_web_456"}`);
    expect(res.status, res.text).toBe(200);
    const stored = await readTopic<RawAppMessage>(kafka, stackInfo().registryUrl, topics.rawApp, uniqueName('read'));
    const rec = stored.find((r) => r.value.message_id === messageId);
    expect(rec).toBeDefined();
    const text = rec!.value.body.toString('utf8');
    expect(text).not.toContain('writeKey');
    expect(JSON.parse(text)).toMatchObject({ userId: 'u-dup', event: 'A' });
  });

  it('acknowledges concurrent calls each exactly once (writes merged into shared requests)', async () => {
    const before = await endOffsets(kafka, [topics.rawApp]);
    const ids = Array.from({ length: 60 }, (_, i) => `conc-${i}-${uniqueName('m')}`);
    const answers = await Promise.all(
      ids.map((id, i) =>
        post(`${url}/v1/track`, JSON.stringify({ userId: `u${i % 7}`, event: 'Product Viewed', messageId: id }), { authorization: basic('wk_web_456') }),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(ids.map(() => 200));
    const after = await endOffsets(kafka, [topics.rawApp]);
    expect(after[topics.rawApp]! - before[topics.rawApp]!).toBe(ids.length);
    const stored = await readTopic<RawAppMessage>(kafka, stackInfo().registryUrl, topics.rawApp, uniqueName('read'));
    const got = stored.map((r) => r.value.message_id).filter((m) => m.startsWith('conc-'));
    expect(got.sort()).toEqual([...ids].sort());
  });
});

describe('refused requests write nothing', () => {
  async function expectNothingWritten(send: () => Promise<{ status: number; json: unknown; headers: Headers }>, status: number, reason: string): Promise<void> {
    const before = await endOffsets(kafka, RAW);
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.json).toMatchObject({ error: { reason } });
    // Nothing is written after the answer either: a write happens before a 200 or not at all.
    expect(writer.idle).toBe(true);
    expect(await endOffsets(kafka, RAW)).toEqual(before);
  }

  it('a Shopify webhook with a bad HMAC: 401', async () => {
    const body = fixture('shopify/orders-create.json');
    await expectNothingWritten(() => post(`${url}/webhooks/shopify`, body, shopifyHeaders(body, 'orders/create', 'not-the-secret')), 401, 'bad_signature');
  });

  it('a stale Recharge timestamped signature: 401', async () => {
    const body = fixture('recharge/charge-paid.json');
    const stale = Math.floor(Date.now() / 1000) - 3600;
    await expectNothingWritten(
      () =>
        post(`${url}/webhooks/recharge`, body, {
          'X-Recharge-Webhook-Signature': rechargeTimestamped(body, RECHARGE_SECRETS[0]!, stale),
          'X-Recharge-Webhook-Timestamp': String(stale),
        }),
      401,
      'stale_signature',
    );
  });

  it('an app batch with a wrong write key: 401', async () => {
    const body = fixture('app/journey-batch.json');
    await expectNothingWritten(() => post(`${url}/v1/batch`, body, { authorization: basic('wk_wrong') }), 401, 'bad_write_key');
  });

  it('an oversized (correctly signed) webhook: 413', async () => {
    const body = Buffer.from(JSON.stringify({ id: 1, note: 'x'.repeat(300 * 1024) }));
    await expectNothingWritten(() => post(`${url}/webhooks/shopify`, body, shopifyHeaders(body, 'orders/create')), 413, 'too_large');
  });

  it('a signed orders body replayed as checkouts/create: 401 topic_mismatch', async () => {
    const body = fixture('shopify/orders-create.json');
    await expectNothingWritten(() => post(`${url}/webhooks/shopify`, body, shopifyHeaders(body, 'checkouts/create')), 401, 'topic_mismatch');
  });

  it('arrays nested 4,000 deep (correctly signed): 400 too_deep', async () => {
    const body = Buffer.from(`{"id":1,"order_number":1,"note_attributes":${'['.repeat(4000)}${']'.repeat(4000)}}`);
    await expectNothingWritten(() => post(`${url}/webhooks/shopify`, body, shopifyHeaders(body, 'orders/create')), 400, 'too_deep');
  });

  it('malformed JSON (correctly signed): 400 naming the problem', async () => {
    const body = Buffer.from('{"id": 5904832711894301745, "total_price": "118.40",');
    await expectNothingWritten(() => post(`${url}/webhooks/shopify`, body, shopifyHeaders(body, 'orders/create')), 400, 'bad_json');
  });
});

describe('under 2,000 idle unauthenticated connections', () => {
  it('a signed Shopify webhook and a Segment batch are still answered 200, and are on Kafka', async () => {
    // A second server with the limits ingest runs with when nothing is configured, over the same writer.
    const d = loadIngestConfig({});
    const config = testConfig({
      topicPrefix: prefix,
      maxInflightRequests: d.maxInflightRequests,
      maxInflightPerAddress: d.maxInflightPerAddress,
      maxRefusalsPerAddressPerS: d.maxRefusalsPerAddressPerS,
      refusalBlockMs: d.refusalBlockMs,
      maxInflightBytes: d.maxInflightBytes,
      minBodyBytesPerS: d.minBodyBytesPerS,
      bodyGraceMs: d.bodyGraceMs,
    });
    const guarded = createIngestServer({ config, writer, logger: quietLogger, metrics: createIngestMetrics() });
    const guardedUrl = await guarded.listen(0, '127.0.0.1');
    const attackers = await openIdleAttackers(Number(new URL(guardedUrl).port), 2000);
    try {
      await untilAttackersSeen(guardedUrl, attackers);
      const webhookId = uniqueName('under-attack');
      const order = fixture('shopify/orders-create.json');
      const batch = Buffer.from(JSON.stringify({ batch: [{ type: 'track', userId: 'u-attack', event: 'A', messageId: webhookId }] }));
      // From 127.0.0.2: the sources never share the attacker's address. Shopify gives up after 5 s.
      const [shopify, app] = await Promise.all([
        byDeadline(postFrom(`${guardedUrl}/webhooks/shopify`, order, { ...shopifyHeaders(order, 'orders/create'), 'X-Shopify-Webhook-Id': webhookId }, '127.0.0.2'), 5000, 'Shopify'),
        byDeadline(postFrom(`${guardedUrl}/v1/batch`, batch, { authorization: basic('wk_ios_123') }, '127.0.0.2'), 5000, 'Segment batch'),
      ]);
      expect(shopify.status, shopify.text).toBe(200);
      expect(app.status, app.text).toBe(200);
      const shop = await readTopic<RawShopifyWebhook>(kafka, stackInfo().registryUrl, topics.rawShopify, uniqueName('read'));
      expect(shop.filter((r) => r.value.webhook_id === webhookId)).toHaveLength(1);
      const apps = await readTopic<RawAppMessage>(kafka, stackInfo().registryUrl, topics.rawApp, uniqueName('read'));
      expect(apps.filter((r) => r.value.message_id === webhookId)).toHaveLength(1);
    } finally {
      for (const c of attackers) c.socket.destroy();
      await guarded.close();
    }
  }, 90_000);
});

describe('odd values', () => {
  it('a timestamp and sentAt beyond any ISO year: stored without a client time (200), never a 503 forever', async () => {
    // These once overflowed Avro's long after the clock-skew correction and got 503 on every retry.
    // The one ISO parser reads four-digit years only, so neither is a time: the normalizer judges it.
    const messageId = uniqueName('odd');
    const odd = JSON.stringify({ userId: 'u-odd', event: 'A', messageId, timestamp: '+275760-09-13T00:00:00.000Z', sentAt: '-271821-04-20T00:00:00.000Z' });
    const res = await post(`${url}/v1/track`, odd, { authorization: basic('wk_web_456') });
    expect(res.status, res.text).toBe(200);
    const stored = await readTopic<RawAppMessage>(kafka, stackInfo().registryUrl, topics.rawApp, uniqueName('read'));
    const record = stored.find((r) => r.value.message_id === messageId);
    expect(record?.value.timestamp).toBeNull();
    const next = await post(`${url}/v1/track`, JSON.stringify({ userId: 'u-odd', event: 'B', messageId: uniqueName('ok') }), { authorization: basic('wk_web_456') });
    expect(next.status, next.text).toBe(200);
  });
});
