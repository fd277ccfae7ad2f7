import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';

/**
 * Reads a topic from the beginning to its end as measured when the read starts (read_committed),
 * for the commands that scan a whole topic once: backfill, quarantine replay, DLQ replay.
 * A partition is done when its last record has been read; the last offset of a transactionally
 * written partition is usually a commit marker that no consumer sees, hence the "+2", and a read
 * that goes quiet for `idleMs` ends too (markers of aborted transactions hide the exact end).
 */
export async function readTopicToEnd(
  kafka: Kafka,
  topic: string,
  onMessage: (message: KafkaMessage, partition: number) => Promise<void> | void,
  opts: { idleMs?: number; onProgress?: (read: number, total: number) => void } = {},
): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const ends = new Map<number, bigint>();
  let total = 0;
  for (const p of offsets) {
    const high = BigInt(p.high);
    const low = BigInt(p.low);
    if (high > low) {
      ends.set(p.partition, high);
      total += Number(high - low);
    }
  }
  if (ends.size === 0) return 0;

  const groupId = `scan-${topic}-${randomUUID().slice(0, 8)}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 250 });
  let read = 0;
  let lastActivity = Date.now();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const idleMs = opts.idleMs ?? 3000;
      const timer = setInterval(() => {
        if (ends.size === 0 || Date.now() - lastActivity > idleMs) {
          clearInterval(timer);
          resolve();
        }
      }, 100);
      consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch, heartbeat }) => {
          lastActivity = Date.now();
          const end = ends.get(batch.partition);
          for (const m of batch.messages) {
            if (end === undefined || BigInt(m.offset) >= end) continue; // written after the scan began
            await onMessage(m, batch.partition);
            read++;
            lastActivity = Date.now();
          }
          opts.onProgress?.(read, total);
          if (end !== undefined && BigInt(batch.lastOffset()) + 2n >= end) ends.delete(batch.partition);
          await heartbeat();
        },
      }).catch((err: unknown) => {
        clearInterval(timer);
        reject(err as Error);
      });
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
    const cleanup = kafka.admin();
    await cleanup.connect().then(() => cleanup.deleteGroups([groupId])).catch(() => undefined);
    await cleanup.disconnect().catch(() => undefined);
  }
  return read;
}
