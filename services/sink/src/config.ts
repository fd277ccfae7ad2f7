import {
  EnvReader, readGroupTiming, readKafkaSettings, readLogLevel, readOpsSettings, readRegistrySettings, readTopicSettings,
  type GroupTiming, type KafkaSettings, type LogLevel, type RegistrySettings, type TopicSettings, type Topics,
} from '@cio-pipeline/core';
import type { TrackApi } from './mapping.ts';

export interface SinkConfig {
  cio: {
    siteId: string;
    /** Secret: never logged (see redactSinkConfig). */
    apiKey: string;
    region: 'us' | 'eu';
    /** Track API base URL: CIO_TRACK_URL, else the region's host. */
    trackUrl: string;
    api: TrackApi;
    requestTimeoutMs: number;
  };
  delivery: {
    /** Batches (v2) or request groups (v1) in flight at once. */
    concurrency: number;
    maxBatchItems: number;
    /** Strict upper bound of a v2 batch body (Customer.io: under 500 KB). */
    maxBatchBytes: number;
    /** Per item (Customer.io: 32 KB). */
    maxItemBytes: number;
    rateLimitPerSec: number;
    maxInFlightEvents: number;
    retryBaseMs: number;
    retryMaxMs: number;
    parkAfterMs: number;
    authProbeIntervalMs: number;
    commitIntervalMs: number;
  };
  kafka: KafkaSettings & GroupTiming & TopicSettings & { groupId: string };
  /** autoRegister: sink.dlq's schema (FULL_TRANSITIVE) on start. */
  registry: RegistrySettings;
  /** Delivery receipts to sink.receipts (off only for a benchmark baseline: trace and reconcile need them). */
  receipts: {
    enabled: boolean;
    /** The topic's retention.ms when the sink creates it. */
    retentionMs: number;
    lingerMs: number;
    maxBatch: number;
  };
  /** Graceful stop: how long to keep delivering what is in flight before committing and exiting. */
  drainTimeoutMs: number;
  opsHost: string;
  opsPort: number;
  logLevel: LogLevel;
}

/** What the replay CLI needs: Kafka, the registry and the topic names, no Customer.io credentials. */
export interface ReplayConfig {
  brokers: string[];
  clientId: string;
  registryUrl: string;
  topicPrefix: string;
  topics: Topics;
  logLevel: LogLevel;
}

export function loadReplayConfig(env: Readonly<Record<string, string | undefined>>): Readonly<ReplayConfig> {
  const r = new EnvReader(env);
  const { brokers, clientId } = readKafkaSettings(r, { clientId: 'cio-sink-replay' });
  return r.done<ReplayConfig>({
    brokers,
    clientId,
    registryUrl: readRegistrySettings(r).url,
    ...readTopicSettings(r),
    logLevel: readLogLevel(r, 'warn'),
  });
}

const REGION_HOSTS = { us: 'https://track.customer.io', eu: 'https://track-eu.customer.io' } as const;

