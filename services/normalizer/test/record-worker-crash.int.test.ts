/**
 * A record worker killed mid-chunk loses nothing (issue 18), through the real broker: the service
 * runs with two record workers and small chunks; one worker is terminated while it holds records
 * (again, until a chunk has failed for it). The chunks it held fail their unit of work, the state
 * rolls back and KafkaJS re-delivers them: every expected canonical event is there exactly once
 * (read_committed), as the same stages give in-process.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { topicNames } from '@cio-pipeline/core';
import { startNormalizer } from '../src/app.ts';
import { loadServiceConfig } from '../src/service-config.ts';
import { RecordWorkerCrashedError, RecordWorkerPool, type RecordRunner } from '../src/stages/record-workers.ts';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { compareIds, FUTURE_TOLERANCE_MS, PLAN_PATH, produceStream, readCanonical, waitForGroupDone } from './load-harness.ts';
import { runInProcess, syntheticStream, type SyntheticRecord } from './synthetic-stream.ts';

const APP_EVENTS = 3_000;

describe('a record worker crash mid-chunk', () => {
  let records: SyntheticRecord[];
  let expected: Set<string>;

  beforeAll(() => {
    records = syntheticStream({ appEvents: APP_EVENTS, people: APP_EVENTS / 10, duplicateRate: 0.03, shopifyOrders: APP_EVENTS / 50, orderDuplicateRate: 0.3 });
    const run = runInProcess(records, loadServiceConfig({ NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS }));
    expected = new Set(run.emitted.map((e) => e.event.event_id));
  });

  it('fails only the units whose records it held; they are re-delivered and every event is written once', async () => {
    const kafka = testKafka();
    const { brokers, registryUrl } = stackInfo();
    const prefix = `${uniqueName('crash')}.`;
    const groupId = uniqueName('normalizer');
    const topics = topicNames(prefix);
    const config = loadServiceConfig({
      KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, NORMALIZER_GROUP_ID: groupId,
      NORMALIZER_OPS_PORT: '0', NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS,
      NORMALIZER_WORKERS: '2', NORMALIZER_MAX_RECORDS_PER_TRANSACTION: '200',
    });
    let crashed = 0;
    let kills = 0;
    let calls = 0;
    const killing = (o: { records?: RecordRunner }): RecordRunner => {
      expect(o.records).toBeInstanceOf(RecordWorkerPool);
      const pool = o.records as RecordWorkerPool;
      return {
        run: async (topic, partition, messages) => {
          const running = pool.run(topic, partition, messages);
          // From the third chunk on, until one has failed for it: the slices were just posted.
          if (++calls >= 3 && crashed === 0) {
            kills++;
            void pool.threads()[0]!.terminate();
          }
          try {
            return await running;
          } catch (err) {
            if (err instanceof RecordWorkerCrashedError) crashed++;
            throw err;
          }
        },
        close: () => pool.close(),
      };
    };
    const service = await startNormalizer(config, quietLogger, { wrapProcessorOptions: (o) => ({ ...o, records: killing(o) }) });
    try {
      await produceStream(kafka, registryUrl, topics, records);
      await waitForGroupDone(kafka, groupId, [topics.rawApp, topics.rawShopify], 150_000);
    } finally {
      await service.stop();
    }
    expect(kills).toBeGreaterThan(0);
    expect(crashed).toBeGreaterThan(0);

    const ids = (await readCanonical(kafka, registryUrl, topics.canonical)).map((r) => r.event.event_id);
    const diff = compareIds(ids, expected);
    expect({ duplicates: diff.duplicates.slice(0, 5), missing: diff.missing.slice(0, 5), unexpected: diff.unexpected.slice(0, 5) })
      .toEqual({ duplicates: [], missing: [], unexpected: [] });
    expect(ids).toHaveLength(expected.size);
  }, 240_000);
});
