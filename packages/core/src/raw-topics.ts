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
