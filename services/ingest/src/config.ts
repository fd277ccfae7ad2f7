import { DEFAULT_MAX_WEBHOOK_BYTES, EnvReader, readKafkaSettings, readLogLevel, readRegistrySettings, readTopicSettings, type LogLevel } from '@cio-pipeline/core';
import { parseCorsOrigins } from './cors.ts';

type Env = Readonly<Record<string, string | undefined>>;

export interface WriteKey {
  /** Source name: stored as `write_key_id`, never the key itself. */
  source: string;
  key: string;
}

export interface IngestConfig {
  port: number;
  host: string;
  /** Every secret currently valid (rotation: old and new side by side). */
  shopifySecrets: string[];
  rechargeSecrets: string[];
  /**
   * Secrets that may also sign with Recharge's legacy `sha256(secret || body)` scheme. It admits
   * length extension, so it is off unless a secret is listed here (each is also in rechargeSecrets).
   */
  rechargeLegacySecrets: string[];
  /** How far the timestamp of a timestamped Recharge signature may be from now, in seconds. */
  rechargeToleranceS: number;
  writeKeys: WriteKey[];
  /** Browser origins allowed to post to the app routes (analytics.js); empty: no cross-origin posts. */
  corsOrigins: string[];
  /** Segment limits: per call (and per message of a batch) and per batch. */
  maxCallBytes: number;
  maxBatchBytes: number;
  /** Shopify and Recharge bodies. */
  maxWebhookBytes: number;
  /** Bytes of request bodies buffered or waiting for Kafka, across all requests; beyond it, 503. */
  maxInflightBytes: number;
  maxInflightRequests: number;
  /** Requests one remote address may have in flight; beyond it, 429. Raise it behind a proxy. */
  maxInflightPerAddress: number;
  /**
   * An address refused for bad credentials more than this many times in a second has its new
   * connections dropped for refusalBlockMs (0 turns it off). Raise it behind a proxy.
   */
  maxRefusalsPerAddressPerS: number;
  refusalBlockMs: number;
  /** Time for a client to send its request headers, then the whole request (Node's own timeouts, answered 408). */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** A request body slower than this on average, once the grace period is over, is cut with 408. */
  minBodyBytesPerS: number;
  bodyGraceMs: number;
  /** Longest wait for Kafka to acknowledge a write before answering 503 (sources give up after 5 s). */
  kafkaTimeoutMs: number;
  retryAfterS: number;
  drainTimeoutMs: number;
  kafkaBrokers: string[];
  /** True when KAFKA_BROKERS was set explicitly (the benchmark only runs its Kafka half then). */
  kafkaBrokersConfigured: boolean;
  kafkaClientId: string;
  kafkaCompression: 'snappy' | 'gzip' | 'none';
  schemaRegistryUrl: string;
  topicPrefix: string;
  /** Register ingest's raw schemas (BACKWARD_TRANSITIVE) at start instead of only looking them up. */
  autoRegisterSchemas: boolean;
  /** Create the raw topics at start when missing. */
  createTopics: boolean;
  logLevel: LogLevel;
}

