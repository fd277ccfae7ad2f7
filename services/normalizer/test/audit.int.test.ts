/**
 * Audit records through the real broker (issue 16): every raw record gets exactly one audit record
 * in pipeline.audit (read_committed) with its outcome, reasons, event ids and identifiers, a held
 * event gets a second one when its hold ends, and every canonical event is told by exactly one
 * audit record. A failure injected once (the audit encoder, an aborted commit) leaves the same
 * records, each once: they are written in the transaction of the outcome they tell.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Kafka, Producer, Transaction } from 'kafkajs';
import { AvroSerde, createRegistry, loadAvroSchema, readTopicToEnd, topicNames, valueSubject } from '@cio-pipeline/core';
import type { AuditRecord, RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { startNormalizer } from '../src/app.ts';
import { loadServiceConfig } from '../src/service-config.ts';
import type { ProcessorOptions } from '../src/kafka/transactional-processor.ts';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { appEnvelope, appEnvelopes } from '../../../test/support/raw-events.ts';
import { FUTURE_TOLERANCE_MS, PLAN_PATH, produceStream, readCanonical, waitForGroupDone } from './load-harness.ts';
import type { SyntheticRecord } from './synthetic-stream.ts';
import { Fault, override } from './fault-injection.ts';

const CUS = 'cus_48213';
const ANON = 'anon-7f3c2a';
const EMAIL = 'maya.lindqvist@example.com';
const ORDER = '5904832711894301745';

const journey = appEnvelopes();
const [pageView, , addToCart, identify, , orderCompleted] = journey as [RawAppMessage, RawAppMessage, RawAppMessage, RawAppMessage, RawAppMessage, RawAppMessage];
const bodyOf = (m: RawAppMessage): Record<string, unknown> => JSON.parse(m.body.toString('utf8')) as Record<string, unknown>;
const botView = appEnvelope({ ...bodyOf(pageView), messageId: 'm-bot', context: { userAgent: 'Mozilla/5.0 (compatible; bingbot/2.0)' } });
const noOrderId = appEnvelope({ ...bodyOf(orderCompleted), messageId: 'm-q1', properties: { total: 10, currency: 'USD' } });
// One key: one partition, so the records are decided in the order sent.
const app = (value: RawAppMessage): SyntheticRecord => ({ source: 'app', key: ANON, value });
/** First chunk: the anonymous cart event, held. Second: identify (releases it), order, its retry, a bot, a bad order. */
const first = [app(addToCart)];
const second = [app(identify), app(orderCompleted), app(orderCompleted), app(botView), app(noOrderId)];
const RAW_RECORDS = first.length + second.length;

type Step = 'audit encoder' | 'commit';

function injecting(fault: Fault<Step>): (o: ProcessorOptions) => ProcessorOptions {
  return (o) => {
    const real = o.kafka;
    const wrapTransaction = (tx: Transaction): Transaction => override(tx, {
      commit: async () => {
        if (fault.strike('commit')) {
          await tx.abort();
          throw new Error('injected: the transaction was aborted instead of committed');
        }
        return tx.commit();
      },
    });
    const kafka = override(real, {
      producer: (config) => {
        const producer = real.producer(config);
        return override<Producer>(producer, { transaction: async () => wrapTransaction(await producer.transaction()) });
      },
    } as Partial<Kafka>);
    const audit = o.auditSerde!;
    return {
      ...o,
      kafka,
      auditSerde: override(audit, {
        encode: (record: AuditRecord) => {
          if (fault.strike('audit encoder')) throw new Error('injected: audit encoder failed');
          return audit.encode(record);
        },
      }),
    };
  };
}

interface Run {
  audit: Array<{ key: string | null; record: AuditRecord }>;
  /** Partition:offset of every raw record. */
  raw: string[];
  canonical: Array<{ key: string | null; eventId: string; name: string }>;
}

