/**
 * A broker crash while sources keep delivering: every delivery gets 503 with Retry-After (never 200),
 * and once the broker is back the same delivery is accepted and stored exactly once.
 * Runs its own native stack, so killing its broker does not disturb the other integration tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawShopifyWebhook } from '@cio-pipeline/core/generated/avro-types';
import { createKafka, topicNames, type Kafka } from '@cio-pipeline/core';
import { freePort, restartKafka, startStack, stopKafka, stopStack, wipeStack, type StackOptions } from '../../../scripts/local-stack.ts';
import { quietLogger, uniqueName } from '../../../test/support/kafka.ts';
import { createIngestServer, type IngestServer } from '../src/http-server.ts';
import { KafkaRawWriter, kafkaRawWriterOptions } from '../src/kafka-raw-writer.ts';
import { createIngestMetrics } from '../src/metrics.ts';
import { fixture, post, shopifyHeaders, testConfig } from './helpers.ts';
import { readTopic } from './kafka-helpers.ts';
import { eventually } from '../../../test/support/eventually.ts';

const KAFKA_TIMEOUT_MS = 2000;
const prefix = `${uniqueName('outage')}.`;
const topics = topicNames(prefix);

let stack: StackOptions;
let registryUrl: string;
let kafka: Kafka;
let writer: KafkaRawWriter;
let ingest: IngestServer;
let url: string;

beforeAll(async () => {
  stack = {
    name: uniqueName('outage-stack'),
    kafkaPort: await freePort(),
    controllerPort: await freePort(),
    registryPort: await freePort(),
    detached: false,
  };
  const running = await startStack(stack);
  registryUrl = running.registryUrl;
  const config = testConfig({
    kafkaBrokers: [running.brokers],
    kafkaBrokersConfigured: true,
    schemaRegistryUrl: registryUrl,
    topicPrefix: prefix,
    kafkaCompression: 'snappy',
    kafkaTimeoutMs: KAFKA_TIMEOUT_MS,
    retryAfterS: 7,
  });
  kafka = createKafka({ brokers: [running.brokers], clientId: uniqueName('outage-reader'), logger: quietLogger });
  writer = new KafkaRawWriter(kafkaRawWriterOptions(config, quietLogger));
  await writer.start();
  ingest = createIngestServer({ config, writer, logger: quietLogger, metrics: createIngestMetrics() });
  url = await ingest.listen(0, '127.0.0.1');
}, 240_000);

afterAll(async () => {
  await ingest?.close();
  await writer?.close();
  if (stack !== undefined) {
    await stopStack(stack.name);
    wipeStack(stack.name);
  }
}, 60_000);

describe('ingest during a broker outage', () => {
  it('answers 503 with Retry-After while the broker is down, then stores the redelivery exactly once', async () => {
    const deliver = (body: Buffer, webhookId: string): ReturnType<typeof post> =>
      post(`${url}/webhooks/shopify`, body, { ...shopifyHeaders(body, 'orders/create'), 'X-Shopify-Webhook-Id': webhookId });
    const body = fixture('shopify/orders-create.json');

    // Before: a delivery goes through.
    expect((await deliver(body, 'before-outage')).status).toBe(200);

    await stopKafka(stack.name, 'SIGKILL');
    for (let attempt = 0; attempt < 4; attempt++) {
      const started = Date.now();
      const res = await deliver(body, 'during-outage');
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('7');
      expect(res.json).toMatchObject({ error: { reason: 'kafka_unavailable' } });
      // Answered within the write deadline (plus the HTTP layer's backstop), not left hanging.
      expect(Date.now() - started).toBeLessThan(KAFKA_TIMEOUT_MS + 1500);
    }
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    // A write the sender gave up on must not land later: wait until the client has stopped retrying.
    await eventually('the writer to give up its last attempt', () => writer.idle, { timeoutMs: 30_000, intervalMs: 100 });

    await restartKafka(stack);
    await eventually('/readyz to report ready', async () => (await fetch(`${url}/readyz`)).status, (status) => status === 200, { timeoutMs: 60_000, intervalMs: 100 });

    const res = await deliver(body, 'during-outage');
    expect(res.status, res.text).toBe(200);

    const stored = await readTopic<RawShopifyWebhook>(kafka, registryUrl, topics.rawShopify, uniqueName('read'));
    expect(stored.map((r) => r.value.webhook_id).sort()).toEqual(['before-outage', 'during-outage']);
    const redelivered = stored.find((r) => r.value.webhook_id === 'during-outage')!;
    expect(Buffer.compare(redelivered.value.body, body)).toBe(0);

    // And the writer keeps working after recovery, not just for one request.
    expect((await deliver(body, 'after-outage')).status).toBe(200);
  });
});