export function loadIngestConfig(env: Env): Readonly<IngestConfig> {
  const r = new EnvReader(env);
  const writeKeys = parseWriteKeys(r.list('APP_WRITE_KEYS'), (p) => r.problem(p));
  const shopifySecrets = r.list('SHOPIFY_WEBHOOK_SECRETS');
  const rechargeLegacySecrets = r.list('RECHARGE_LEGACY_SECRETS');
  const rechargeSecrets = [...new Set([...r.list('RECHARGE_WEBHOOK_SECRETS'), ...rechargeLegacySecrets])];
  const kafka = readKafkaSettings(r, { clientId: 'cio-ingest' });
  const registry = readRegistrySettings(r);
  const config: IngestConfig = {
    port: r.int('INGEST_PORT', 8080, { min: 0, max: 65535 }),
    host: r.string('INGEST_HOST', '127.0.0.1'),
    shopifySecrets,
    rechargeSecrets,
    rechargeLegacySecrets,
    rechargeToleranceS: r.int('RECHARGE_SIGNATURE_TOLERANCE_S', 300, { min: 1 }),
    writeKeys,
    corsOrigins: parseCorsOrigins(r.list('INGEST_CORS_ORIGINS'), (p) => r.problem(p)),
    maxCallBytes: r.int('INGEST_MAX_CALL_BYTES', 32 * 1024, { min: 1 }),
    // Above Segment's 500 KB: RudderStack's SDK flushes 20 calls whatever their size (up to 32 KB
    // each within the per-message limit) and never retries a 413, which would lose them all.
    maxBatchBytes: r.int('INGEST_MAX_BATCH_BYTES', 1024 * 1024, { min: 1 }),
    maxWebhookBytes: r.int('INGEST_MAX_WEBHOOK_BYTES', DEFAULT_MAX_WEBHOOK_BYTES, { min: 1 }),
    maxInflightBytes: r.int('INGEST_MAX_INFLIGHT_BYTES', 64 * 1024 * 1024, { min: 1024 }),
    maxInflightRequests: r.int('INGEST_MAX_INFLIGHT_REQUESTS', 2000, { min: 1 }),
    maxInflightPerAddress: r.int('INGEST_MAX_INFLIGHT_PER_ADDRESS', 64, { min: 1 }),
    maxRefusalsPerAddressPerS: r.int('INGEST_MAX_REFUSALS_PER_ADDRESS_PER_S', 20, { min: 0 }),
    refusalBlockMs: r.int('INGEST_REFUSAL_BLOCK_MS', 10_000, { min: 100 }),
    headersTimeoutMs: r.int('INGEST_HEADERS_TIMEOUT_MS', 10_000, { min: 100 }),
    requestTimeoutMs: r.int('INGEST_REQUEST_TIMEOUT_MS', 30_000, { min: 100 }),
    minBodyBytesPerS: r.int('INGEST_MIN_BODY_BYTES_PER_S', 1024, { min: 0 }),
    bodyGraceMs: r.int('INGEST_BODY_GRACE_MS', 5000, { min: 100 }),
    kafkaTimeoutMs: r.int('INGEST_KAFKA_TIMEOUT_MS', 4000, { min: 1 }),
    retryAfterS: r.int('INGEST_RETRY_AFTER_S', 5, { min: 1 }),
    drainTimeoutMs: r.int('INGEST_DRAIN_TIMEOUT_MS', 15000, { min: 0 }),
    kafkaBrokers: kafka.brokers,
    kafkaBrokersConfigured: kafka.brokersConfigured,
    kafkaClientId: kafka.clientId,
    kafkaCompression: r.oneOf('KAFKA_COMPRESSION', ['snappy', 'gzip', 'none'] as const, 'snappy'),
    schemaRegistryUrl: registry.url,
    topicPrefix: readTopicSettings(r).topicPrefix,
    autoRegisterSchemas: registry.autoRegister,
    createTopics: r.bool('INGEST_CREATE_TOPICS', true),
    logLevel: readLogLevel(r),
  };
  if (config.maxBatchBytes > config.maxInflightBytes || config.maxWebhookBytes > config.maxInflightBytes) {
    r.problem('INGEST_MAX_INFLIGHT_BYTES must be at least INGEST_MAX_BATCH_BYTES and INGEST_MAX_WEBHOOK_BYTES');
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    r.problem('INGEST_HEADERS_TIMEOUT_MS must not exceed INGEST_REQUEST_TIMEOUT_MS (the whole request includes its headers)');
  }
  return r.done(config);
}

/**
 * `source:key,source2:key2`. A key may not contain ':': Basic auth sends `writeKey:` and splits at
 * the first colon, so such a key could never authenticate that way.
 */
export function parseWriteKeys(items: readonly string[], problem: (message: string) => void): WriteKey[] {
  const out: WriteKey[] = [];
  const seen = new Set<string>();
  for (const [i, item] of items.entries()) {
    const at = item.indexOf(':');
    const source = at < 0 ? '' : item.slice(0, at).trim();
    const key = at < 0 ? '' : item.slice(at + 1).trim();
    // Never echo the item: it contains a key.
    if (source === '' || key === '') {
      problem(`APP_WRITE_KEYS item ${i + 1} must look like sourceName:writeKey`);
      continue;
    }
    if (key.includes(':')) {
      problem(`APP_WRITE_KEYS item ${i + 1} (source ${source}): a write key must not contain ':', which Basic auth cannot carry`);
      continue;
    }
    if (seen.has(key)) problem(`APP_WRITE_KEYS item ${i + 1} repeats a write key of an earlier source`);
    seen.add(key);
    out.push({ source, key });
  }
  return out;
}
