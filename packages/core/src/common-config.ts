/**
 * The settings every service reads the same way: Kafka, the schema registry, topic names, the log
 * level and the ops endpoints. Each service's `config.ts` calls these with its own `EnvReader`, so
 * one start-up still reports every problem at once, and a variable means one thing everywhere.
 *
 * The services do not speak TLS or SASL to Kafka, nor authenticate to the registry (docs/security.md);
 * those settings belong here when they do.
 */
import type { EnvReader } from './config.ts';
import { DEFAULT_KAFKA_BROKERS, DEFAULT_SCHEMA_REGISTRY_URL } from './defaults.ts';
import { topicNames, type Topics } from './topics.ts';

export interface KafkaSettings {
  brokers: string[];
  /** True when KAFKA_BROKERS was set, rather than the local stack's default. */
  brokersConfigured: boolean;
  clientId: string;
}

/** KAFKA_BROKERS (comma-separated, default the local stack) and KAFKA_CLIENT_ID (default per service). */
export function readKafkaSettings(r: EnvReader, defaults: { clientId: string }): KafkaSettings {
  return {
    brokers: r.list('KAFKA_BROKERS', DEFAULT_KAFKA_BROKERS),
    brokersConfigured: r.optionalString('KAFKA_BROKERS') !== undefined,
    clientId: r.string('KAFKA_CLIENT_ID', defaults.clientId),
  };
}

export interface TopicSettings {
  /** TOPIC_PREFIX, so several pipelines (or tests) share a broker; empty by default. */
  topicPrefix: string;
  topics: Topics;
}

export function readTopicSettings(r: EnvReader): TopicSettings {
  const topicPrefix = r.optionalString('TOPIC_PREFIX') ?? '';
  return { topicPrefix, topics: topicNames(topicPrefix) };
}

export interface RegistrySettings {
  /** Confluent-compatible API (Apicurio: .../apis/ccompat/v7). */
  url: string;
  /** Register the service's schemas at start (dev and tests); production registers them in CI. */
  autoRegister: boolean;
}

/** SCHEMA_REGISTRY_URL and SCHEMA_AUTO_REGISTER (default true). */
export function readRegistrySettings(r: EnvReader): RegistrySettings {
  return {
    url: r.url('SCHEMA_REGISTRY_URL', DEFAULT_SCHEMA_REGISTRY_URL),
    autoRegister: r.bool('SCHEMA_AUTO_REGISTER', true),
  };
}

/** pino's levels: a typo is a configuration problem at start, not a crash inside the logger. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** LOG_LEVEL; commands that print a summary on stdout default to `warn`. */
export function readLogLevel(r: EnvReader, fallback: LogLevel = 'info'): LogLevel {
  return r.oneOf('LOG_LEVEL', LOG_LEVELS, fallback);
}

export interface OpsSettings {
  opsHost: string;
  opsPort: number;
}

/**
 * Where a service's /healthz, /readyz and /metrics listen: each service has its own variables
 * (SINK_OPS_PORT, ...) so that one machine runs them all; loopback unless told otherwise.
 */
export function readOpsSettings(r: EnvReader, names: { host: string; port: string }, defaultPort: number): OpsSettings {
  return {
    opsHost: r.string(names.host, '127.0.0.1'),
    opsPort: r.int(names.port, defaultPort, { min: 0, max: 65_535 }),
  };
}

export interface GroupTiming {
  /** A killed instance's partitions move after this much silence; its replacement joins no sooner. */
  sessionTimeoutMs: number;
  /** At most a third of the session. */
  heartbeatIntervalMs: number;
  /** How long a rebalance waits for a live member busy with a batch to rejoin. */
  rebalanceTimeoutMs: number;
  /** The longest pause between a Kafka client's retries: how soon it finds a broker that is back. */
  retryMaxMs: number;
}

/**
 * A consumer group's timing, chosen for recovery in seconds (see the README's "Recovery"): 10 s of
 * silence rather than KafkaJS's 30 s before a killed instance's partitions move, for a heartbeat a
 * second; the broker's group.min.session.timeout.ms (6 s) is the floor. Each service has its own
 * variables: `<prefix>_SESSION_TIMEOUT_MS`, `_HEARTBEAT_INTERVAL_MS`, `_REBALANCE_TIMEOUT_MS` and
 * `_KAFKA_RETRY_MAX_MS` (SINK_..., NORMALIZER_...).
 */
export function readGroupTiming(r: EnvReader, prefix: string, limits: { retryMaxMs: number }): GroupTiming {
  const names = {
    session: `${prefix}_SESSION_TIMEOUT_MS`,
    heartbeat: `${prefix}_HEARTBEAT_INTERVAL_MS`,
    rebalance: `${prefix}_REBALANCE_TIMEOUT_MS`,
    retry: `${prefix}_KAFKA_RETRY_MAX_MS`,
  };
  const sessionTimeoutMs = r.int(names.session, 10_000, { min: 6_000, max: 300_000 });
  const heartbeatIntervalMs = r.int(names.heartbeat, 1_000, { min: 100, max: 100_000 });
  const rebalanceTimeoutMs = r.int(names.rebalance, 30_000, { min: 6_000, max: 600_000 });
  if (heartbeatIntervalMs * 3 > sessionTimeoutMs) r.problem(`${names.heartbeat} must be at most a third of ${names.session}`);
  if (rebalanceTimeoutMs < sessionTimeoutMs) r.problem(`${names.rebalance} must be at least ${names.session}`);
  const retryMaxMs = r.int(names.retry, 2_000, { min: 100, max: limits.retryMaxMs });
  return { sessionTimeoutMs, heartbeatIntervalMs, rebalanceTimeoutMs, retryMaxMs };
}
