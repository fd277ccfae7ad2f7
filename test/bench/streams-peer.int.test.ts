/**
 * The Kafka Streams peer of the normalizer benchmark (bench/streams-peer), built with Maven and run
 * against the real broker and registry on a small synthetic stream: the decode-dedupe topology
 * writes each distinct messageId once, as JSON with the client's body nested, read_committed; the
 * pass-through copies every record. Its RESULT line counts what it read and wrote.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { topicNames, readTopicToEnd, type Kafka } from '@cio-pipeline/core';
import { buildStreamsPeer, runStreamsPeer } from '../../bench/streams-peer.ts';
import { produceStream } from '../../services/normalizer/test/load-harness.ts';
import { syntheticStream, type SyntheticRecord } from '../../services/normalizer/test/synthetic-stream.ts';
import { createTestTopics, stackInfo, testKafka, uniqueName } from '../support/kafka.ts';

describe('the Kafka Streams benchmark peer', () => {
  let kafka: Kafka;
  let records: SyntheticRecord[];
  let messageIds: Set<string>;
  const { brokers, registryUrl } = stackInfo();

  beforeAll(() => {
    buildStreamsPeer();
    kafka = testKafka();
    records = syntheticStream({ appEvents: 1500, people: 150, duplicateRate: 0.05, anonymousRate: 0.2, shopifyOrders: 0, orderDuplicateRate: 0 });
    messageIds = new Set(records.map((r) => (r.source === 'app' ? r.value.message_id : '')));
    // The stream must hold retries, or the dedupe would go untested.
    expect(messageIds.size).toBeLessThan(records.length);
  }, 300_000);

  async function rawTopics(): Promise<{ prefix: string; inputs: string[]; cleanup: () => Promise<void> }> {
    const prefix = `${uniqueName('streams-peer')}.`;
    const topics = topicNames(prefix);
    const inputs = [topics.rawShopify, topics.rawApp, topics.rawSubscriptions];
    const cleanup = await createTestTopics(kafka, [...inputs, `${prefix}streams.out`].map((topic) => ({ topic })));
    await produceStream(kafka, registryUrl, topics, records);
    return { prefix, inputs, cleanup };
  }

  it('decode-dedupe: each messageId once, decoded with its writer schema, as JSON', async () => {
    const { prefix, inputs, cleanup } = await rawTopics();
    try {
      const result = await runStreamsPeer({
        topology: 'decode-dedupe', brokers, registryUrl, applicationId: uniqueName('streams-peer'), inputs, output: `${prefix}streams.out`, expected: records.length,
      });
      expect(result).toMatchObject({ variant: 'decode-dedupe', records: records.length, out: messageIds.size, duplicates: records.length - messageIds.size });
      expect(result.cpuSeconds).toBeGreaterThan(0);
      expect(result.commits).toBeGreaterThan(0);

      const written: Array<{ message_id: string; type: string; body: unknown }> = [];
      await readTopicToEnd(kafka, `${prefix}streams.out`, (m) => { written.push(JSON.parse(m.value!.toString('utf8'))); });
      expect(written).toHaveLength(messageIds.size);
      expect(new Set(written.map((w) => w.message_id))).toEqual(messageIds);
      const first = records.find((r) => r.source === 'app')!;
      const copy = written.find((w) => first.source === 'app' && w.message_id === first.value.message_id)!;
      expect(copy.type).toBe(first.value.type);
      expect(copy.body).toEqual(JSON.parse(String(first.value.body)));
    } finally {
      await cleanup();
    }
  }, 240_000);

  it('pass-through: every record copied', async () => {
    const { prefix, inputs, cleanup } = await rawTopics();
    try {
      const result = await runStreamsPeer({
        topology: 'pass-through', brokers, registryUrl, applicationId: uniqueName('streams-peer'), inputs, output: `${prefix}streams.out`, expected: records.length,
      });
      expect(result).toMatchObject({ variant: 'pass-through', records: records.length, out: records.length });
      let copied = 0;
      await readTopicToEnd(kafka, `${prefix}streams.out`, () => { copied++; });
      expect(copied).toBe(records.length);
    } finally {
      await cleanup();
    }
  }, 240_000);
});
