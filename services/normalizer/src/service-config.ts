import { availableParallelism } from 'node:os';
import {
  ConfigError, EnvReader, readGroupTiming, readKafkaSettings, readLogLevel, readOpsSettings, readRegistrySettings, readTopicSettings,
  type LogLevel,
} from '@cio-pipeline/core';
import { loadNormalizerConfig, type NormalizerConfig } from './config.ts';
import { RESTORE_HEAP_GROWTH_PERCENT } from './release-heap.ts';
import { STATE_DEFAULTS, type StateConfig } from './state/config.ts';
import { DISK_STORE_DEFAULTS, type DiskStoreConfig } from './state/disk/config.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Everything the running service needs beyond the stateless stages: Kafka, registry, ops, state. */
export interface ServiceConfig {
  stages: Readonly<NormalizerConfig>;
  brokers: string[];
  /** KAFKA_CLIENT_ID; each instance adds its own id. */
  clientId: string;
  registryUrl: string;
  topicPrefix: string;
  groupId: string;
  /** Registers the service's schemas on start (dev and tests); production registers with `schemas register`. */
  autoRegisterSchemas: boolean;
  /** Input records per transaction: larger is faster, smaller bounds the work redone after a crash. */
  maxRecordsPerTransaction: number;
  /**
   * Worker threads that decode and run the stateless stages (steps 1-8); the state stages, encoding
   * and Kafka stay on the main thread. 0 runs everything on the main thread.
   */
  workers: number;
  /** Partitions whose fetched batches are decoded at once; their units of work still run one at a time. */
  partitionsConsumedConcurrently: number;
  /** Transactional producers per input partition: that many of its units of work in flight at once. */
  producersPerPartition: number;
  /** How often held events (anonymous, completeness) are checked for release. */
  sweepIntervalMs: number;
  /** Budget for reading the state changelogs to their end at start; past it the start fails. */
  restoreTimeoutMs: number;
  /**
   * With state on disk: how far V8's old generation may grow past its live size between major
   * collections while the start restores (release-heap.ts); 0 leaves V8's own factor.
   */
  restoreHeapGrowthPercent: number;
  /** Bytes the changelog consumer fetches per request (a quarter per partition): KafkaJS holds about two fetches decoded. */
  changelogFetchBytes: number;
  /** Budget for reading another instance's latest state changes before taking over its partitions. */
  catchUpTimeoutMs: number;
  /**
   * How long the group waits for a silent member (a killed instance) before handing its partitions
   * on; a restarted instance cannot finish joining before then either.
   */
  sessionTimeoutMs: number;
  /** How often the consumer tells the group it is alive; a third of the session or less. */
  heartbeatIntervalMs: number;
  /** How long a rebalance waits for every live member to rejoin (one busy with a batch). */
  rebalanceTimeoutMs: number;
  /** The longest pause between a Kafka client's retries: how soon it finds a broker that is back. */
  kafkaRetryMaxMs: number;
  /** An audit record per raw record, in the transaction of its outcome (off only for the benchmark's baseline). */
  audit: boolean;
  /** How long pipeline.audit keeps records (topic retention.ms, set when the topic is created). */
  auditRetentionMs: number;
  /**
   * Partitions of pipeline.audit when it is created. Every partition of it a transaction writes is
   * one more partition in that transaction (its markers, its AddPartitionsToTxn): one keeps the
   * audit's share of each commit small; the trace index reads it with one consumer anyway.
   */
  auditPartitions: number;
  opsHost: string;
  opsPort: number;
  state: Partial<StateConfig>;
  /**
   * The state on local disk (NORMALIZER_STATE_DIR, one stable directory per instance: a restart
   * then reads only the changelogs' tail); null keeps it in memory, restored in full at each start.
   */
  stateDisk: Omit<DiskStoreConfig, 'writeBufferBytes' | 'maxOpenFiles'> | null;
  logLevel: LogLevel;
}

