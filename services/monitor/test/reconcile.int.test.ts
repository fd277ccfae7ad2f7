/**
 * reconcile against the real broker and registry. The audit records and receipts are written here
 * with core's Avro serde, as the normalizer and the sink write them: five orders, one missing, one
 * quarantined, one duplicated (a webhook retry the normalizer dropped), the rest delivered; one
 * order twice in the export and one delivered twice. Receipts come in batches, but for one order,
 * delivered before the upgrade: an older sink wrote its receipt alone to the legacy sink.receipts.
 * --backfill then writes the missing one to raw.shopify through the normalizer's backfill, once,
 * however often it runs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde, createRegistry, loadAvroSchema, readTopicToEnd, topicNames, valueSubject, type Kafka, type SchemaName } from '@cio-pipeline/core';
import type { AuditRecord, DeliveryReceipt, DeliveryReceiptBatch, RawShopifyWebhook } from '@cio-pipeline/core/generated/avro-types';
import { createTestTopics, quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { fixtureBytes } from '../../../test/support/raw-events.ts';
import { createMonitorMetrics } from '../src/metrics.ts';
import { ReconcileGauges } from '../src/reconcile/gauges.ts';
import { readOutcomes } from '../src/reconcile/read-outcomes.ts';
import type { DayReport } from '../src/reconcile/report.ts';

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;
const CLI = join(ROOT, 'services/monitor/src/reconcile/cli.ts');

const DELIVERED = '5904832711894310001';
const DELIVERED_TWICE = '5904832711894310002';
const QUARANTINED = '5904832711894310003';
const DUPLICATED = '5904832711894310004';
const MISSING = '5904832711894310005';
const NEXT_DAY = '5904832711894310006';

function exportLine(id: string, createdAt: string): string {
  return fixtureBytes('shopify/orders-create.json').toString('utf8')
    .replace('"id": 5904832711894301745', `"id": ${id}`)
    .replace('"name": "#1042"', `"name": "#${id.slice(-5)}"`)
    .replace('"created_at": "2026-11-20T14:03:11-05:00"', `"created_at": "${createdAt}"`)
    .replace(/\n\s*/g, ' ');
}

let offset = 0;
function audit(orderId: string, outcome: string, reasons: string[] = []): AuditRecord {
  return {
    audited_at: Date.now(), source: 'shopify', source_topic: 'raw.shopify', source_partition: 0, source_offset: String(offset++),
    source_event: 'orders/create', event_name: outcome === 'quarantined' ? null : 'order_completed', occurred_at: null, outcome, reasons,
    event_ids: outcome === 'canonical' ? [`ev-${orderId}`] : [], customer_key: '7301928374650192837', held_until: null,
    identifiers: [{ type: 'order_id', value: orderId }, { type: 'email', value: 'maya.lindqvist@example.com' }],
  };
}

function receipt(orderId: string): DeliveryReceipt {
  return {
    answered_at: Date.now(), event_id: `ev-${orderId}`, event_name: 'order_completed', customer_key: '7301928374650192837', order_id: orderId,
    occurred_at: null, outcome: 'delivered', status: 200, answer: null, attempts: 1, source_topic: 'events.canonical', source_partition: 0, source_offset: '0',
  };
}

