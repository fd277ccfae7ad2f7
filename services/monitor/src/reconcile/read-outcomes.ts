/**
 * Reads what the pipeline recorded, each topic to its end as measured at the start of the read:
 * the normalizer's audit records, the sink's receipts (batches, and the single receipts older sinks
 * wrote to the legacy topic) and reconcile's backfill ledger.
 */
import { AvroSerde, createRegistry, loadAvroSchema, readTopicToEnd, SerdeError, valueSubject, type Kafka, type Logger, type Topics } from '@cio-pipeline/core';
import type { AuditRecord, DeliveryReceipt, DeliveryReceiptBatch } from '@cio-pipeline/core/generated/avro-types';
import { ReconcileError } from '../errors.ts';
import { OutcomeIndex } from './outcomes.ts';

export interface OutcomeSources {
  kafka: Kafka;
  registryUrl: string;
  topics: Topics;
  logger: Logger;
}

export interface ReadOutcomes {
  index: OutcomeIndex;
  /** Records read; `receipts` counts receipts, however many records carried them. */
  read: { audit: number; receipts: number; backfills: number };
  /** Records skipped because they do not decode, per topic. */
  skipped: Record<string, number>;
}

/** The ledger's value: when the order was handed to backfill. */
export interface LedgerEntry {
  sent_at: number;
}

export async function readOutcomes(src: OutcomeSources): Promise<ReadOutcomes> {
  const { kafka, topics, logger } = src;
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics().finally(() => admin.disconnect()));
  // Either receipts topic will do: an upgraded install may have only the legacy one until the new
  // sink first writes, a new install only the batches one.
  if (!existing.has(topics.audit)) throw new ReconcileError('RECONCILE_TOPIC_MISSING', `topic ${topics.audit} does not exist: nothing says what became of any order`);
  if (!existing.has(topics.receipts) && !existing.has(topics.legacyReceipts)) {
    throw new ReconcileError('RECONCILE_TOPIC_MISSING', `neither ${topics.receipts} nor ${topics.legacyReceipts} exists: nothing says which orders were delivered`);
  }
  const registry = createRegistry(src.registryUrl);
  const serde = <T>(topic: string, schema: 'audit-record' | 'delivery-receipt-batch' | 'delivery-receipt') =>
    new AvroSerde<T>({ registry, registryUrl: src.registryUrl, subject: valueSubject(topic), schema: loadAvroSchema(schema) });
  const auditSerde = serde<AuditRecord>(topics.audit, 'audit-record');
  const batchSerde = serde<DeliveryReceiptBatch>(topics.receipts, 'delivery-receipt-batch');
  const legacySerde = serde<DeliveryReceipt>(topics.legacyReceipts, 'delivery-receipt');

  const index = new OutcomeIndex();
  const skipped: Record<string, number> = {};
  // A record that does not decode is counted and skipped: one bad record must not hide a day.
  const decodeOrSkip = async <T>(topic: string, s: AvroSerde<T>, value: Buffer | null): Promise<T | null> => {
    if (value === null) return null;
    try {
      return (await s.decode(value)).value;
    } catch (err) {
      if (!(err instanceof SerdeError) || err.retryable) throw err;
      skipped[topic] = (skipped[topic] ?? 0) + 1;
      logger.warn({ topic, code: err.code }, 'skipping a record that does not decode');
      return null;
    }
  };

  const audit = await readTopicToEnd(kafka, topics.audit, async (m) => {
    const record = await decodeOrSkip(topics.audit, auditSerde, m.value);
    if (record) index.addAudit(record);
  });
  let receipts = 0;
  const addReceipt = (receipt: DeliveryReceipt): void => {
    index.addReceipt(receipt);
    receipts++;
  };
  if (existing.has(topics.receipts)) {
    await readTopicToEnd(kafka, topics.receipts, async (m) => {
      const batch = await decodeOrSkip(topics.receipts, batchSerde, m.value);
      batch?.receipts.forEach(addReceipt);
    });
  }
  if (existing.has(topics.legacyReceipts)) {
    await readTopicToEnd(kafka, topics.legacyReceipts, async (m) => {
      const receipt = await decodeOrSkip(topics.legacyReceipts, legacySerde, m.value);
      if (receipt) addReceipt(receipt);
    });
  }
  let backfills = 0;
  if (existing.has(topics.reconcileBackfills)) {
    backfills = await readTopicToEnd(kafka, topics.reconcileBackfills, (m) => {
      if (m.key === null || m.value === null) return;
      const entry = parseLedgerEntry(m.value.toString('utf8'));
      if (entry) index.addBackfill(m.key.toString('utf8'), entry.sent_at);
    });
  }
  logger.info({ audit, receipts, backfills }, 'read the pipeline\'s outcomes');
  return { index, read: { audit, receipts, backfills }, skipped };
}

export function parseLedgerEntry(text: string): LedgerEntry | null {
  try {
    const v = JSON.parse(text) as Partial<LedgerEntry>;
    return typeof v.sent_at === 'number' ? { sent_at: v.sent_at } : null;
  } catch {
    return null;
  }
}