export function loadServiceConfig(env: Env): Readonly<ServiceConfig> {
  let stages: Readonly<NormalizerConfig> | null = null;
  const problems: string[] = [];
  try {
    stages = loadNormalizerConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) problems.push(...err.problems);
    else throw err;
  }
  const r = new EnvReader(env);
  for (const p of problems) r.problem(p);
  // Defaults are the state config's own (STATE_DEFAULTS), so tests that build it directly run production's policy.
  const d = STATE_DEFAULTS;
  const state: Partial<StateConfig> = {
    dedupeWindowMs: r.int('NORMALIZER_DEDUPE_WINDOW_MS', d.dedupeWindowMs, { min: 0 }),
    anonymousTtlMs: r.int('NORMALIZER_ANONYMOUS_TTL_MS', d.anonymousTtlMs, { min: 0 }),
    // Cart/checkout tokens and never-identified anonymous ids leave the identity graph after this.
    identityTtlMs: r.int('NORMALIZER_IDENTITY_TTL_MS', d.identityTtlMs, { min: 0 }),
    identityExpiryPerSweep: r.int('NORMALIZER_IDENTITY_EXPIRY_PER_SWEEP', d.identityExpiryPerSweep, { min: 1 }),
    anonymousExpiry: r.oneOf('NORMALIZER_ANONYMOUS_EXPIRY', ['forward', 'drop'] as const, d.anonymousExpiry),
    maxHeldEvents: r.int('NORMALIZER_MAX_HELD_EVENTS', d.maxHeldEvents, { min: 1 }),
    completenessHoldMs: r.int('NORMALIZER_COMPLETENESS_HOLD_MS', d.completenessHoldMs, { min: 0 }),
    // Events worth a short wait for another source's copy with line items (Shopify's richer one).
    // Unset: the plan's order-guard anchors (order_completed, checkout_started), as the state config derives them.
    ...(r.optionalString('NORMALIZER_COMPLETENESS_EVENTS') === undefined ? {} : { completenessEvents: r.list('NORMALIZER_COMPLETENESS_EVENTS') }),
    conflictRule: r.oneOf('NORMALIZER_CONFLICT_RULE', ['keep_first', 'latest_wins'] as const, d.conflictRule),
    maxIdentifiersPerPerson: r.int('NORMALIZER_MAX_IDENTIFIERS_PER_PERSON', d.maxIdentifiersPerPerson, { min: 2 }),
    fallbackIdentifiers: r.list('NORMALIZER_FALLBACK_IDENTIFIERS', d.fallbackIdentifiers).filter((v) => v !== 'none') as StateConfig['fallbackIdentifiers'],
  };
  for (const id of state.fallbackIdentifiers ?? []) {
    if (!['email', 'shopify_customer_id', 'subscription_customer_id'].includes(id)) r.problem(`NORMALIZER_FALLBACK_IDENTIFIERS: unknown identifier "${id}"`);
  }
  const kafka = readKafkaSettings(r, { clientId: 'normalizer' });
  const registry = readRegistrySettings(r);
  const { retryMaxMs: kafkaRetryMaxMs, ...timing } = readGroupTiming(r, 'NORMALIZER', { retryMaxMs: 60_000 });
  const config: ServiceConfig = {
    stages: stages as Readonly<NormalizerConfig>,
    brokers: kafka.brokers,
    clientId: kafka.clientId,
    registryUrl: registry.url,
    topicPrefix: readTopicSettings(r).topicPrefix,
    groupId: r.string('NORMALIZER_GROUP_ID', 'normalizer'),
    autoRegisterSchemas: registry.autoRegister,
    // Measured (docs/benchmarks.md, 2026-12-04): with one partition at a time, 2,000 made a third
    // of 500's transactions, for 1.15-1.29x the full service's rate and less CPU per record; 5,000
    // was slower than 2,000 (fewer units to overlap). Live, a unit is what one fetch brought.
    maxRecordsPerTransaction: r.int('NORMALIZER_MAX_RECORDS_PER_TRANSACTION', 2_000, { min: 1, max: 50_000 }),
    // One core for the main thread (state, encoding, Kafka), the others decode.
    workers: r.int('NORMALIZER_WORKERS', Math.max(1, availableParallelism() - 1), { min: 0, max: 64 }),
    // Above 1, units of work of that many partitions overlap: one is decided while the others'
    // transactions are on their way to the broker (kafka/transactional-processor.ts). Measured
    // (docs/benchmarks.md, 2026-12-04) with a record worker and units of 2,000: 3 gave 1.11x the
    // full service's throughput and 1.24x stateless, at the same CPU per record. (With no worker
    // and units of 500 it had been 0.93-0.96x.)
    partitionsConsumedConcurrently: r.int('NORMALIZER_PARTITIONS_CONCURRENTLY', 3, { min: 1, max: 64 }),
    // Two: a partition's next chunk is decided and sent while the one before it commits. With one
    // partition at a time that gave 1.14-1.17x the throughput; with three overlapping (the
    // default) nothing measurable (docs/benchmarks.md). One by default: the kill -9 test's rare
    // failure with two (unexpected event ids after the restart) was never explained.
    producersPerPartition: r.int('NORMALIZER_PRODUCERS_PER_PARTITION', 1, { min: 1, max: 8 }),
    sweepIntervalMs: r.int('NORMALIZER_SWEEP_INTERVAL_MS', 1_000, { min: 50 }),
    restoreTimeoutMs: r.int('NORMALIZER_RESTORE_TIMEOUT_MS', 1_800_000, { min: 1_000 }),
    restoreHeapGrowthPercent: r.int('NORMALIZER_RESTORE_HEAP_GROWTH_PERCENT', RESTORE_HEAP_GROWTH_PERCENT, { min: 0, max: 1_000 }),
    // Measured at 1M links (docs/state-stores.md): 16 MB fetches held ~400 MB more RSS during a
    // restore to disk than 4 MB ones, at the same rate within the noise.
    changelogFetchBytes: r.int('NORMALIZER_CHANGELOG_FETCH_MB', 4, { min: 1, max: 256 }) * 1024 * 1024,
    catchUpTimeoutMs: r.int('NORMALIZER_CATCH_UP_TIMEOUT_MS', 60_000, { min: 1_000 }),
    ...timing,
    kafkaRetryMaxMs,
    audit: r.oneOf('NORMALIZER_AUDIT', ['on', 'off'] as const, 'on') === 'on',
    auditRetentionMs: r.int('NORMALIZER_AUDIT_RETENTION_MS', 7 * 86_400_000, { min: 60_000 }),
    auditPartitions: r.int('NORMALIZER_AUDIT_PARTITIONS', 1, { min: 1, max: 1_000 }),
    ...readOpsSettings(r, { host: 'NORMALIZER_OPS_HOST', port: 'NORMALIZER_OPS_PORT' }, 9101),
    state,
    stateDisk: stateDisk(r),
    logLevel: readLogLevel(r),
  };
  return r.done(config);
}