describe('reconcile', () => {
  const prefix = `${uniqueName('reconcile')}.`;
  const topics = topicNames(prefix);
  const { brokers, registryUrl } = stackInfo();
  const env = {
    KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, LOG_LEVEL: 'warn',
    NORMALIZER_FUTURE_TOLERANCE_MS: String(10 * 365 * 86_400_000),
  };
  let kafka: Kafka;
  let dropTopics: () => Promise<void>;
  let file: string;

  const serde = async <T>(topic: string, schema: SchemaName): Promise<AvroSerde<T>> => {
    const s = new AvroSerde<T>({ registry: createRegistry(registryUrl), registryUrl, subject: valueSubject(topic), schema: loadAvroSchema(schema) });
    await s.init({ register: true, compatibility: 'FULL_TRANSITIVE' });
    return s;
  };

  async function reconcile(...args: string[]): Promise<DayReport[]> {
    return reconcileExport(file, ...args);
  }

  async function reconcileExport(orders: string, ...args: string[]): Promise<DayReport[]> {
    const { stdout } = await run(process.execPath, [CLI, '--orders', orders, '--json', ...args], { env: { ...process.env, ...env }, cwd: ROOT, timeout: 120_000 });
    return stdout.trim().split('\n').map((l) => JSON.parse(l) as DayReport);
  }

  /** Receipts as the sink writes them: one batch per record, null keys. */
  async function sendBatches(batches: DeliveryReceipt[][]): Promise<void> {
    const batchSerde = await serde<DeliveryReceiptBatch>(topics.receipts, 'delivery-receipt-batch');
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.receipts, acks: -1, messages: batches.map((receipts) => ({ key: null, value: batchSerde.encode({ receipts }) })) });
    await producer.disconnect();
  }

  /** Every record of raw.shopify, read to its end: what backfill wrote, however many times. */
  async function rawShopify(): Promise<RawShopifyWebhook[]> {
    // Decoding only: backfill registered the subject, under its own compatibility level.
    const raw = new AvroSerde<RawShopifyWebhook>({ registry: createRegistry(registryUrl), registryUrl, subject: valueSubject(topics.rawShopify), schema: loadAvroSchema('raw-shopify') });
    const out: RawShopifyWebhook[] = [];
    await readTopicToEnd(kafka, topics.rawShopify, async (m) => void out.push((await raw.decode(m.value!)).value));
    return out;
  }

  beforeAll(async () => {
    kafka = testKafka();
    dropTopics = await createTestTopics(kafka, [
      { topic: topics.audit }, { topic: topics.receipts }, { topic: topics.legacyReceipts }, { topic: topics.rawShopify },
      { topic: topics.dedupeChangelog, compacted: true }, // backfill reads what the normalizer already deduped
    ]);
    const auditSerde = await serde<AuditRecord>(topics.audit, 'audit-record');
    const legacySerde = await serde<DeliveryReceipt>(topics.legacyReceipts, 'delivery-receipt');
    const audits = [
      audit(DELIVERED, 'canonical'), audit(DELIVERED_TWICE, 'canonical'), audit(DUPLICATED, 'canonical'), audit(NEXT_DAY, 'canonical'),
      audit(QUARANTINED, 'quarantined', ['currency_invalid']),
      audit(DUPLICATED, 'dropped', ['duplicate']), // the store's webhook retry
    ];
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.audit, acks: -1, messages: audits.map((a) => ({ key: `${a.source_topic}:${a.source_partition}:${a.source_offset}`, value: auditSerde.encode(a) })) });
    // DELIVERED's receipt from before the upgrade, alone in the legacy topic.
    await producer.send({ topic: topics.legacyReceipts, acks: -1, messages: [{ key: '7301928374650192837', value: legacySerde.encode(receipt(DELIVERED)) }] });
    await producer.disconnect();
    // The sink answered DELIVERED_TWICE twice (a redelivery after a rebalance): one order all the same.
    await sendBatches([[DELIVERED_TWICE, DUPLICATED], [DELIVERED_TWICE, NEXT_DAY]].map((ids) => ids.map(receipt)));

    file = join(mkdtempSync(join(tmpdir(), 'reconcile-')), 'orders.jsonl');
    const day = '2026-11-20T14:03:11-05:00';
    const lines = [DELIVERED, DELIVERED_TWICE, QUARANTINED, DUPLICATED, MISSING].map((id) => exportLine(id, day));
    lines.push(exportLine(DELIVERED, day)); // the same order twice in the export
    lines.push(exportLine(NEXT_DAY, '2026-11-21T09:00:00Z'));
    writeFileSync(file, `${lines.join('\n')}\n`);
  });

  afterAll(async () => {
    await dropTopics?.();
  });

  it('reports per day exactly the missing, quarantined and duplicated orders; --backfill writes the missing one to raw.shopify once', async () => {
    const before = await reconcile();
    expect(before.map((d) => d.day)).toEqual(['2026-11-20', '2026-11-21']);
    expect(before[0]).toMatchObject({
      orders: 5, delivered: 3, quarantined: 1, duplicates: 1, missing: 1, pending: 0, rejected: 0, backfilled: 0,
      missing_ids: [MISSING], duplicate_ids: [DUPLICATED], quarantined_orders: [{ order_id: QUARANTINED, reasons: ['currency_invalid'] }],
    });
    expect(before[1]).toMatchObject({ orders: 1, delivered: 1, missing: 0 });
    expect(await reconcile('--since', '2026-11-21')).toHaveLength(1);
    // Receipts counted one by one, the legacy one among them, not the three records carrying them.
    const sources = { kafka, registryUrl, topics, logger: quietLogger };
    expect((await readOutcomes(sources)).read).toEqual({ audit: 6, receipts: 5, backfills: 0 });

    // The monitor's gauges: the same numbers, for the days of its window only.
    const metrics = createMonitorMetrics();
    const gauges = (days: number) => new ReconcileGauges({ ordersFile: file, intervalMs: 60_000, days, timeZone: 'UTC', sources, metrics, logger: quietLogger, now: () => Date.parse('2026-11-21T12:00:00Z') });
    await gauges(2).runOnce();
    const series = async () => (await metrics.reconcileOrders.get()).values.map((v) => `${v.labels.day} ${v.labels.state} ${v.value}`);
    expect(await series()).toEqual(expect.arrayContaining(['2026-11-20 orders 5', '2026-11-20 missing 1', '2026-11-20 quarantined 1', '2026-11-20 duplicates 1', '2026-11-21 delivered 1']));
    await gauges(1).runOnce();
    expect((await series()).filter((s) => s.startsWith('2026-11-20'))).toEqual([]);
    expect((await metrics.reconcileRuns.get()).values).toEqual([expect.objectContaining({ labels: { outcome: 'ok' }, value: 2 })]);

    const first = await reconcile('--backfill');
    expect(first[0]).toMatchObject({ missing_ids: [MISSING], backfill_handed: [MISSING], backfill_written: [MISSING] });
    const written = await rawShopify();
    expect(written.map((r) => r.webhook_id)).toEqual([`backfill:${MISSING}`]);
    expect(JSON.parse(written[0]!.body.toString('utf8'))).toMatchObject({ id: Number(MISSING) }); // the export's own line

    // No pipeline has picked it up yet: handed to backfill, not missing, and not sent again.
    const after = await reconcile('--backfill');
    expect(after[0]).toMatchObject({ missing: 0, missing_ids: [], backfilled: 1, backfilled_ids: [MISSING], backfill_handed: [], backfill_written: [] });
    expect((await rawShopify()).map((r) => r.webhook_id)).toEqual([`backfill:${MISSING}`]);

    // The pipeline's outcome arrives: delivered, no longer backfilled.
    const auditSerde = await serde<AuditRecord>(topics.audit, 'audit-record');
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.audit, acks: -1, messages: [{ key: null, value: auditSerde.encode({ ...audit(MISSING, 'canonical'), source: 'backfill' }) }] });
    await producer.disconnect();
    await sendBatches([[receipt(MISSING)]]);
    const settled = await reconcile();
    expect(settled[0]).toMatchObject({ orders: 5, delivered: 4, quarantined: 1, duplicates: 1, missing: 0, backfilled: 0 });
  }, 600_000);

  it('an order backfill judges invalid is not written, not recorded as sent, and stays missing', async () => {
    const invalid = '5904832711894310099';
    const orders = join(mkdtempSync(join(tmpdir(), 'reconcile-')), 'invalid.jsonl');
    writeFileSync(orders, `${exportLine(invalid, '2026-11-20T14:03:11-05:00').replace('"currency": "usd"', '"currency": "XYZ"')}\n`);
    const [handed] = await reconcileExport(orders, '--backfill');
    expect(handed).toMatchObject({ missing_ids: [invalid], backfill_handed: [invalid], backfill_written: [] });
    const [after] = await reconcileExport(orders);
    expect(after).toMatchObject({ missing: 1, missing_ids: [invalid], backfilled: 0 });
    expect((await rawShopify()).map((r) => r.webhook_id)).not.toContain(`backfill:${invalid}`);
  }, 300_000);

  it('needs pipeline.audit and a receipts topic; after an upgrade, before the new sink writes, the legacy one is enough', async () => {
    const own = topicNames(`${uniqueName('reconcile-upgrade')}.`);
    const sources = { kafka, registryUrl, topics: own, logger: quietLogger };
    const drops = [await createTestTopics(kafka, [{ topic: own.audit }])];
    try {
      await expect(readOutcomes(sources)).rejects.toMatchObject({ code: 'RECONCILE_TOPIC_MISSING' });
      drops.push(await createTestTopics(kafka, [{ topic: own.legacyReceipts }]));
      const legacySerde = await serde<DeliveryReceipt>(own.legacyReceipts, 'delivery-receipt');
      const producer = kafka.producer({ idempotent: true });
      await producer.connect();
      await producer.send({ topic: own.legacyReceipts, acks: -1, messages: [{ key: null, value: legacySerde.encode(receipt(DELIVERED)) }] });
      await producer.disconnect();
      const read = await readOutcomes(sources);
      expect(read.read).toEqual({ audit: 0, receipts: 1, backfills: 0 });
      expect(read.index.factsFor([DELIVERED]).delivered).toBe(1);
    } finally {
      for (const drop of drops) await drop();
    }
  }, 120_000);
});
