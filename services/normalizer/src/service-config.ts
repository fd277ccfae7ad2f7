import { availableParallelism } from 'node:os';
import { EnvReader, ConfigError, DEFAULT_SCHEMA_REGISTRY_URL } from '@cio-pipeline/core';
import { loadNormalizerConfig, type NormalizerConfig } from './config.ts';
import type { StateConfig } from './state/config.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Everything the running service needs beyond the stateless stages: Kafka, registry, ops, state. */
export interface ServiceConfig {
  stages: Readonly<NormalizerConfig>;
  brokers: string[];
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
  /** How often held events (anonymous, completeness) are checked for release. */
  sweepIntervalMs: number;
  /** Budget for reading the state changelogs to their end at start; past it the start fails. */
  restoreTimeoutMs: number;
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
  opsHost: string;
  opsPort: number;
  state: Partial<StateConfig>;
  logLevel: string;
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
  const state: Partial<StateConfig> = {
    dedupeWindowMs: r.int('NORMALIZER_DEDUPE_WINDOW_MS', 30 * 86_400_000, { min: 0 }),
    anonymousTtlMs: r.int('NORMALIZER_ANONYMOUS_TTL_MS', 86_400_000, { min: 0 }),
    // Cart/checkout tokens and never-identified anonymous ids leave the identity graph after this.
    identityTtlMs: r.int('NORMALIZER_IDENTITY_TTL_MS', 30 * 86_400_000, { min: 0 }),
    identityExpiryPerSweep: r.int('NORMALIZER_IDENTITY_EXPIRY_PER_SWEEP', 10_000, { min: 1 }),
    anonymousExpiry: r.oneOf('NORMALIZER_ANONYMOUS_EXPIRY', ['forward', 'drop'] as const, 'forward'),
    maxHeldEvents: r.int('NORMALIZER_MAX_HELD_EVENTS', 100_000, { min: 1 }),
    completenessHoldMs: r.int('NORMALIZER_COMPLETENESS_HOLD_MS', 60_000, { min: 0 }),
    // Events worth a short wait for another source's copy with line items (Shopify's richer one).
    completenessEvents: r.list('NORMALIZER_COMPLETENESS_EVENTS', ['order_completed', 'checkout_started']),
    conflictRule: r.oneOf('NORMALIZER_CONFLICT_RULE', ['keep_first', 'latest_wins'] as const, 'keep_first'),
    fallbackIdentifiers: r.list('NORMALIZER_FALLBACK_IDENTIFIERS', ['email', 'shopify_customer_id', 'subscription_customer_id']).filter((v) => v !== 'none') as StateConfig['fallbackIdentifiers'],
  };
  for (const id of state.fallbackIdentifiers ?? []) {
    if (!['email', 'shopify_customer_id', 'subscription_customer_id'].includes(id)) r.problem(`NORMALIZER_FALLBACK_IDENTIFIERS: unknown identifier "${id}"`);
  }
  const config = {
    stages: stages as Readonly<NormalizerConfig>,
    brokers: r.list('KAFKA_BROKERS', ['127.0.0.1:9092']),
    registryUrl: r.url('SCHEMA_REGISTRY_URL', DEFAULT_SCHEMA_REGISTRY_URL),
    topicPrefix: r.string('TOPIC_PREFIX', '') ,
    groupId: r.string('NORMALIZER_GROUP_ID', 'normalizer'),
    autoRegisterSchemas: r.bool('SCHEMA_AUTO_REGISTER', true),
    // Measured (docs/benchmarks.md): 2,000 with three partitions at once made a third of the
    // transactions but cost 10-15% more CPU per record, and on a busy machine CPU is the time.
    maxRecordsPerTransaction: r.int('NORMALIZER_MAX_RECORDS_PER_TRANSACTION', 500, { min: 1, max: 50_000 }),
    // One core for the main thread (state, encoding, Kafka), the others decode.
    workers: r.int('NORMALIZER_WORKERS', Math.max(1, availableParallelism() - 1), { min: 0, max: 64 }),
    // Above 1, other partitions' batches decode on the workers while this one's units run.
    partitionsConsumedConcurrently: r.int('NORMALIZER_PARTITIONS_CONCURRENTLY', 1, { min: 1, max: 64 }),
    sweepIntervalMs: r.int('NORMALIZER_SWEEP_INTERVAL_MS', 1_000, { min: 50 }),
    restoreTimeoutMs: r.int('NORMALIZER_RESTORE_TIMEOUT_MS', 1_800_000, { min: 1_000 }),
    catchUpTimeoutMs: r.int('NORMALIZER_CATCH_UP_TIMEOUT_MS', 60_000, { min: 1_000 }),
    ...groupTiming(r),
    opsHost: r.string('NORMALIZER_OPS_HOST', '127.0.0.1'),
    opsPort: r.int('NORMALIZER_OPS_PORT', 9101, { min: 0, max: 65535 }),
    state,
    logLevel: r.string('LOG_LEVEL', 'info'),
  };
  return r.done(config);
}

/**
 * The group's timing, chosen for recovery in seconds (see the README's "Recovery"): a killed
 * instance's partitions move after 10 s of silence rather than KafkaJS's 30 s, at the cost of a
 * heartbeat a second; the broker's group.min.session.timeout.ms (6 s) is the floor.
 */
function groupTiming(r: EnvReader): Pick<ServiceConfig, 'sessionTimeoutMs' | 'heartbeatIntervalMs' | 'rebalanceTimeoutMs' | 'kafkaRetryMaxMs'> {
  const sessionTimeoutMs = r.int('NORMALIZER_SESSION_TIMEOUT_MS', 10_000, { min: 6_000, max: 300_000 });
  const heartbeatIntervalMs = r.int('NORMALIZER_HEARTBEAT_INTERVAL_MS', 1_000, { min: 100, max: 100_000 });
  const rebalanceTimeoutMs = r.int('NORMALIZER_REBALANCE_TIMEOUT_MS', 30_000, { min: 6_000, max: 600_000 });
  if (heartbeatIntervalMs * 3 > sessionTimeoutMs) r.problem('NORMALIZER_HEARTBEAT_INTERVAL_MS must be at most a third of NORMALIZER_SESSION_TIMEOUT_MS');
  if (rebalanceTimeoutMs < sessionTimeoutMs) r.problem('NORMALIZER_REBALANCE_TIMEOUT_MS must be at least NORMALIZER_SESSION_TIMEOUT_MS');
  const kafkaRetryMaxMs = r.int('NORMALIZER_KAFKA_RETRY_MAX_MS', 2_000, { min: 100, max: 60_000 });
  return { sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs, kafkaRetryMaxMs };
}

/** For the operator commands: the same configuration, every problem printed, exit code 2. */
export function loadConfigOrExit(env: Env): Readonly<ServiceConfig> {
  try {
    return loadServiceConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