function stateDisk(r: EnvReader): ServiceConfig['stateDisk'] {
  const dir = r.optionalString('NORMALIZER_STATE_DIR');
  const blockCacheMb = r.int('NORMALIZER_STATE_BLOCK_CACHE_MB', DISK_STORE_DEFAULTS.blockCacheBytes / MB, { min: 1, max: 65_536 });
  // The stages read the same keys several times per event (a learn reads each identifier's node and
  // cluster again and again): about 30 MB of decoded entries saves most of LevelDB's reads.
  const readCacheEntries = r.int('NORMALIZER_STATE_READ_CACHE_ENTRIES', 100_000, { min: 0, max: 100_000_000 });
  // 0 turns it off; the default holds 67M keys at about 2% of absent keys still read.
  const writtenKeysMb = r.int('NORMALIZER_STATE_WRITTEN_KEYS_MB', DISK_STORE_DEFAULTS.writtenKeysFilterBytes / MB, { min: 0, max: 4_096 });
  const compression = r.bool('NORMALIZER_STATE_COMPRESSION', DISK_STORE_DEFAULTS.compression);
  if (dir === undefined) return null;
  return { dir, blockCacheBytes: blockCacheMb * MB, readCacheEntries, writtenKeysFilterBytes: writtenKeysMb * MB, compression };
}

const MB = 1024 * 1024;
