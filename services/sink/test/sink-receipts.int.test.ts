/**
 * Delivery receipts through the real broker: one per finished event, in batches on
 * sink.receipt-batches, with Customer.io's answer, for delivered, rejected and attribute-stripped
 * events; none with receipts off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde, createRegistry, loadAvroSchema, valueSubject, type Kafka } from '@cio-pipeline/core';
import type { DeliveryReceiptBatch } from '@cio-pipeline/core/generated/avro-types';
import { stackInfo, testKafka } from '../../../test/support/kafka.ts';
import { readTopic } from '../../../test/support/read-topic.ts';
import { eventually } from '../../../test/support/eventually.ts';
import type { SinkService } from '../src/app.ts';
import {
  canonicalEvent, deleteTopics, identify, metricValue, produceCanonical, startTestEmulator, startTestSink, testPipeline, type TestEmulator, type TestPipeline,
} from './int-support.ts';

function receiptSerde(p: TestPipeline): AvroSerde<DeliveryReceiptBatch> {
  const { registryUrl } = stackInfo();
  return new AvroSerde<DeliveryReceiptBatch>({ registry: createRegistry(registryUrl), registryUrl, subject: valueSubject(p.topics.receipts), schema: loadAvroSchema('delivery-receipt-batch') });
}

describe('sink delivery receipts', () => {
  let kafka: Kafka;
  let emu: TestEmulator;
  let p: TestPipeline;
  let sink: SinkService;

  beforeAll(async () => {
    kafka = testKafka();
    emu = await startTestEmulator();
    p = await testPipeline('sink-receipts');
    sink = await startTestSink(p, emu.url);
  });

  afterAll(async () => {
    await sink?.stop(2_000);
    await emu?.close();
    if (p) await deleteTopics(kafka, p.topics);
  });

  it('writes one receipt per delivered, rejected and stripped event, with the answer from Customer.io', async () => {
    const order = canonicalEvent('rc-1', 1, { name: 'order_completed' });
    const delivered = [identify('rc-1', 0), order, canonicalEvent('rc-1', 2)];
    const rejected = canonicalEvent('rc-2', 1, { name: 'n'.repeat(101) });
    const stripped = identify('rc-2', 0, { bio: 'b'.repeat(1001) });
    const all = [...delivered, stripped, rejected, canonicalEvent('rc-2', 2)];
    await produceCanonical(kafka, p, all);

    const count = (records: Array<{ value: DeliveryReceiptBatch }>) => records.reduce((n, r) => n + r.value.receipts.length, 0);
    const records = await readTopic(kafka, p.topics.receipts, receiptSerde(p), { until: (r) => count(r) >= all.length, settleMs: 1_000 });
    // Batched: fewer records than receipts (the sink lingers 100 ms), none keyed.
    expect(records.length).toBeLessThan(all.length);
    expect(records.every((r) => r.key === null)).toBe(true);
    const receipts = records.flatMap((r) => r.value.receipts);
    expect(receipts).toHaveLength(all.length);
    const byId = new Map(receipts.map((r) => [r.event_id, r]));
    expect([...byId.keys()].sort()).toEqual(all.map((e) => e.event_id).sort());
    for (const e of [...delivered, all[5]!]) {
      expect(byId.get(e.event_id)).toMatchObject({ outcome: 'delivered', status: 200, answer: null, event_name: e.name, customer_key: e.customer_id, attempts: 1, source_topic: p.topics.canonical });
    }
    const r = byId.get(rejected.event_id)!;
    expect(r).toMatchObject({ outcome: 'rejected', status: 207, customer_key: 'rc-2', attempts: 1 });
    expect(r.answer).toContain('name must be at most 100 bytes');
    // The identify reached Customer.io without the refused attribute: delivered, and the receipt says what was refused.
    const s = byId.get(stripped.event_id)!;
    expect(s).toMatchObject({ outcome: 'delivered', status: 200 });
    expect(s.answer).toMatch(/^attributes refused and dead-lettered \(bio\), the rest delivered: .*attributes\.bio/);
    expect(BigInt(s.source_offset)).toBeGreaterThanOrEqual(0n);
    expect(s.occurred_at).toBe(stripped.occurred_at);

    // The counters agree with the topic, and nothing is left waiting.
    const text = await eventually('receipts counted', async () => (await fetch(`http://127.0.0.1:${sink.opsPort}/metrics`)).text(),
      (t) => metricValue(t, 'sink_receipts_written_total{outcome="delivered"}') === 5, { timeoutMs: 30_000, intervalMs: 200 });
    expect(metricValue(text, 'sink_receipts_written_total{outcome="rejected"}')).toBe(1);
    expect(metricValue(text, 'sink_receipts_buffered')).toBe(0);
  });
});

describe('sink with receipts off', () => {
  it('delivers without writing receipts or creating the topic', async () => {
    const kafka = testKafka();
    const emu = await startTestEmulator();
    const p = await testPipeline('sink-noreceipts');
    const sink = await startTestSink(p, emu.url, { SINK_RECEIPTS: 'false' });
    try {
      await produceCanonical(kafka, p, [identify('nr-1', 0), canonicalEvent('nr-1', 1)]);
      await eventually('delivered', () => emu.people(), (ps) => (ps.find((x) => x.id === 'nr-1')?.events.length ?? 0) === 1, { timeoutMs: 30_000, intervalMs: 200 });
      const admin = kafka.admin();
      await admin.connect();
      const topics = await admin.listTopics();
      await admin.disconnect();
      expect(topics).toContain(p.topics.canonical);
      expect(topics).not.toContain(p.topics.receipts);
      expect(topics).not.toContain(p.topics.legacyReceipts);
    } finally {
      await sink.stop(2_000);
      await emu.close();
      await deleteTopics(kafka, p.topics);
    }
  });
});
