/**
 * Exactly once into events.canonical, through the real broker: a 50,000-event raw stream (with
 * client retries and Shopify redeliveries) is normalized by the service running as a child process,
 * which is SIGKILLed in the middle and restarted; read_committed, every expected canonical event is
 * there exactly once. Then two instances in one group give the same events as one.
 *
 * The expected events come from running the same stateless and state stages in-process over the
 * same records: each person's raw events live in one partition, so the outcome does not depend on
 * how partitions interleave (see synthetic-stream.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicNames, type Kafka } from '@cio-pipeline/core';
import { loadServiceConfig } from '../src/service-config.ts';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import {
  compareIds, endOffsetSum, FUTURE_TOLERANCE_MS, PLAN_PATH, produceStream, readCanonical, registerRawSchemas, retriable, spawnNormalizer, waitForGroupDone, waitForMembers,
  type NormalizerProcess,
} from './load-harness.ts';
import { eventually } from '../../../test/support/eventually.ts';
import { runInProcess, syntheticStream, type SyntheticRecord } from './synthetic-stream.ts';

const APP_EVENTS = Number(process.env['EXACTLY_ONCE_EVENTS'] ?? 50_000);
const KILL_AFTER = Math.round(APP_EVENTS * 0.3); // canonical records written before the crash

describe('exactly once into events.canonical, through crashes and scale-out', () => {
  let kafka: Kafka;
  let records: SyntheticRecord[];
  let expected: Set<string>;
  const firstRun = new Map<string, string[]>();
  const children: NormalizerProcess[] = [];
  const dirs: string[] = [];
  const { brokers, registryUrl } = stackInfo();

  beforeAll(() => {
    kafka = testKafka();
    records = syntheticStream({ appEvents: APP_EVENTS, people: Math.max(1, APP_EVENTS / 10), duplicateRate: 0.03, shopifyOrders: APP_EVENTS / 50, orderDuplicateRate: 0.3 });
    const config = loadServiceConfig({ NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS });
    const run = runInProcess(records, config);
    expect(run.state.stats().heldEvents).toBe(0);
    expected = new Set(run.emitted.map((e) => e.event.event_id));
    expect(expected.size).toBe(run.emitted.length);
  });

  afterAll(async () => {
    // A failed test must not leave a normalizer running.
    await Promise.all(children.map((c) => c.kill()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /**
   * Where the state lives, how many partitions' units of work overlap (three by default, each
   * committing after the one applied before it, or one), and how many of a partition's (one or two).
   */
  const variants = {
    memory: {},
    disk: {},
    'memory, one partition at a time': { NORMALIZER_PARTITIONS_CONCURRENTLY: '1' },
    // Two transactions of a partition in flight (NORMALIZER_PRODUCERS_PER_PARTITION, opt-in).
    'memory, two producers per partition, three partitions overlapping': { NORMALIZER_PARTITIONS_CONCURRENTLY: '3', NORMALIZER_PRODUCERS_PER_PARTITION: '2' },
  } satisfies Record<string, Record<string, string>>;
  type Variant = keyof typeof variants;

  /** With state on disk, a directory per instance (the restarted instance reuses its own). */
  function stateDir(variant: Variant): string | null {
    if (variant !== 'disk') return null;
    const dir = mkdtempSync(join(tmpdir(), 'eo-state-'));
    dirs.push(dir);
    return dir;
  }

  function start(variant: Variant, prefix: string, groupId: string, logLevel = 'warn', dir: string | null = null): NormalizerProcess {
    const child = spawnNormalizer({
      KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, NORMALIZER_GROUP_ID: groupId, LOG_LEVEL: logLevel,
      ...(dir !== null ? { NORMALIZER_STATE_DIR: dir } : {}), ...variants[variant],
    });
    children.push(child);
    return child;
  }

  const output = (): string => children.map((c, i) => `--- normalizer ${i} (pid ${c.child.pid}):\n${c.output().slice(-4000)}`).join('\n');

  for (const variant of Object.keys(variants) as Variant[]) {
    it(`state in ${variant}: writes each of ~${APP_EVENTS} events exactly once although the normalizer is SIGKILLed mid-stream`, async () => {
      const prefix = `${uniqueName('eo')}.`;
      const topics = topicNames(prefix);
      const groupId = uniqueName('normalizer');
      const t0 = Date.now();
      const dir = stateDir(variant);
      await registerRawSchemas(registryUrl, topics);
      // The first instance creates the topics; the stream goes in before it consumes much of it.
      const first = start(variant, prefix, groupId, 'warn', dir);
      await eventually(`the topics of ${prefix}`, async () => (await listTopics(kafka)).includes(topics.rawApp) && (await listTopics(kafka)).includes(topics.canonical), {
        timeoutMs: 60_000, intervalMs: 250, retryOn: retriable, context: output,
      });
      await produceStream(kafka, registryUrl, topics, records, { registered: true });
      const produced = Date.now();

      const written = await eventually(`more than ${KILL_AFTER} canonical records`, () => endOffsetSum(kafka, topics.canonical), (n) => n > KILL_AFTER, {
        timeoutMs: 90_000, intervalMs: 100, retryOn: retriable, context: output,
      });
      expect(await first.kill()).toBe('SIGKILL');
      const killedAt = Date.now();

      // With state on disk the restart reuses the killed instance's directory (its local store).
      const second = start(variant, prefix, groupId, 'warn', dir);
      await waitForGroupDone(kafka, groupId, [topics.rawApp, topics.rawShopify], 150_000, output);
      const done = Date.now();
      expect(await second.stop()).toBe(0);

      const read = await readCanonical(kafka, registryUrl, topics.canonical);
      const ids = read.map((r) => r.event.event_id);
      const diff = compareIds(ids, expected);
      quietLogger.info({ diff: { duplicates: diff.duplicates.length, missing: diff.missing.length, unexpected: diff.unexpected.length } }, 'compared');
      expect({ duplicates: diff.duplicates.slice(0, 5), missing: diff.missing.slice(0, 5), unexpected: diff.unexpected.slice(0, 5) })
        .toEqual({ duplicates: [], missing: [], unexpected: [] });
      expect(ids).toHaveLength(expected.size);
      // Keyed by the canonical id: one person's events in one partition.
      for (const r of read) expect(r.key).toBe(r.event.customer_id ?? r.event.anonymous_id);
      firstRun.set(variant, ids);
      console.log(`[exactly-once ${variant}] ${records.length} raw -> ${ids.length} canonical; produce ${produced - t0} ms, killed at ${written} log records after ${killedAt - produced} ms, restart to done ${done - killedAt} ms`);
    }, 300_000);

    it(`state in ${variant}: gives the same events with two instances in one group (the second joining mid-stream) as with one`, async () => {
      const prefix = `${uniqueName('eo2')}.`;
      const topics = topicNames(prefix);
      const groupId = uniqueName('normalizer');
      const t0 = Date.now();
      await registerRawSchemas(registryUrl, topics);
      // info logs the ops port, whose metrics show that both instances did part of the work.
      const a = start(variant, prefix, groupId, 'info', stateDir(variant));
      await eventually(`the topics of ${prefix}`, async () => (await listTopics(kafka)).includes(topics.canonical), { timeoutMs: 60_000, intervalMs: 250, retryOn: retriable, context: output });
      // The second instance joins mid-stream: partitions with state behind them move to it. The
      // second half of the stream goes in only once it holds partitions, so that it cannot find
      // the first instance already done (as on a fast machine or a slow join).
      const half = Math.floor(records.length / 2);
      await produceStream(kafka, registryUrl, topics, records.slice(0, half), { registered: true });
      await eventually(`more than ${KILL_AFTER} canonical records`, () => endOffsetSum(kafka, topics.canonical), (n) => n > KILL_AFTER, {
        timeoutMs: 90_000, intervalMs: 100, retryOn: retriable, context: output,
      });
      const b = start(variant, prefix, groupId, 'info', stateDir(variant));
      await waitForMembers(kafka, groupId, 2, 90_000, output);
      await produceStream(kafka, registryUrl, topics, records.slice(half), { registered: true });
      await waitForGroupDone(kafka, groupId, [topics.rawApp, topics.rawShopify], 150_000, output);
      const done = Date.now();
      const [inA, inB] = [await a.counter('normalizer_events_in_total'), await b.counter('normalizer_events_in_total')];
      expect(inA).toBeGreaterThan(0);
      expect(inB).toBeGreaterThan(0);
      expect(await a.stop()).toBe(0);
      expect(await b.stop()).toBe(0);

      const ids = (await readCanonical(kafka, registryUrl, topics.canonical)).map((r) => r.event.event_id);
      // The single-instance run wrote exactly `expected` (when it ran first in this file).
      const diff = compareIds(ids, expected);
      expect({ duplicates: diff.duplicates.slice(0, 5), missing: diff.missing.slice(0, 5), unexpected: diff.unexpected.slice(0, 5) })
        .toEqual({ duplicates: [], missing: [], unexpected: [] });
      expect(ids).toHaveLength(expected.size);
      const single = firstRun.get(variant);
      if (single !== undefined) expect(new Set(ids)).toEqual(new Set(single));
      console.log(`[exactly-once ${variant}] two instances: ${ids.length} canonical in ${done - t0} ms; raw records read by the first ${inA}, by the second ${inB}`);
    }, 300_000);
  }
});

async function listTopics(kafka: Kafka): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
}
