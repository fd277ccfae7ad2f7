import type { RawAppMessage, RawShopifyWebhook, RawSubscriptionWebhook } from './generated/avro-types.ts';
import type { SchemaName } from './schemas.ts';
import type { Topics } from './topics.ts';

/** A raw record's value as ingest writes it and the normalizer decodes it. */
export type RawEnvelope = RawShopifyWebhook | RawAppMessage | RawSubscriptionWebhook;

/** The sources that write raw topics. */
export type RawSource = 'shopify' | 'app' | 'subscriptions';

export interface RawTopic {
  readonly topic: string;
  readonly source: RawSource;
  readonly schema: Extract<SchemaName, `raw-${string}`>;
}

/** The largest webhook body ingest accepts by default (INGEST_MAX_WEBHOOK_BYTES). */
export const DEFAULT_MAX_WEBHOOK_BYTES = 5 * 1024 * 1024;

/** Room for the envelope fields and Kafka's record overhead on top of the largest body. */
export const RAW_RECORD_OVERHEAD_BYTES = 64 * 1024;

/**
 * The record size every raw topic is created with, whoever creates it first (ingest or the
 * normalizer): ingest's largest default body (a 5 MB webhook) and room for its envelope. The
 * broker's default (1 MB) would refuse a large webhook on every retry. Ingest checks the limit at
 * start against its own settings (raised INGEST_MAX_WEBHOOK_BYTES needs a larger topic limit).
 */
export const RAW_TOPIC_MAX_MESSAGE_BYTES = DEFAULT_MAX_WEBHOOK_BYTES + RAW_RECORD_OVERHEAD_BYTES;

/** The topic configuration raw topics are created with. */
export function rawTopicConfig(maxRecordBytes = RAW_TOPIC_MAX_MESSAGE_BYTES): Record<string, string> {
  return { 'max.message.bytes': String(Math.max(maxRecordBytes, RAW_TOPIC_MAX_MESSAGE_BYTES)) };
}

/**
 * The one table of raw topic -> source -> Avro schema. Ingest writes, the normalizer decodes and
 * the tests produce with it, so a new source is added here once.
 */
export function rawTopics(topics: Topics): readonly RawTopic[] {
  return [
    { topic: topics.rawShopify, source: 'shopify', schema: 'raw-shopify' },
    { topic: topics.rawApp, source: 'app', schema: 'raw-app' },
    { topic: topics.rawSubscriptions, source: 'subscriptions', schema: 'raw-subscriptions' },
  ];
}
