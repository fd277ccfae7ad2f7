import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { ConsumerPositions, measureEnds, partitionKey } from './partition-ends.ts';

export interface ReadToEndOptions {
  onProgress?: (read: number, total: number) => void;
  /** Fails (EndNotReachedError) when the read has not moved for this long. Default 60 s. */
  stallMs?: number;
  /** Fails (EndNotReachedError) when the whole read takes longer. Default: no limit. */
  timeoutMs?: number;
}

/**
 * Reads a topic from the beginning to its end as measured when the read starts (read_committed),
 * for the commands that scan a whole topic once: backfill, quarantine replay, DLQ replay.
 * A partition is done when the consumer's fetch position reaches that end (ConsumerPositions:
 * transaction markers and aborted records count), never because the read went quiet. Records
 * written after the start are left for the next read.
 */
export async function readTopicToEnd(
  kafka: Kafka,
  topic: string,
  onMessage: (message: KafkaMessage, partition: number) => Promise<void> | void,
  opts: ReadToEndOptions = {},
): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await measureEnds(admin, [topic]).finally(() => admin.disconnect());
  let total = 0;
  for (const { low, end } of ends.values()) total += Number(end - low);
  if (ends.size === 0) return 0;

  const groupId = `scan-${topic}-${randomUUID().slice(0, 8)}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 250 });
  const positions = new ConsumerPositions();
  positions.follow(consumer);
  const reached = positions.reach(ends, `reading ${topic} to its end`, { stallMs: opts.stallMs ?? 60_000, timeoutMs: opts.timeoutMs });
  reached.catch(() => undefined); // awaited below; a failure meanwhile is not an unhandled rejection
  let read = 0;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        const end = ends.get(partitionKey(topic, batch.partition))?.end;
        for (const m of batch.messages) {
          if (end === undefined || BigInt(m.offset) >= end) break; // written after the read began
          try {
            await onMessage(m, batch.partition);
          } catch (err) {
            // The caller's failure ends the read; KafkaJS would otherwise retry the batch forever.
            positions.fail(err as Error);
            throw err;
          }
          read++;
        }
        opts.onProgress?.(read, total);
        await heartbeat();
      },
    }).catch((err: unknown) => positions.fail(err as Error));
    await reached;
  } finally {
    positions.fail(new Error('read ended')); // clears the wait's timer if the read failed early
    await consumer.disconnect().catch(() => undefined);
    const cleanup = kafka.admin();
    await cleanup.connect().then(() => cleanup.deleteGroups([groupId])).catch(() => undefined);
    await cleanup.disconnect().catch(() => undefined);
  }
  return read;
}
