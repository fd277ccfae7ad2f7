/** Reads a topic read_committed and decodes it, until a condition holds (or fails after a timeout). */
import type { Kafka } from '@cio-pipeline/core';
import { uniqueName } from './kafka.ts';

export interface ReadRecord<T> {
  key: string | null;
  value: T;
  partition: number;
  offset: string;
}

/** How a record's value is read: an AvroSerde, or `RAW_VALUES` for the bytes as they are. */
export interface ValueDecoder<T> {
  decode(value: Buffer): Promise<{ value: T }>;
}

export const RAW_VALUES: ValueDecoder<Buffer> = { decode: async (value) => ({ value }) };

export async function readTopic<T>(
  kafka: Kafka,
  topic: string,
  serde: ValueDecoder<T>,
  opts: { until: (records: ReadRecord<T>[]) => boolean; settleMs?: number; timeoutMs?: number },
): Promise<ReadRecord<T>[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), readUncommitted: false, maxWaitTimeInMs: 200 });
  const records: ReadRecord<T>[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const timeoutMs = opts.timeoutMs ?? 60_000;
  try {
    await new Promise<void>((resolve, reject) => {
      let settleTimer: NodeJS.Timeout | null = null;
      const timeout = setTimeout(() => reject(new Error(`condition not met on ${topic} after ${timeoutMs} ms; read ${records.length} records`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          if (message.value === null) return;
          const decoded = await serde.decode(message.value);
          records.push({ key: message.key?.toString() ?? null, value: decoded.value, partition, offset: message.offset });
          if (opts.until(records) && settleTimer === null) {
            clearTimeout(timeout);
            // Wait a little longer: a condition that holds must not hide duplicates arriving after it.
            settleTimer = setTimeout(resolve, opts.settleMs ?? 0);
          }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  // Per partition, in offset order; across partitions, in arrival order.
  return records;
}
