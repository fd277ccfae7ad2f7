/**
 * Apply-or-rollback through the real broker (issue #14): a failure injected once at each step
 * from decode to commit leaves the state as the last committed chunk left it. The re-delivered
 * chunk's events then appear in events.canonical exactly once (read_committed), as in a run without
 * faults, and the identity links it learned are in the changelog, so a restart restores them.
 *
 * Maya's app journey in two chunks: her anonymous browsing first (committed), then identify,
 * checkout and order, the chunk that learns her links, where the fault strikes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Partitioners, type Kafka, type Producer, type Transaction } from 'kafkajs';
import { SerdeError, topicNames } from '@cio-pipeline/core';
import { DiskStoreError } from '../src/state/disk/errors.ts';
import { startNormalizer } from '../src/app.ts';
import { ChangelogTables } from '../src/kafka/changelog-tables.ts';
import { loadServiceConfig } from '../src/service-config.ts';
import { createStateConfig } from '../src/state/config.ts';
import { createStateStage, createStateStores } from '../src/state/state-stage.ts';
import { createDiskStoreConfig } from '../src/state/disk/config.ts';
import { LocalState } from '../src/state/local-state.ts';
import { loadTrackingPlan } from '@cio-pipeline/core';
import type { ProcessorOptions } from '../src/kafka/transactional-processor.ts';
import { Fault, override } from './fault-injection.ts';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { appEnvelopes } from '../../../test/support/raw-events.ts';
import { FUTURE_TOLERANCE_MS, PLAN_PATH, produceStream, readCanonical, retriable, waitForGroupDone } from './load-harness.ts';
import { eventually } from '../../../test/support/eventually.ts';
import type { SyntheticRecord } from './synthetic-stream.ts';

const CUS = 'cus_48213';
const ANON = 'anon-7f3c2a';
const EMAIL = 'maya.lindqvist@example.com';
const partitionOf = (key: string): number => Partitioners.DefaultPartitioner()({
  topic: 'raw.app', message: { key, value: null },
  partitionMetadata: [0, 1, 2].map((partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 })),
});
// The browsing goes in through another partition than the purchase (keys chosen for it), so the
// purchase's chunk is the first of its partition and creates its transactional producer.
const BROWSING_KEY = ['browse-0', 'browse-1', 'browse-2', 'browse-3'].find((k) => partitionOf(k) !== partitionOf(ANON))!;
const journey = appEnvelopes();
const browsing: SyntheticRecord[] = journey.slice(0, 3).map((value) => ({ source: 'app', key: BROWSING_KEY, value }));
const purchase: SyntheticRecord[] = journey.slice(3).map((value) => ({ source: 'app', key: ANON, value }));
/** The end of the purchase's partition's transactional id (`<group>-<prefix>raw.app:<partition>`). */
const PURCHASE_PARTITION = `raw.app:${partitionOf(ANON)}`;

/** Where the state lives: in memory, or on local disk (NORMALIZER_STATE_DIR). */
type Variant = 'memory' | 'disk';
const stateDirs: string[] = [];
afterAll(() => {
  for (const d of stateDirs) rmSync(d, { recursive: true, force: true });
});
function stateEnv(variant: Variant): Record<string, string> {
  if (variant === 'memory') return {};
  const dir = mkdtempSync(join(tmpdir(), 'aor-state-'));
  stateDirs.push(dir);
  return { NORMALIZER_STATE_DIR: dir };
}

type Step = 'decode' | 'state stage' | 'encoder' | 'producer connect' | 'sendOffsets' | 'commit' | 'fenced producer' | 'commit under a later unit';

/**
 * One failure at `step`, armed for the second chunk only; with what the overlap test needs to see:
 * the units applied, and each transaction's end, in order.
 */
class StepFault extends Fault<Step> {
  applies = 0;
  /** Applies before the fault was armed. */
  appliesBefore = 0;
  /** Two units were applied when the failing commit (the oldest unit's) ended. */
  overlapped = false;
  readonly ends: Array<{ end: 'commit' | 'abort' | 'failed'; transactionalId: string }> = [];
}