async function run(kafka: Kafka, fault: Fault<Step>): Promise<Run> {
  const prefix = `${uniqueName('audit')}.`;
  const groupId = uniqueName('normalizer');
  const topics = topicNames(prefix);
  const rawTopics = [topics.rawApp, topics.rawShopify, topics.rawSubscriptions];
  const { brokers, registryUrl } = stackInfo();
  const config = loadServiceConfig({
    KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, NORMALIZER_GROUP_ID: groupId,
    NORMALIZER_OPS_PORT: '0', NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS,
    NORMALIZER_COMPLETENESS_HOLD_MS: '0',
  });
  const service = await startNormalizer(config, quietLogger, { wrapProcessorOptions: injecting(fault) });
  try {
    await produceStream(kafka, registryUrl, topics, first);
    await waitForGroupDone(kafka, groupId, rawTopics, 60_000);
    fault.armed = true;
    await produceStream(kafka, registryUrl, topics, second);
    await waitForGroupDone(kafka, groupId, rawTopics, 60_000);
  } finally {
    await service.stop();
  }
  const serde = new AvroSerde<AuditRecord>({ registry: createRegistry(registryUrl), registryUrl, subject: valueSubject(topics.audit), schema: loadAvroSchema('audit-record') });
  const audit: Run['audit'] = [];
  await readTopicToEnd(kafka, topics.audit, async (m) => {
    audit.push({ key: m.key?.toString('utf8') ?? null, record: (await serde.decode(m.value!)).value });
  });
  const raw: string[] = [];
  await readTopicToEnd(kafka, topics.rawApp, (m, partition) => { raw.push(`${partition}:${m.offset}`); });
  const canonical = (await readCanonical(kafka, registryUrl, topics.canonical)).map((r) => ({ key: r.key, eventId: r.event.event_id, name: r.event.name }));
  return { audit, raw, canonical };
}

const at = (r: AuditRecord): string => `${r.source_partition}:${r.source_offset}`;
const ids = (r: AuditRecord, type: string): string[] => r.identifiers.filter((i) => i.type === type).map((i) => i.value);
/** What a run wrote, without the times it wrote and held until (wall clock), in a stable order. */
const comparable = (r: Run): string[] => r.audit.map(({ key, record }) => JSON.stringify({ key, ...record, source_topic: record.source_topic.slice(record.source_topic.indexOf(".") + 1), audited_at: 0, held_until: record.held_until !== null })).toSorted();

const kafka = testKafka();
let baseline: Run;

beforeAll(async () => {
  baseline = await run(kafka, new Fault<Step>(null));
}, 180_000);

describe('audit records through the broker', () => {
  it('one record per raw record, on arrival, and one more for the held cart event when the identify released it', () => {
    const arrival = baseline.audit.filter((a) => a.record.outcome !== 'released');
    expect(baseline.raw).toHaveLength(RAW_RECORDS);
    expect(arrival.map((a) => at(a.record)).toSorted()).toEqual(baseline.raw.toSorted());
    const released = baseline.audit.filter((a) => a.record.outcome === 'released');
    expect(released).toHaveLength(1);
    expect(at(released[0]!.record)).toBe(at(arrival.find((a) => a.record.outcome === 'held')!.record));
  });

  it('each record says what became of it, with its reasons and identifiers', () => {
    // Records keyed by different people sit in different partitions: ordered here by offset, then outcome.
    const byMessage = (id: string) => baseline.audit.filter((a) => ids(a.record, 'message_id').includes(id)).map((a) => a.record)
      .sort((a, b) => Number(a.source_offset) - Number(b.source_offset) || a.outcome.localeCompare(b.outcome));
    const [held, released] = byMessage('m-0003');
    expect(held).toMatchObject({ outcome: 'held', event_name: 'added_to_cart', source_event: 'addToCart', event_ids: [], customer_key: null });
    expect(held!.held_until).not.toBeNull();
    expect(released).toMatchObject({ outcome: 'released', customer_key: CUS, reasons: [] });
    expect(released!.event_ids).toHaveLength(1);
    expect(ids(released!, 'anonymous_id')).toEqual([ANON]);

    const [identified] = byMessage('m-0004');
    expect(identified).toMatchObject({ outcome: 'canonical', event_name: 'identify', customer_key: CUS, reasons: [] });
    expect(ids(identified!, 'email')).toEqual([EMAIL]);

    const orders = byMessage('m-0006');
    expect(orders.map((r) => [r.outcome, r.reasons])).toEqual([['canonical', []], ['dropped', ['duplicate']]]);
    expect(ids(orders[0]!, 'order_id')).toEqual([ORDER]);
    expect(orders[1]!.event_ids).toEqual([]);

    expect(byMessage('m-bot')).toMatchObject([{ outcome: 'dropped', reasons: ['bot'], event_ids: [] }]);
    expect(byMessage('m-q1')).toMatchObject([{ outcome: 'quarantined', reasons: ['missing_required_property'], event_ids: [], event_name: 'order_completed' }]);
  });

  it('every canonical event is told by exactly one audit record, keyed by the person when known', () => {
    const told = baseline.audit.flatMap((a) => a.record.event_ids);
    expect(told.toSorted()).toEqual(baseline.canonical.map((c) => c.eventId).toSorted());
    for (const { key, record } of baseline.audit) {
      expect(key).toBe(record.customer_key ?? ANON);
    }
  });

  it.each(['audit encoder', 'commit'] as const)('%s fails once: the same audit records, each exactly once', async (step) => {
    const fault = new Fault(step);
    const result = await run(kafka, fault);
    expect(fault.fired).toBe(1);
    expect(comparable(result)).toEqual(comparable(baseline));
  });
});