export function loadSinkConfig(env: Readonly<Record<string, string | undefined>>): Readonly<SinkConfig> {
  const r = new EnvReader(env);
  const region = r.oneOf('CIO_REGION', ['us', 'eu'] as const, 'us');
  const trackUrlOverride = r.optionalString('CIO_TRACK_URL');
  if (trackUrlOverride !== undefined) {
    try {
      const u = new URL(trackUrlOverride);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') r.problem(`CIO_TRACK_URL must be http(s), got "${trackUrlOverride}"`);
      else if (u.hostname === 'customer.io' || u.hostname.endsWith('.customer.io')) {
        // Customer.io's own hosts: https only, and the one of the region set (or CIO_REGION left out).
        if (u.protocol !== 'https:') r.problem(`CIO_TRACK_URL must use https for Customer.io, got "${trackUrlOverride}"`);
        const regionOfHost = (Object.keys(REGION_HOSTS) as Array<keyof typeof REGION_HOSTS>).find((k) => new URL(REGION_HOSTS[k]).hostname === u.hostname);
        if (regionOfHost !== undefined && (env['CIO_REGION'] ?? '') !== '' && regionOfHost !== region) {
          r.problem(`CIO_TRACK_URL is the ${regionOfHost} host but CIO_REGION is ${region}; set one of them`);
        }
      }
    } catch {
      r.problem(`CIO_TRACK_URL must be a URL, got "${trackUrlOverride}"`);
    }
  }
  const maxBatchBytes = r.int('SINK_MAX_BATCH_BYTES', 500_000, { min: 1024, max: 512_000 });
  const maxItemBytes = r.int('SINK_MAX_ITEM_BYTES', 32 * 1024, { min: 1024, max: 32 * 1024 });
  if (maxItemBytes + 16 > maxBatchBytes) r.problem('SINK_MAX_BATCH_BYTES must leave room for at least one item of SINK_MAX_ITEM_BYTES');
  const retryBaseMs = r.int('SINK_RETRY_BASE_MS', 200, { min: 1 });
  const retryMaxMs = r.int('SINK_RETRY_MAX_MS', 30_000, { min: 1 });
  if (retryMaxMs < retryBaseMs) r.problem('SINK_RETRY_MAX_MS must be >= SINK_RETRY_BASE_MS');
  const maxInFlightEvents = r.int('SINK_MAX_IN_FLIGHT_EVENTS', 5_000, { min: 1 });

  return r.done<SinkConfig>({
    cio: {
      siteId: r.string('CIO_SITE_ID'),
      apiKey: r.string('CIO_API_KEY'),
      region,
      trackUrl: (trackUrlOverride ?? REGION_HOSTS[region]).replace(/\/+$/, ''),
      api: r.oneOf('SINK_API', ['v2', 'v1'] as const, 'v2'),
      requestTimeoutMs: r.int('SINK_REQUEST_TIMEOUT_MS', 10_000, { min: 100 }),
    },
    delivery: {
      concurrency: r.int('SINK_CONCURRENCY', 16, { min: 1, max: 1024 }),
      maxBatchItems: r.int('SINK_MAX_BATCH_ITEMS', 200, { min: 1, max: 10_000 }),
      maxBatchBytes,
      maxItemBytes,
      // Customer.io documents 1000 req/s per workspace (older copies: 100); 100 is the safe default.
      rateLimitPerSec: r.number('SINK_RATE_LIMIT_PER_SEC', 100, { min: 0.1 }),
      maxInFlightEvents,
      retryBaseMs,
      retryMaxMs,
      parkAfterMs: r.int('SINK_PARK_AFTER_MS', 300_000, { min: 0 }),
      authProbeIntervalMs: r.int('SINK_AUTH_PROBE_MS', 15_000, { min: 10 }),
      commitIntervalMs: r.int('SINK_COMMIT_INTERVAL_MS', 1_000, { min: 10 }),
    },
    kafka: {
      ...readKafkaSettings(r, { clientId: 'cio-sink' }),
      groupId: r.string('SINK_GROUP_ID', 'cio-sink'),
      ...readGroupTiming(r, 'SINK', { retryMaxMs: 30_000 }),
      ...readTopicSettings(r),
    },
    registry: readRegistrySettings(r),
    receipts: {
      enabled: r.bool('SINK_RECEIPTS', true),
      retentionMs: r.int('SINK_RECEIPTS_RETENTION_MS', 7 * 24 * 3_600_000, { min: 60_000 }),
      lingerMs: r.int('SINK_RECEIPTS_LINGER_MS', 100, { min: 0, max: 10_000 }),
      maxBatch: r.int('SINK_RECEIPTS_MAX_BATCH', 1_000, { min: 1, max: 10_000 }),
    },
    drainTimeoutMs: r.int('SINK_DRAIN_TIMEOUT_MS', 20_000, { min: 0 }),
    ...readOpsSettings(r, { host: 'SINK_OPS_HOST', port: 'SINK_OPS_PORT' }, 9102),
    logLevel: readLogLevel(r),
  });
}


/** The config as it may be logged: the API key replaced. */
export function redactSinkConfig(config: SinkConfig): SinkConfig {
  return { ...config, cio: { ...config.cio, apiKey: config.cio.apiKey ? '[redacted]' : '' } };
}