/** The processor's real parts, each failing once at its step when the fault is armed. */
function injecting(fault: StepFault): (o: ProcessorOptions) => ProcessorOptions {
  return (o) => {
    const real = o.kafka;
    const wrapTransaction = (tx: Transaction, transactionalId: string): Transaction => override(tx, {
      sendOffsets: async (args) => {
        if (fault.strike('sendOffsets')) throw new Error('injected: sendOffsets failed');
        return tx.sendOffsets(args);
      },
      abort: async () => {
        fault.ends.push({ end: 'abort', transactionalId });
        return tx.abort();
      },
      commit: async () => {
        if (fault.strike('commit under a later unit')) {
          // The oldest unit in flight fails only once the second one was applied on top of its changes.
          const both = fault.appliesBefore + 2;
          for (let waited = 0; fault.applies < both && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
          fault.overlapped = fault.applies >= both;
          fault.ends.push({ end: 'failed', transactionalId });
          await tx.abort();
          throw new Error('injected: the oldest transaction in flight was aborted');
        }
        if (fault.strike('commit')) {
          await tx.abort();
          throw new Error('injected: the transaction was aborted instead of committed');
        }
        if (fault.strike('fenced producer')) {
          // A second producer with the same transactional id: the broker fences this one.
          const intruder = real.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
          await intruder.connect();
          await (await intruder.transaction()).abort(); // InitProducerId: a new epoch for the id
          await intruder.disconnect();
          try {
            return await tx.commit();
          } catch (err) {
            fault.fencedBy = err as Error;
            throw err;
          }
        }
        const committed = await tx.commit();
        fault.ends.push({ end: 'commit', transactionalId });
        return committed;
      },
    });
    const kafka = override(real, {
      producer: (config) => {
        const producer = real.producer(config);
        return override<Producer>(producer, {
          connect: async () => {
            // Only the purchase's partition: its producer starts when the partition is assigned.
            if (config?.transactionalId?.endsWith(PURCHASE_PARTITION) && fault.strike('producer connect')) throw new Error('injected: producer connect rejected');
            return producer.connect();
          },
          transaction: async () => wrapTransaction(await producer.transaction(), config!.transactionalId!),
        });
      },
    } as Partial<Kafka>);
    return {
      ...o,
      kafka,
      decoder: override(o.decoder, {
        decode: async (topic, value) => {
          if (fault.strike('decode')) throw new SerdeError('SERDE_SCHEMA_UNAVAILABLE', 'injected: registry unavailable', { retryable: true });
          return o.decoder.decode(topic, value);
        },
      }),
      // With record workers the decoding runs in them: their answer for the chunk is the registry outage.
      ...(o.records ? {
        records: override(o.records, {
          run: async (topic, partition, messages) => {
            const results = await o.records!.run(topic, partition, messages);
            if (fault.strike('decode')) throw new SerdeError('SERDE_SCHEMA_UNAVAILABLE', 'injected: registry unavailable', { retryable: true });
            return results;
          },
        }),
      } : {}),
      state: override(o.state, {
        apply: (candidates, now) => {
          fault.applies++;
          const result = o.state.apply(candidates, now); // the state is half way through the chunk
          if (fault.strike('state stage')) throw new Error('injected: a state stage failed');
          return result;
        },
      }),
      canonicalSerde: override(o.canonicalSerde, {
        encode: (event) => {
          if (fault.strike('encoder')) throw new Error('injected: encoder failed');
          return o.canonicalSerde.encode(event);
        },
      }),
    };
  };
}

interface Run {
  canonical: string[];
  resolved: { anonymous: string | null; email: string | null };
}

function serviceConfig(prefix: string, groupId: string, extra: Record<string, string> = {}): ReturnType<typeof loadServiceConfig> {
  const { brokers, registryUrl } = stackInfo();
  return loadServiceConfig({
    KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, NORMALIZER_GROUP_ID: groupId,
    NORMALIZER_OPS_PORT: '0', NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS,
    NORMALIZER_COMPLETENESS_HOLD_MS: '0', ...extra,
  });
}

/**
 * What reached events.canonical, and who Maya's anonymous id and email resolve to after a restart
 * (with a local store: its contents plus the changelogs' tail from its offsets).
 */
async function outcome(kafka: Kafka, prefix: string, groupId: string, config: ReturnType<typeof loadServiceConfig>): Promise<Run> {
  const topics = topicNames(prefix);
  const canonical = (await readCanonical(kafka, stackInfo().registryUrl, topics.canonical)).map((r) => `${r.key} ${r.event.kind}:${r.event.name} ${r.event.event_id}`);
  // A restart: a fresh state restored as startNormalizer does.
  const stateConfig = createStateConfig(loadTrackingPlan(PLAN_PATH), config.state);
  const local = config.stateDisk === null ? null : await LocalState.open(createDiskStoreConfig(config.stateDisk));
  const state = createStateStage(stateConfig, createStateStores(stateConfig, local), local);
  const tables = new ChangelogTables({
    kafka, topics: { identity: topics.identityChangelog, dedupe: topics.dedupeChangelog, journey: topics.journeyChangelog },
    instanceId: uniqueName('restart'), groupId, logger: quietLogger,
  });
  try {
    if (local !== null) await local.load(Object.values(state.stores));
    await tables.restore((records) => state.restore(records), { timeoutMs: 60_000, ...(local !== null ? { from: local.offsets() } : {}) });
    const identity = state.stores.identity;
    return { canonical, resolved: { anonymous: identity.resolve({ anonymous_id: ANON }).canonical, email: identity.resolve({ email: EMAIL }).canonical } };
  } finally {
    await tables.stop();
    await local?.close();
  }
}

/**
 * The journey in two chunks; the fault is armed for the second. A producer's connect is armed from
 * the start: each partition's transactional producer starts as soon as the partition is assigned,
 * so the purchase's partition's one fails there, and its first unit of work has to start another.
 */
async function run(kafka: Kafka, fault: StepFault, variant: Variant = 'memory', alongside: SyntheticRecord[] = [], env: Record<string, string> = {}, backlog = alongside.length > 0): Promise<Run> {
  const prefix = `${uniqueName('aor')}.`;
  const groupId = uniqueName('normalizer');
  const topics = topicNames(prefix);
  const raw = [topics.rawApp, topics.rawShopify, topics.rawSubscriptions];
  const config = serviceConfig(prefix, groupId, { ...stateEnv(variant), ...env });
  if (fault.step === 'producer connect') fault.armed = true;
  let service = await startNormalizer(config, quietLogger, { wrapProcessorOptions: injecting(fault) });
  try {
    await produceStream(kafka, stackInfo().registryUrl, topics, browsing);
    await waitForGroupDone(kafka, groupId, raw, 60_000);
    if (backlog) {
      // KafkaJS fetches again only once a fetch's batches are handled: units of work overlap only
      // when one fetch brings several, as it does for a backlog. A restart makes one.
      await service.stop();
      await produceStream(kafka, stackInfo().registryUrl, topics, [...alongside, ...purchase]);
      fault.appliesBefore = fault.applies;
      fault.armed = true;
      service = await startNormalizer(config, quietLogger, { wrapProcessorOptions: injecting(fault) });
    } else {
      // A connect fault stays armed from the start until it strikes.
      if (fault.step !== 'producer connect') fault.armed = true;
      await produceStream(kafka, stackInfo().registryUrl, topics, purchase);
    }
    await waitForGroupDone(kafka, groupId, raw, 60_000);
  } finally {
    await service.stop();
  }
  return outcome(kafka, prefix, groupId, config);
}

/**
 * Only the anonymous browsing; the cart event is held until its TTL, then the sweep forwards it.
 * The fault is armed for that sweep, once the browsing is committed: the TTL (5 s) leaves a loaded
 * machine time to see the group done before the sweep comes.
 */
async function runSweep(kafka: Kafka, fault: StepFault, variant: Variant = 'memory'): Promise<Run> {
  const prefix = `${uniqueName('aor-sweep')}.`;
  const groupId = uniqueName('normalizer');
  const topics = topicNames(prefix);
  const config = serviceConfig(prefix, groupId, {
    NORMALIZER_ANONYMOUS_TTL_MS: '5000', NORMALIZER_ANONYMOUS_EXPIRY: 'forward', NORMALIZER_SWEEP_INTERVAL_MS: '200', ...stateEnv(variant),
  });
  const service = await startNormalizer(config, quietLogger, { wrapProcessorOptions: injecting(fault) });
  try {
    await produceStream(kafka, stackInfo().registryUrl, topics, browsing);
    await waitForGroupDone(kafka, groupId, [topics.rawApp, topics.rawShopify, topics.rawSubscriptions], 60_000);
    fault.armed = true;
    await eventually('the sweep to forward the held cart event', async () => (await readCanonical(kafka, stackInfo().registryUrl, topics.canonical)).some((r) => r.event.name === 'added_to_cart'), {
      timeoutMs: 30_000, intervalMs: 500, retryOn: retriable,
    });
  } finally {
    await service.stop();
  }
  return outcome(kafka, prefix, groupId, config);
}

const kafka = testKafka();
let baseline: Run;
let sweepBaseline: Run;

beforeAll(async () => {
  baseline = await run(kafka, new StepFault(null));
  sweepBaseline = await runSweep(kafka, new StepFault(null));
}, 180_000);

describe('apply-or-rollback: one failure at each step from decode to commit', () => {
  it('the run without faults is the reference: every event once, Maya\'s links learned', () => {
    expect(new Set(baseline.canonical).size).toBe(baseline.canonical.length);
    expect(baseline.canonical.some((l) => l.startsWith(`${CUS} event:order_completed`)), baseline.canonical.join('\n')).toBe(true);
    expect(baseline.resolved).toEqual({ anonymous: CUS, email: CUS });
  });

  const steps: Step[] = ['decode', 'state stage', 'encoder', 'producer connect', 'sendOffsets', 'commit', 'fenced producer'];
  const cases = (['memory', 'disk'] as const).flatMap((variant) => steps.map((step) => [variant, step] as const));
  it.each(cases)('state in %s, %s fails: the re-delivered chunk\'s events appear exactly once and its links survive a restart', async (variant, step) => {
    const fault = new StepFault(step);
    const result = await run(kafka, fault, variant);
    expect(fault.fired).toBe(1);
    if (step === 'fenced producer') expect(fault.fencedBy).not.toBeNull();
    expect(result.canonical.toSorted()).toEqual(baseline.canonical.toSorted());
    expect(result.resolved).toEqual({ anonymous: CUS, email: CUS });
  });
});

describe('apply-or-rollback: the sweep', () => {
  const cases = (['memory', 'disk'] as const).flatMap((variant) => (['encoder', 'commit'] as const).map((step) => [variant, step] as const));
  it.each(cases)('state in %s, %s fails once: the held event the sweep releases goes out exactly once', async (variant, step) => {
    expect(sweepBaseline.canonical.filter((l) => l.includes('event:added_to_cart'))).toHaveLength(1);
    const fault = new StepFault(step);
    const result = await runSweep(kafka, fault, variant);
    expect(fault.fired).toBe(1);
    expect(result.canonical.toSorted()).toEqual(sweepBaseline.canonical.toSorted());
  });
});

describe('apply-or-rollback: overlapping units of work', () => {
  // The browsing again (duplicates, dropped by dedupe) on its own partition, beside the purchase: two
  // units in flight at once, each applied on top of the other's changes.
  it.each(['memory', 'disk'] as const)('state in %s: the oldest unit in flight fails, so the unit applied on top of it aborts too, and every event still appears exactly once', async (variant) => {
    const fault = new StepFault('commit under a later unit');
    const result = await run(kafka, fault, variant, browsing, { NORMALIZER_PARTITIONS_CONCURRENTLY: '3' });
    expect(fault.fired).toBe(1);
    expect(fault.overlapped, 'a second unit was applied while the first one\'s commit waited').toBe(true);
    const failed = fault.ends.findIndex((e) => e.end === 'failed');
    const next = fault.ends.slice(failed + 1).find((e) => e.transactionalId !== fault.ends[failed]!.transactionalId);
    expect(next, fault.ends.map((e) => `${e.end} ${e.transactionalId}`).join('\n')).toMatchObject({ end: 'abort' });
    expect(result.canonical.toSorted()).toEqual(baseline.canonical.toSorted());
    expect(result.resolved).toEqual({ anonymous: CUS, email: CUS });
  });

  // One record per transaction and two producers for the purchase's partition: its next chunk is
  // decided and sent on the second producer while the first one's commit waits.
  it.each(['memory', 'disk'] as const)('state in %s: two units of one partition in flight, the older fails, the newer (on the partition\'s other producer) aborts, and every event still appears exactly once', async (variant) => {
    const env = { NORMALIZER_MAX_RECORDS_PER_TRANSACTION: '1', NORMALIZER_PRODUCERS_PER_PARTITION: '2' };
    // Chunks of one record decide some things apart (which event makes the person's first identify):
    // the reference is a run without faults in the same shape.
    const reference = await run(kafka, new StepFault(null), variant, [], env, true);
    const fault = new StepFault('commit under a later unit');
    const result = await run(kafka, fault, variant, [], env, true);
    expect(fault.fired).toBe(1);
    expect(fault.overlapped, 'a second unit of the partition was applied while the first one\'s commit waited').toBe(true);
    const failed = fault.ends.findIndex((e) => e.end === 'failed');
    expect(fault.ends[failed]!.transactionalId.endsWith(PURCHASE_PARTITION), fault.ends.map((e) => `${e.end} ${e.transactionalId}`).join('\n')).toBe(true);
    const next = fault.ends.slice(failed + 1).find((e) => e.transactionalId !== fault.ends[failed]!.transactionalId);
    expect(next, fault.ends.map((e) => `${e.end} ${e.transactionalId}`).join('\n')).toMatchObject({ end: 'abort', transactionalId: `${fault.ends[failed]!.transactionalId}.1` });
    expect(new Set(reference.canonical).size).toBe(reference.canonical.length);
    // Maya's events in one partition, in the order they were decided, however the two producers' sends raced.
    const hers = (r: Run): string[] => r.canonical.filter((l) => l.startsWith(`${CUS} `)).map((l) => l.split(' ')[1]!);
    const decided = ['identify:identify', 'event:added_to_cart', 'event:checkout_started', 'event:order_completed', 'identify:identify'];
    expect(hers(reference)).toEqual(decided);
    expect(hers(result)).toEqual(decided);
    expect(result.canonical.toSorted(), fault.ends.map((e) => `${e.end} ${e.transactionalId}`).join('\n')).toEqual(reference.canonical.toSorted());
    expect(result.resolved).toEqual({ anonymous: CUS, email: CUS });
  });
});

describe('a local state write that fails after its transaction committed', () => {
  it('ends the service (onFatal) instead of stalling, and a restart restores what the disk lacks: every event once, the links learned', async () => {
    const prefix = `${uniqueName('aor-disk-write')}.`;
    const groupId = uniqueName('normalizer');
    const topics = topicNames(prefix);
    const raw = [topics.rawApp, topics.rawShopify, topics.rawSubscriptions];
    const config = serviceConfig(prefix, groupId, stateEnv('disk'));
    const fatal: Error[] = [];
    let armed = false;
    let broken = false;
    // Once a write fails the store stays broken: every later commit fails as well, and nothing
    // after the failed unit reaches the disk.
    const failingWrites = (o: ProcessorOptions): ProcessorOptions => ({
      ...o,
      state: override(o.state, {
        commit: (positions) => {
          if (armed) broken = true;
          if (broken) return Promise.reject(new DiskStoreError('DISK_STORE_WRITE_FAILED', 'injected: EIO, disk gone'));
          return o.state.commit(positions);
        },
      }),
    });
    const service = await startNormalizer(config, quietLogger, { wrapProcessorOptions: failingWrites, onFatal: (err) => fatal.push(err) });
    try {
      await produceStream(kafka, stackInfo().registryUrl, topics, browsing);
      await waitForGroupDone(kafka, groupId, raw, 60_000);
      armed = true;
      await produceStream(kafka, stackInfo().registryUrl, topics, purchase);
      await eventually('the failed local write to end the service', async () => fatal.length > 0, { timeoutMs: 60_000, intervalMs: 100 });
      expect(fatal[0]).toMatchObject({ code: 'DISK_STORE_WRITE_FAILED' });
      // Kafka has the unit: its transaction committed before the write was tried.
      await waitForGroupDone(kafka, groupId, raw, 60_000);
      // More units commit behind the failed write (a redelivery of the browsing: duplicates), each
      // with a failing write: still one report, one stop.
      await produceStream(kafka, stackInfo().registryUrl, topics, browsing);
      await waitForGroupDone(kafka, groupId, raw, 60_000);
      expect(fatal).toHaveLength(1);
    } finally {
      await service.stop();
    }
    const result = await outcome(kafka, prefix, groupId, config);
    expect(result.canonical.toSorted()).toEqual(baseline.canonical.toSorted());
    expect(result.resolved).toEqual({ anonymous: CUS, email: CUS });
  });
});

