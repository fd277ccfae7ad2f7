/**
 * Raw topics made by hand keep the broker's 1 MB record limit, below the 5 MB webhooks ingest
 * accepts: such a webhook would fail as a Kafka write on every retry. Ingest reads each raw topic's
 * max.message.bytes at start, through the real broker, and names every topic that is short.
 */
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, topicNames } from '@cio-pipeline/core';
import { stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { KafkaRawWriter, kafkaRawWriterOptions } from '../src/kafka-raw-writer.ts';
import { testConfig } from './helpers.ts';

const kafka = testKafka();
const made: string[] = [];

afterAll(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: made }).catch(() => undefined);
  await admin.disconnect();
});

/** Starts a writer on `prefix` and returns what it logged of short topics (KafkaJS's own errors aside). */
async function startWriter(prefix: string, createTopics: boolean): Promise<Array<Record<string, unknown>>> {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const { brokers, registryUrl } = stackInfo();
  const config = testConfig({ kafkaBrokers: brokers.split(','), kafkaBrokersConfigured: true, schemaRegistryUrl: registryUrl, topicPrefix: prefix, createTopics, maxWebhookBytes: 5 * 1024 * 1024 });
  const writer = new KafkaRawWriter(kafkaRawWriterOptions(config, createLogger('raw-topic-limits-test', 'warn', sink)));
  try {
    await writer.start();
  } finally {
    await writer.close();
  }
  return lines.filter((l) => l['level'] === 'error' && String(l['msg']).startsWith('raw topic refuses'));
}

describe('raw topics record limits', () => {
  it('names each raw topic made with the broker default limit; topics ingest makes are large enough', async () => {
    const byHand = `${uniqueName('limits')}.`;
    const t = topicNames(byHand);
    const raw = [t.rawShopify, t.rawApp, t.rawSubscriptions];
    made.push(...raw);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: raw.map((topic) => ({ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '1048588' }] })) });
    } finally {
      await admin.disconnect();
    }
    const errors = await startWriter(byHand, false);
    expect(errors.map((e) => e['topic']).sort()).toEqual([...raw].sort());
    expect(errors.every((e) => e['maxMessageBytes'] === 1048588 && (e['neededBytes'] as number) > 5 * 1024 * 1024)).toBe(true);

    const byIngest = `${uniqueName('limits')}.`;
    const u = topicNames(byIngest);
    made.push(u.rawShopify, u.rawApp, u.rawSubscriptions);
    expect(await startWriter(byIngest, true)).toEqual([]);
  });
});
