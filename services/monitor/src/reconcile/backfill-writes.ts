/**
 * Which orders a backfill run actually wrote: the records raw.shopify gained while it ran, read
 * from the offsets measured before it started to the end measured after, and recognised by the
 * stable delivery id backfill gives them (`backfill:<order id>`). Backfill's summary only counts;
 * an order it judged invalid, or found already known to the normalizer, is not written, and must
 * not be recorded as sent.
 */
import { randomUUID } from 'node:crypto';
import {
  AvroSerde, ConsumerPositions, createRegistry, fetchTopicOffsets, loadAvroSchema, measureEnds, partitionKey, valueSubject, type Kafka, type PartitionEnd,
} from '@cio-pipeline/core';
import type { RawShopifyWebhook } from '@cio-pipeline/core/generated/avro-types';

export const BACKFILL_DELIVERY_PREFIX = 'backfill:';

/** Each partition's end now (read_committed); none for a topic that does not exist yet. */
export async function offsetsNow(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return new Map();
    return new Map((await fetchTopicOffsets(admin, topic)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Order ids of the backfill records written to `topic` since `from` (offsets per partition). */
export async function backfilledSince(kafka: Kafka, registryUrl: string, topic: string, from: ReadonlyMap<number, bigint>): Promise<Set<string>> {
  const admin = kafka.admin();
  await admin.connect();
  const measured = await measureEnds(admin, [topic]).finally(() => admin.disconnect());
  const ends = new Map<string, PartitionEnd>();
  for (const e of measured.values()) {
    const start = from.get(e.partition) ?? e.low;
    if (e.end > start) ends.set(partitionKey(topic, e.partition), { ...e, low: start > e.low ? start : e.low });
  }
  const written = new Set<string>();
  if (ends.size === 0) return written;

  const serde = new AvroSerde<RawShopifyWebhook>({ registry: createRegistry(registryUrl), registryUrl, subject: valueSubject(topic), schema: loadAvroSchema('raw-shopify') });
  const groupId = `reconcile-${randomUUID().slice(0, 8)}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 250 });
  const positions = new ConsumerPositions();
  positions.follow(consumer);
  // Each partition's read starts at `low` (every join seeks there); a partition without new records is not read.
  for (const e of ends.values()) positions.advance(topic, e.partition, e.low);
  const reached = positions.reach(ends, `reading what backfill wrote to ${topic}`, { stallMs: 60_000 });
  reached.catch(() => undefined); // awaited below
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: false });
    consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        const end = ends.get(partitionKey(topic, batch.partition))?.end;
        for (const m of batch.messages) {
          if (end === undefined || BigInt(m.offset) >= end || m.value === null) continue;
          const id = (await serde.decode(m.value)).value.webhook_id;
          if (id?.startsWith(BACKFILL_DELIVERY_PREFIX)) written.add(id.slice(BACKFILL_DELIVERY_PREFIX.length));
        }
        await heartbeat();
      },
    }).catch((err: unknown) => positions.fail(err as Error));
    await reached;
  } finally {
    positions.fail(new Error('read ended'));
    await consumer.disconnect().catch(() => undefined);
    const cleanup = kafka.admin();
    await cleanup.connect().then(() => cleanup.deleteGroups([groupId])).catch(() => undefined);
    await cleanup.disconnect().catch(() => undefined);
  }
  return written;
}
