/**
 * The foundation everything stands on: Avro through the real registry, and Kafka transactions
 * through the real broker, with KafkaJS against Kafka 4.x.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { COMPATIBILITY, SchemaType } from '@kafkajs/confluent-schema-registry';
import { AvroSerde, createRegistry, valueSubject } from '@cio-pipeline/core';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { createTestTopics, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';

const schema = {
  type: 'record', name: 'Probe', namespace: 'test.foundation',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
};

async function setCompatibility(subject: string, level: string): Promise<void> {
  const res = await fetch(`${stackInfo().registryUrl}/config/${encodeURIComponent(subject)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: level }),
  });
  expect(res.status).toBe(200);
}

async function compatibilityOf(subject: string): Promise<string> {
  const res = await fetch(`${stackInfo().registryUrl}/config/${encodeURIComponent(subject)}`);
  const body = (await res.json()) as { compatibilityLevel?: string; compatibility?: string };
  return body.compatibilityLevel ?? body.compatibility ?? '';
}

/** Reads `count` messages with read_committed isolation, or fails after `timeoutMs`. */
async function readCommitted(kafka: Kafka, topic: string, count: number, timeoutMs = 30_000): Promise<KafkaMessage[]> {
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName('reader'), readUncommitted: false });
  const seen: KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${seen.length} of ${count} messages from ${topic}`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(message);
          if (seen.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

describe('foundation: KafkaJS and the schema registry against the real broker', () => {
  let cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup) await c();
    cleanup = [];
  });

  it('produces an Avro record under a subject with an explicit compatibility level and reads it back read_committed, equal', async () => {
    const kafka = testKafka();
    const topic = uniqueName('foundation-avro');
    cleanup.push(await createTestTopics(kafka, [{ topic, partitions: 1 }]));
    const subject = valueSubject(topic);
    await setCompatibility(subject, 'BACKWARD_TRANSITIVE');
    expect(await compatibilityOf(subject)).toBe('BACKWARD_TRANSITIVE');

    const registry = createRegistry(stackInfo().registryUrl);
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject, compatibility: COMPATIBILITY.BACKWARD_TRANSITIVE });
    const record = { id: '5904832711894301745', amount: 118.4, note: 'caf\u00e9' };

    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ key: 'k1', value: await registry.encode(id, record) }] });
    await producer.disconnect();

    const [message] = await readCommitted(kafka, topic, 1);
    expect(message?.key?.toString()).toBe('k1');
    expect(await registry.decode(message!.value!)).toEqual(record);

    // The project's own serde reads the same bytes through the writer schema from the registry.
    const serde = new AvroSerde<typeof record>({ registry, registryUrl: stackInfo().registryUrl, subject, schema });
    const decoded = await serde.decode(message!.value!);
    expect(decoded.value).toEqual(record);
    expect(decoded.schemaId).toBe(id);
    expect(decoded.schemaVersion).toBe(1);
  });

  it('commits a transaction with sendOffsets, and an aborted one stays invisible to read_committed consumers', async () => {
    const kafka = testKafka();
    const input = uniqueName('foundation-in');
    const output = uniqueName('foundation-out');
    cleanup.push(await createTestTopics(kafka, [{ topic: input, partitions: 1 }, { topic: output, partitions: 1 }]));
    const groupId = uniqueName('foundation-group');

    const producer = kafka.producer({ transactionalId: uniqueName('tx'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();

    const committed = await producer.transaction();
    await committed.send({ topic: output, messages: [{ key: 'a', value: 'committed-1' }, { key: 'a', value: 'committed-2' }] });
    await committed.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: 0, offset: '42' }] }] });
    await committed.commit();

    const aborted = await producer.transaction();
    await aborted.send({ topic: output, messages: [{ key: 'a', value: 'aborted-1' }] });
    await aborted.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: 0, offset: '99' }] }] });
    await aborted.abort();

    const last = await producer.transaction();
    await last.send({ topic: output, messages: [{ key: 'a', value: 'committed-3' }] });
    await last.commit();
    await producer.disconnect();

    // Four records were written (plus transaction markers); read_committed shows the three committed ones.
    const messages = await readCommitted(kafka, output, 3);
    expect(messages.map((m) => m.value?.toString())).toEqual(['committed-1', 'committed-2', 'committed-3']);

    // The committed transaction's offsets are the group's; the aborted ones never were.
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchOffsets({ groupId, topics: [input] });
    await admin.disconnect();
    expect(offsets[0]?.partitions[0]?.offset).toBe('42');
  });
});
