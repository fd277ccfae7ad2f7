/** Topic names, all under one configurable prefix so several pipelines (or tests) share a broker. */
export interface Topics {
  rawShopify: string;
  rawApp: string;
  rawSubscriptions: string;
  canonical: string;
  quarantine: string;
  dlq: string;
  identityChangelog: string;
  dedupeChangelog: string;
  journeyChangelog: string;
  conflicts: string;
  audit: string;
  /** The sink's delivery receipts, one record per batch (DeliveryReceiptBatch). */
  receipts: string;
  /** One receipt per record, as sinks wrote them before batches: still read, no longer written. */
  legacyReceipts: string;
  /** Orders reconcile --backfill handed to backfill (compacted, keyed by order id). */
  reconcileBackfills: string;
}

export function topicNames(prefix = ''): Topics {
  return {
    rawShopify: `${prefix}raw.shopify`,
    rawApp: `${prefix}raw.app`,
    rawSubscriptions: `${prefix}raw.subscriptions`,
    canonical: `${prefix}events.canonical`,
    quarantine: `${prefix}events.quarantine`,
    dlq: `${prefix}sink.dlq`,
    identityChangelog: `${prefix}normalizer.identity-changelog`,
    dedupeChangelog: `${prefix}normalizer.dedupe-changelog`,
    journeyChangelog: `${prefix}normalizer.journey-changelog`,
    conflicts: `${prefix}identity.conflicts`,
    audit: `${prefix}pipeline.audit`,
    receipts: `${prefix}sink.receipt-batches`,
    legacyReceipts: `${prefix}sink.receipts`,
    reconcileBackfills: `${prefix}reconcile.backfills`,
  };
}

/** Schemas are registered under `<topic>-value` (TopicNameStrategy). */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}
