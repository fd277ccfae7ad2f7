/**
 * Reads what the pipeline recorded, each topic to its end as measured at the start of the read:
 * the normalizer's audit records, the sink's receipts and reconcile's backfill ledger.
 */
import { AvroSerde, createRegistry, loadAvroSchema, readTopicToEnd, SerdeError, valueSubject, type Kafka, type Logger, type Topics } from '@cio-pipeline/core';
import type { AuditRecord, DeliveryReceipt } from '@cio-pipeline/core/generated/avro-types';
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
  for (const topic of [topics.audit, topics.receipts]) {
    if (!existing.has(topic)) throw new ReconcileError('RECONCILE_TOPIC_MISSING', `topic ${topic} does not exist: nothing says what became of any order`);
  }
  const registry = createRegistry(src.registryUrl);
  const serde = <T>(topic: string, schema: 'audit-record' | 'delivery-receipt') =>
    new AvroSerde<T>({ registry, registryUrl: src.registryUrl, subject: valueSubject(topic), schema: loadAvroSchema(schema) });
  const auditSerde = serde<AuditRecord>(topics.audit, 'audit-record');
  const receiptSerde = serde<DeliveryReceipt>(topics.receipts, 'delivery-receipt');

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
  const receipts = await readTopicToEnd(kafka, topics.receipts, async (m) => {
    const receipt = await decodeOrSkip(topics.receipts, receiptSerde, m.value);
    if (receipt) index.addReceipt(receipt);
  });
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
