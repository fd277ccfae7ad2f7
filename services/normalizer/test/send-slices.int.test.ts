/**
 * A transaction's records cut by `sendSlices`, through the real broker: one topic's 3 MB on one
 * partition, beside two other topics, are taken in full in one transaction. The same topic's records
 * in one send are refused (the broker's 1 MB record batch), which is what the per-topic bound is for.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Message } from 'kafkajs';
import { sendSlices } from '../src/kafka/send-slices.ts';
import { createTestTopics, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { RAW_VALUES, readTopic } from '../../../test/support/read-topic.ts';

const kafka = testKafka();
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

const records = (prefix: string, count: number, bytes: number): Message[] =>
  Array.from({ length: count }, (_, i) => ({ key: `${prefix}-${i}`, value: Buffer.alloc(bytes, i % 251), partition: 0 }));

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
    for (const { topic, messages } of topicMessages) {
      const read = await readTopic(kafka, topic, RAW_VALUES, { until: (r) => r.length >= messages.length, settleMs: 300 });
      expect(read.map((r) => r.key)).toEqual(messages.map((m) => m.key));
    }
  });
});
