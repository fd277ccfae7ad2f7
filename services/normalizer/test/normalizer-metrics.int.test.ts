/**
 * Issue #17 (metrics), through the real broker: what clients send cannot add metric series. An
 * unplanned event name is counted under `event="unplanned"`, never under its own name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde, createRegistry, loadAvroSchema, topicNames, valueSubject, type Kafka, type Topics } from '@cio-pipeline/core';
import type { CanonicalEvent, RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { startNormalizer, type NormalizerService } from '../src/app.ts';
import { loadServiceConfig } from '../src/service-config.ts';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { metricValue } from '../../../test/support/metrics.ts';
import { appEnvelope, appKey } from '../../../test/support/raw-events.ts';
import { readTopic } from '../../../test/support/read-topic.ts';

const PLAN_PATH = new URL('../../../schemas/tracking-plan.yaml', import.meta.url).pathname;

describe('normalizer metrics through the real broker', () => {
  const prefix = `${uniqueName('normmetrics')}.`;
  const topics: Topics = topicNames(prefix);
  let kafka: Kafka;
  let service: NormalizerService;
  let rawApp: AvroSerde<RawAppMessage>;
  let canonical: AvroSerde<CanonicalEvent>;

  beforeAll(async () => {
    kafka = testKafka();
    const { brokers, registryUrl } = stackInfo();
    service = await startNormalizer(loadServiceConfig({
      KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix,
      NORMALIZER_GROUP_ID: uniqueName('normalizer'), NORMALIZER_OPS_PORT: '0', NORMALIZER_TRACKING_PLAN: PLAN_PATH,
    }), quietLogger);
    const registry = createRegistry(registryUrl);
    rawApp = new AvroSerde({ registry, registryUrl, subject: valueSubject(topics.rawApp), schema: loadAvroSchema('raw-app') });
    await rawApp.init({ register: true, compatibility: 'BACKWARD_TRANSITIVE' });
    canonical = new AvroSerde({ registry, registryUrl, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
  });

  afterAll(async () => {
    await service?.stop();
  });

  it('serves process_* metrics, and counts a client\'s own event names as unplanned', async () => {
    const now = Date.now();
    const track = (messageId: string, event: string) => appEnvelope({
      type: 'track', userId: 'cus_metrics_1', messageId, event, timestamp: new Date(now).toISOString(), properties: { product_id: 'p-1', sku: 'SKU-1' },
    });
    const clientNames = ['Zebra Dance Started', 'Totally Custom 4711'];
    const messages = [
      appEnvelope({ type: 'identify', userId: 'cus_metrics_1', messageId: 'm-identify', timestamp: new Date(now).toISOString(), traits: { email: 'metrics@example.com' } }),
      track('m-viewed', 'Product Viewed'),
      ...clientNames.map((name, i) => track(`m-client-${i}`, name)),
    ];
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.rawApp, acks: -1, messages: messages.map((m) => ({ key: appKey(m), value: rawApp.encode(m) })) });
    await producer.disconnect();

    const events = await readTopic(kafka, topics.canonical, canonical, { until: (all) => all.filter((e) => e.value.kind === 'event').length >= 3 });
    // Both client names went out (unplanned events are flagged, not blocked) ...
    expect(events.filter((e) => e.value.kind === 'event').map((e) => e.value.name).sort()).toEqual(['product_viewed', 'totally_custom_4711', 'zebra_dance_started']);

    const base = `http://127.0.0.1:${service.opsPort}`;
    const outSeries = async () => (await (await fetch(`${base}/metrics`)).text()).split('\n').filter((l) => l.startsWith('normalizer_events_out_total{'));
    // ... and are counted under one `unplanned` series, next to the planned name.
    await expect.poll(outSeries, { timeout: 10_000 }).toContain('normalizer_events_out_total{source="app",event="unplanned"} 2');
    const series = await outSeries();
    expect(series).toContain('normalizer_events_out_total{source="app",event="product_viewed"} 1');
    expect(series.filter((l) => /zebra|custom/i.test(l))).toEqual([]);

    // The changelog records this instance wrote came back to its tail, which skipped them undecoded.
    const ownSkipped = async () => metricValue(await (await fetch(`${base}/metrics`)).text(), 'normalizer_changelog_tail_records_total{writer="self",decoded="no"}') ?? 0;
    await expect.poll(ownSkipped, { timeout: 10_000 }).toBeGreaterThan(0);

    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).not.toContain('normalizer_process_');
  });
});
