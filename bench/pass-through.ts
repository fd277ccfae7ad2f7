/**
 * The normalizer benchmark's KafkaJS pass-through: a consumer -> transactional producer copy with
 * the service's transaction shape (a producer per input partition, CHUNK records per transaction,
 * CONCURRENCY partitions at once, both the service's defaults), bytes untouched. Instrumented to explain its run-to-run spread: the time spent
 * waiting for fetches vs in each transactional call, and every request KafkaJS sent, by API
 * (a retried AddPartitionsToTxn shows up as an extra request).
 *
 * Knobs (environment, for the investigation in docs/benchmarks.md; defaults are the bench's):
 *   BENCH_PT_MAX_WAIT_MS (5000, KafkaJS's default), BENCH_PT_MIN_BYTES (1), BENCH_PT_MAX_BYTES (10485760),
 *   BENCH_PT_MAX_BYTES_PER_PARTITION (2097152), BENCH_PT_CONCURRENCY (partitionsConsumedConcurrently) and
 *   BENCH_PT_CHUNK (records per transaction), both NORMALIZER_PARTITIONS_CONCURRENTLY's and
 *   NORMALIZER_MAX_RECORDS_PER_TRANSACTION's defaults, BENCH_PT_RETRY_MS (20: the transactional producer's
 *   first retry, as the normalizer's; KafkaJS's default is the client's 100).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Kafka, KafkaMessage, Producer } from 'kafkajs';
import { loadServiceConfig } from '../services/normalizer/src/service-config.ts';

export interface PassThroughSettings {
  maxWaitTimeInMs: number;
  minBytes: number;
  maxBytes: number;
  maxBytesPerPartition: number;
  partitionsConsumedConcurrently: number;
  chunk: number;
  /** First retry of the transactional producer's sends, ms. */
  retryMs: number;
}

/** Where the pass-through's wall time went, in milliseconds summed over the run. */
export interface PassThroughProfile {
  settings: PassThroughSettings;
  transactions: number;
  batches: number;
  /** Time with no eachBatch running: the consumer fetching (or waiting for the fetch to return). */
  idleMs: number;
  sendMs: number;
  sendOffsetsMs: number;
  commitMs: number;
  /** Requests KafkaJS sent while the copy ran, by API: count, summed and largest round trip, summed time queued before sending. */
  requests: Record<string, { count: number; totalMs: number; maxMs: number; pendingMs: number }>;
  /** Event-loop delay (ms): how late the process got the CPU when it had work, a reading of the machine's load. */
  loopDelay: { meanMs: number; p99Ms: number; maxMs: number };
}

export function passThroughSettings(env: NodeJS.ProcessEnv): PassThroughSettings {
  const int = (name: string, fallback: number, min: number): number => {
    const value = Number(env[name] ?? fallback);
    if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}, got ${env[name]}`);
    return value;
  };
  // The service's defaults, not its environment: the knobs above are the pass-through's own.
  const service = loadServiceConfig({});
  return {
    maxWaitTimeInMs: int('BENCH_PT_MAX_WAIT_MS', 5000, 0),
    minBytes: int('BENCH_PT_MIN_BYTES', 1, 1),
    maxBytes: int('BENCH_PT_MAX_BYTES', 10 * 1024 * 1024, 1),
    maxBytesPerPartition: int('BENCH_PT_MAX_BYTES_PER_PARTITION', 2 * 1024 * 1024, 1),
    partitionsConsumedConcurrently: int('BENCH_PT_CONCURRENCY', service.partitionsConsumedConcurrently, 1),
    chunk: int('BENCH_PT_CHUNK', service.maxRecordsPerTransaction, 1),
    retryMs: int('BENCH_PT_RETRY_MS', 20, 1),
  };
}

export async function passThrough(kafka: Kafka, groupId: string, input: string[], output: string, settings: PassThroughSettings): Promise<{ copied: () => number; profile: () => PassThroughProfile; stop(): Promise<void> }> {
  const requests: PassThroughProfile['requests'] = {};
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const countRequest = (e: { payload: { apiName: string; duration: number; pendingDuration: number } }): void => {
    const r = (requests[e.payload.apiName] ??= { count: 0, totalMs: 0, maxMs: 0, pendingMs: 0 });
    r.pendingMs += e.payload.pendingDuration;
    r.count++;
    r.totalMs += e.payload.duration;
    r.maxMs = Math.max(r.maxMs, e.payload.duration);
  };
  // One per input topic-partition, as the service's: with partitions consumed concurrently, two
  // topics' partition 0 must not share a producer (one transaction at a time each).
  const producers = new Map<string, Promise<Producer>>();
  const producerFor = (topic: string, partition: number): Promise<Producer> => {
    const key = `${topic}:${partition}`;
    let p = producers.get(key);
    if (!p) {
      // The first retry of a send (CONCURRENT_TRANSACTIONS after back-to-back commits) as the normalizer's.
      const producer = kafka.producer({ transactionalId: `${groupId}-${key}`, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60_000, retry: { initialRetryTime: settings.retryMs } });
      producer.on(producer.events.REQUEST, countRequest);
      p = producer.connect().then(() => producer);
      producers.set(key, p);
    }
    return p;
  };
  const profile: Omit<PassThroughProfile, 'requests' | 'settings' | 'loopDelay'> = { transactions: 0, batches: 0, idleMs: 0, sendMs: 0, sendOffsetsMs: 0, commitMs: 0 };
  let copied = 0;
  let busy = 0;
  let idleSince = performance.now();
  const consumer = kafka.consumer({
    groupId, readUncommitted: false, sessionTimeout: 30_000, heartbeatInterval: 3_000,
    maxWaitTimeInMs: settings.maxWaitTimeInMs, minBytes: settings.minBytes, maxBytes: settings.maxBytes, maxBytesPerPartition: settings.maxBytesPerPartition,
  });
  consumer.on(consumer.events.REQUEST, countRequest);
  await consumer.connect();
  await consumer.subscribe({ topics: input, fromBeginning: true });
  const timed = async <T>(key: 'sendMs' | 'sendOffsetsMs' | 'commitMs', fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      profile[key] += performance.now() - t;
    }
  };
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: settings.partitionsConsumedConcurrently,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      if (busy++ === 0) profile.idleMs += performance.now() - idleSince;
      profile.batches++;
      try {
        for (let i = 0; i < batch.messages.length; i += settings.chunk) {
          if (!isRunning() || isStale()) return;
          const chunk: KafkaMessage[] = batch.messages.slice(i, i + settings.chunk);
          const last = chunk[chunk.length - 1]!;
          const tx = await (await producerFor(batch.topic, batch.partition)).transaction();
          try {
            await timed('sendMs', () => tx.send({ topic: output, acks: -1, messages: chunk.map((m) => ({ key: m.key, value: m.value })) }));
            await timed('sendOffsetsMs', () => tx.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }] }] }));
            await timed('commitMs', () => tx.commit());
          } catch (err) {
            await tx.abort().catch(() => undefined);
            throw err;
          }
          profile.transactions++;
          copied += chunk.length;
          resolveOffset(last.offset);
          await heartbeat();
        }
      } finally {
        if (--busy === 0) idleSince = performance.now();
      }
    },
  });
  return {
    copied: () => copied,
    profile: () => ({
      settings, ...profile, requests,
      loopDelay: { meanMs: loop.mean / 1e6, p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6 },
    }),
    stop: async () => {
      await consumer.disconnect();
      for (const p of producers.values()) await (await p).disconnect();
    },
  };
}
