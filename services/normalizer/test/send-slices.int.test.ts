/**
 * A transaction's records cut by `sendSlices`, through the real broker: one topic's 3 MB on one
 * partition, beside two other topics, are taken in full in one transaction. The same topic's records
 * in one send are refused (the broker's 1 MB record batch), which is what the per-topic bound is for.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Message } from 'kafkajs';
import { sendSlices } from '../src/kafka/send-slices.ts';
import { createTestTopics, testKafka, uniqueName } from '../../../test/support/kafka.ts';

const kafka = testKafka();
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

const records = (prefix: string, count: number, bytes: number): Message[] =>
  Array.from({ length: count }, (_, i) => ({ key: `${prefix}-${i}`, value: Buffer.alloc(bytes, i % 251), partition: 0 }));

/** Committed records per topic, read_committed, from the beginning. */
async function countCommitted(topics: string[], expected: number): Promise<Map<string, number>> {
  const counts = new Map(topics.map((t) => [t, 0]));
  const consumer = kafka.consumer({ groupId: uniqueName('slices-reader'), maxWaitTimeInMs: 100, readUncommitted: false, maxBytesPerPartition: 8 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  let total = 0;
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        counts.set(batch.topic, counts.get(batch.topic)! + batch.messages.length);
        total += batch.messages.length;
        if (total >= expected) resolve();
      },
    });
  });
  await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`read ${total} of ${expected} records`)), 30_000))]);
  await consumer.disconnect();
  return counts;
}

describe('sendSlices through the broker', () => {
  it('gets a 3 MB topic on one partition and two other topics through one transaction', async () => {
    const [big, audit, changelog] = [uniqueName('slices-big'), uniqueName('slices-audit'), uniqueName('slices-changelog')];
    cleanups.push(await createTestTopics(kafka, [big, audit, changelog].map((topic) => ({ topic, partitions: 1 }))));
    const topicMessages = [
      { topic: big, messages: records('big', 3_000, 1_000) },
      { topic: audit, messages: records('audit', 1_500, 400) },
      { topic: changelog, messages: records('changelog', 5_000, 60) },
    ];
    const slices = sendSlices(topicMessages);
    // The big topic needs five sends (3.2 MB in shares of at most 768 KB); the others, each under
    // 768 KB, ride along in its last one rather than taking sends of their own.
    expect(slices).toHaveLength(5);
    expect(slices[4]!.map((t) => t.topic)).toEqual([big, audit, changelog]);

    const producer = kafka.producer({ transactionalId: uniqueName('slices-tx'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      // The control: the big topic's records in one send make one record batch over 1 MB.
      const refused = await producer.transaction();
      await expect(refused.sendBatch({ topicMessages: [topicMessages[0]!], acks: -1 })).rejects.toThrow(/too large|MESSAGE_TOO_LARGE|larger than/i);
      await refused.abort().catch(() => undefined);

      const tx = await producer.transaction();
      for (const slice of slices) await tx.sendBatch({ topicMessages: slice, acks: -1 });
      await tx.commit();
    } finally {
      await producer.disconnect();
    }
    const counts = await countCommitted([big, audit, changelog], 9_500);
    expect(Object.fromEntries(counts)).toEqual({ [big]: 3_000, [audit]: 1_500, [changelog]: 5_000 });
  });
});
