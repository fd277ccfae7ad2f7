/**
 * KafkaJS's `skipBatches` consumer option (scripts/patch-kafkajs.ts), through the real broker: the
 * changelog tail's way of not decoding the batches its own instance wrote. Another consumer in the
 * same process, reading the same partition at the same time, must still get every record.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Consumer, KafkaMessage } from 'kafkajs';
import { measureEnds } from '@cio-pipeline/core';
import { eventually } from './support/eventually.ts';
import { createTestTopics, testKafka, uniqueName } from './support/kafka.ts';

const kafka = testKafka();
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

interface Read { messages: KafkaMessage[]; next: bigint }

/** Reads `topic` from the beginning, read_committed, keeping every message and the position after the last batch. */
async function reader(topic: string, skipBatches?: { header: string; value: Buffer; active: boolean }): Promise<{ consumer: Consumer; read: Read }> {
  const consumer = kafka.consumer({ groupId: uniqueName('skip-reader'), maxWaitTimeInMs: 100, ...(skipBatches ? { skipBatches } : {}) });
  const read: Read = { messages: [], next: 0n };
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  void consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      read.messages.push(...batch.messages);
      read.next = BigInt(batch.lastOffset()) + 1n;
    },
  });
  return { consumer, read };
}

describe('KafkaJS skipBatches', () => {
  it("skips the named writer's batches undecoded, moves past them, and leaves other consumers alone", async () => {
    const topic = uniqueName('skip-batches');
    cleanups.push(await createTestTopics(kafka, [{ topic, partitions: 1 }]));
    const producerOf = async (writer: string) => {
      const p = kafka.producer({ transactionalId: uniqueName(`skip-${writer}`), idempotent: true, maxInFlightRequests: 1 });
      await p.connect();
      return p;
    };
    const me = await producerOf('me');
    const other = await producerOf('other');
    const send = async (p: typeof me, writer: string, from: number, count: number, commit = true) => {
      const tx = await p.transaction();
      await tx.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ key: `${writer}-${from + i}`, value: 'v', headers: { writer } })) });
      await (commit ? tx.commit() : tx.abort());
    };
    // Interleaved: own batches (one aborted) between another writer's.
    await send(me, 'me', 0, 50);
    await send(other, 'other', 0, 10);
    await send(me, 'me', 50, 50, false);
    await send(me, 'me', 100, 50);
    await send(other, 'other', 10, 10);
    await send(me, 'me', 150, 50);
    await me.disconnect();
    await other.disconnect();

    const admin = kafka.admin();
    await admin.connect();
    const end = (await measureEnds(admin, [topic])).get(`${topic}:0`)!.end;
    await admin.disconnect();

    const skipping = await reader(topic, { header: 'writer', value: Buffer.from('me'), active: true });
    const plain = await reader(topic);
    try {
      await eventually('both readers at the end', () => skipping.read.next === end && plain.read.next === end, { timeoutMs: 30_000 });
      const decoded = skipping.read.messages.filter((m) => m.key !== null).map((m) => m.key!.toString());
      expect(decoded).toEqual(Array.from({ length: 20 }, (_, i) => `other-${i}`));
      // One stand-in per committed own batch; the aborted one is hidden as read_committed hides it.
      const standIns = skipping.read.messages.filter((m) => m.key === null) as Array<KafkaMessage & { skippedRecords?: number }>;
      expect(standIns.map((m) => m.skippedRecords)).toEqual([50, 50, 50]);
      expect(standIns.every((m) => m.value === null && Object.keys(m.headers ?? {}).length === 0)).toBe(true);

      const all = plain.read.messages.map((m) => m.key!.toString());
      expect(all.filter((k) => k.startsWith('me-'))).toEqual([...Array.from({ length: 50 }, (_, i) => `me-${i}`), ...Array.from({ length: 100 }, (_, i) => `me-${100 + i}`)]);
      expect(all.filter((k) => k.startsWith('other-'))).toHaveLength(20);
    } finally {
      await skipping.consumer.disconnect();
      await plain.consumer.disconnect();
    }
  });
});
