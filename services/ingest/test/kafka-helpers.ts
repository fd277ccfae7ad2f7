/** Reading what ingest wrote, through the real broker and registry (integration tests only). */
import { AvroSerde, createRegistry, loadAvroSchema, rawTopics, topicNames, valueSubject, type Kafka, type RawEnvelope } from '@cio-pipeline/core';

export interface StoredRecord<T = RawEnvelope> {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: T;
  schemaId: number;
}

function serdeFor(registryUrl: string, topic: string): AvroSerde<RawEnvelope> {
  // Tests prefix their topics: the unprefixed name is the suffix.
  const schema = rawTopics(topicNames()).find((t) => topic.endsWith(t.topic))?.schema;
  if (schema === undefined) throw new Error(`not a raw topic: ${topic}`);
  return new AvroSerde<RawEnvelope>({ registry: createRegistry(registryUrl), registryUrl, subject: valueSubject(topic), schema: loadAvroSchema(schema) });
}

/** Sum of the end offsets of the topics' partitions: the number of records ever written to them. */
export async function endOffsets(kafka: Kafka, topics: readonly string[]): Promise<Record<string, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const out: Record<string, number> = {};
    for (const topic of topics) {
      const partitions = await admin.fetchTopicOffsets(topic);
      out[topic] = partitions.reduce((n, p) => n + Number(p.high), 0);
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Every record of `topic` from the beginning, read_committed and decoded with the registry's writer
 * schema. Reads until the end offsets known at the start are reached, so it also proves "no more".
 */
export async function readTopic<T = RawEnvelope>(kafka: Kafka, registryUrl: string, topic: string, groupId: string, timeoutMs = 30_000): Promise<Array<StoredRecord<T>>> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  await admin.disconnect();
  const total = [...ends.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return [];

  const serde = serdeFor(registryUrl, topic);
  const consumer = kafka.consumer({ groupId, readUncommitted: false });
  const seen: Array<StoredRecord<T>> = [];
  const done = new Map<number, boolean>([...ends].map(([p, end]) => [p, end === 0]));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${seen.length} of ${total} records from ${topic}`)), timeoutMs);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          const decoded = await serde.decode(message.value as Buffer);
          seen.push({ topic, partition, offset: message.offset, key: message.key?.toString() ?? null, value: decoded.value as T, schemaId: decoded.schemaId });
          if (Number(message.offset) + 1 >= (ends.get(partition) ?? 0)) done.set(partition, true);
          if ([...done.values()].every(Boolean)) {
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

/** The start and end of each element of the top-level `"batch"` array, found independently of ingest. */
export function batchElementTexts(text: string): string[] {
  const open = text.indexOf('[', text.indexOf('"batch"'));
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' || c === ']') {
      if (depth === 0) break; // the batch array's own closing bracket
      depth--;
      if (depth === 0) out.push(text.slice(start, i + 1));
    }
  }
  return out;
}
