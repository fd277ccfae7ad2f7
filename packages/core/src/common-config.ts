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
