// Generated from schemas/avro/*.avsc by `npm run schemas -- codegen`. Do not edit by hand.
/* eslint-disable */

/** What became of one raw record (or of a held event when it was released or expired), written by the normalizer in the same transaction as its outcome. Topic pipeline.audit, time retention. Keyed by the canonical customer id when known, else the raw record's key, so a person's records share a partition; read by the trace index and by reconcile. One record per raw record (tombstones excepted) tells its outcome on arrival; a held event gets one more, with the same coordinates, when its hold ends. (audit-record.avsc) */
export interface AuditRecord {
  audited_at: number;
  /** shopify, app, subscriptions or backfill. */
  source: string;
  source_topic: string;
  source_partition: number;
  /** Kafka offset as a decimal string. */
  source_offset: string;
  /** The raw event or webhook topic as sent (e.g. Added To Cart, orders/create). */
  source_event: null | string;
  /** Canonical name when mapping got that far. */
  event_name: null | string;
  /** The event's own time, when known. */
  occurred_at: null | number;
  /** On arrival: quarantined; else canonical if any of the record's events went out; else held if any waits; else dropped (a record with several events takes the first that applies, with every reason and event id listed). When a hold ends: released (its events went to the person once known), expired (its time or the hold budget ran out first: forwarded anonymously, with event ids, or dropped with anonymous_expired) or dropped (suppressed when released). */
  outcome: string;
  /** Quarantine reason codes, or the drop reason (duplicate, bot, internal_traffic, suppressed_after_purchase, ...). */
  reasons: Array<string>;
  /** Canonical event ids published for this record, including the identify, merge and rollup events it caused. */
  event_ids: Array<string>;
  /** Canonical customer id, when resolved. */
  customer_key: null | string;
  /** When a held record's hold ends at the latest (null for an event queued behind its person's completeness gate, which ends with the gate). */
  held_until: null | number;
  /** Every identifier the record carries; the trace index is keyed by these, and by event_ids and customer_key, which are not repeated here. */
  identifiers: Array<AuditIdentifier>;
}

export interface AuditIdentifier {
  /** email, customer_id, anonymous_id, shopify_customer_id, subscription_customer_id, cart_token, checkout_token, order_id, message_id or event_id. */
  type: string;
  value: string;
}

/** One clean, trustworthy fact for Customer.io: an event, a profile update or a merge. Topic events.canonical, keyed by the canonical customer id (or the anonymous id while unknown). Compatibility FULL_TRANSITIVE: old and new sinks must both read every version. (canonical-event.avsc) */
export interface CanonicalEvent {
  /** Deterministic ULID derived from the dedupe key: a redelivery carries the same id and Customer.io ignores it. */
  event_id: string;
  /** event, page, screen, identify, merge or delete. */
  kind: string;
  /** Canonical event name from the tracking plan (snake_case); 'identify', 'merge' or 'delete' for the other kinds. */
  name: string;
  /** The canonical customer id; null only for anonymous events. */
  customer_id: null | string;
  /** The anonymous id the event was seen under, if any. */
  anonymous_id: null | string;
  /** Trimmed, lower-cased email, sent as an attribute. */
  email: null | string;
  /** When it happened, UTC. */
  occurred_at: number;
  /** When ingest received it. */
  received_at: number;
  /** shopify, app, subscriptions or backfill. */
  source: string;
  /** The source's own id for what caused this event (webhook id, messageId, order id). */
  source_event_id: string;
  /** The source's own type: Shopify or Recharge topic, Segment call type. */
  source_type: null | string;
  /** Version of the tracking plan the event was validated against. */
  tracking_version: string;
  /** Registry version of the raw writer schema the event was decoded from. */
  schema_version: number;
  /** 1 = revenue (hard-fail), 2 = browse (accept and flag). */
  tier: number;
  /** Machine-readable warning codes for accepted tier 2 events, e.g. unplanned_event. */
  validation_warnings: Array<string>;
  /** Typed properties of revenue events. */
  commerce: null | CommerceProperties;
  /** Other properties, typed; nested objects are flattened with dotted keys. */
  properties: Record<string, null | boolean | number | string>;
  /** Profile attributes to set (identify), including the order redundancy attributes. */
  attributes: Record<string, null | boolean | number | string>;
  /** For kind=merge: the profile to fold into customer_id. */
  merge: null | MergeSecondary;
}

export interface CommerceProperties {
  order_id: null | string;
  checkout_id: null | string;
  cart_id: null | string;
  product_id: null | string;
  variant_id: null | string;
  sku: null | string;
  subscription_id: null | string;
  charge_id: null | string;
  price: null | number;
  quantity: null | number;
  /** Cart or checkout value. */
  value: null | number;
  /** Order or charge total. */
  total: null | number;
  subtotal: null | number;
  tax: null | number;
  discount: null | number;
  /** Upper-case ISO-4217. */
  currency: null | string;
  /** Segment's revenue: the order's value excluding shipping and tax (total includes them). */
  revenue: null | number;
  shipping: null | number;
  /** Coupon code used on the order or checkout. */
  coupon: null | string;
  items: Array<LineItem>;
}

export interface LineItem {
  product_id: null | string;
  variant_id: null | string;
  sku: null | string;
  name: null | string;
  price: null | number;
  quantity: number;
  category: null | string;
  subscription_eligible: null | boolean;
  brand: null | string;
  /** The variant's name (Segment's spec: 'Black'), not its id. */
  variant: null | string;
  coupon: null | string;
  /** Position in a product list. */
  position: null | number;
  /** Product page URL. */
  url: null | string;
  image_url: null | string;
}

export interface MergeSecondary {
  /** id, email or anonymous_id. */
  identifier_type: string;
  identifier: string;
}

/** The delivery receipts of one write by the sink: one Kafka record per batch, not per event, because a record per event cost the sink about a tenth of its throughput. Topic sink.receipt-batches, time retention; sinks before it wrote one DeliveryReceipt per record to sink.receipts. (delivery-receipt-batch.avsc) */
export interface DeliveryReceiptBatch {
  receipts: Array<DeliveryReceipt>;
}

/** Customer.io's answer for one canonical event: delivered, or rejected and dead-lettered, once the answer is final. (delivery-receipt-batch.avsc) */
export interface DeliveryReceipt {
  answered_at: number;
  event_id: string;
  event_name: string;
  customer_key: string;
  /** For order events, the business key reconcile matches on. */
  order_id: null | string;
  occurred_at: null | number;
  /** delivered or rejected (the event is in sink.dlq). */
  outcome: string;
  /** HTTP status of the final answer. */
  status: null | number;
  /** Customer.io's error body for a rejection, trimmed. */
  answer: null | string;
  attempts: number;
  source_topic: string;
  source_partition: number;
  source_offset: string;
}

/** A canonical event Customer.io rejected as invalid, or a parked key's event, with the request, the answer and where it came from. Topic sink.dlq. (dlq-record.avsc) */
export interface DeadLetter {
  dead_lettered_at: number;
  /** rejected (400/207 item) or parked (a key that kept failing). */
  reason: string;
  event_id: string;
  event_name: string;
  customer_key: string;
  /** HTTP status of the last attempt. */
  status: null | number;
  /** Customer.io's error body, or the transport error. */
  error: null | string;
  /** The request item as JSON. */
  request_item: null | string;
  attempts: number;
  first_attempt_at: null | number;
  source_topic: string;
  source_partition: number;
  source_offset: string;
  /** The canonical record value as read, for replay. */
  original: Buffer;
}

/** A raw event the normalizer would not publish, with every reason and where it came from, so it can be replayed after a fix. Topic events.quarantine. (quarantine-record.avsc) */
export interface QuarantineRecord {
  quarantined_at: number;
  /** shopify, app, subscriptions or backfill. */
  source: string;
  source_topic: string;
  source_partition: number;
  /** Kafka offset as a decimal string. */
  source_offset: string;
  source_key: null | Buffer;
  /** Canonical name when mapping got that far. */
  event_name: null | string;
  tier: null | number;
  tracking_version: string;
  reasons: Array<QuarantineReason>;
  /** The raw Kafka record value exactly as read (schema-registry framed), so a replay decodes it as the first time. */
  original: Buffer;
}

export interface QuarantineReason {
  /** Machine-readable, e.g. missing_required_property, unknown_currency. */
  code: string;
  field: null | string;
  message: string;
}

/** One Segment-shaped message (track, identify, page, screen, group, alias) from the store's app. A batch becomes one record per message. Topic raw.app. (raw-app.avsc) */
export interface RawAppMessage {
  /** Unique id the ingest service gave this message. */
  ingest_id: string;
  /** When ingest received the request. */
  received_at: number;
  /** The name of the source whose write key authenticated the call (never the key itself). */
  write_key_id: string;
  /** track, identify, page, screen, group or alias; for a message with a rejection, the type it sent (empty when none). */
  type: string;
  /** messageId as sent, or one ingest filled in when missing. */
  message_id: string;
  /** True when the source sent no messageId. */
  message_id_generated: boolean;
  /** Event time corrected for client clock skew: receivedAt - (sentAt - originalTimestamp), as Segment does. */
  timestamp: null | number;
  /** sentAt as sent (of the batch when batched). */
  sent_at: null | string;
  /** context.ip, else the connection's address. */
  ip: null | string;
  /** context.userAgent, else the User-Agent header. */
  user_agent: null | string;
  /** The message's JSON exactly as sent (numbers keep their digits). */
  body: Buffer;
  /** Null for a valid message; set when ingest stored an invalid message of a batch (answered 200, as Segment does) so it is quarantined with its reason rather than lost. */
  rejection: null | IngestRejection;
}

/** Why ingest judged this message of an accepted request invalid. The normalizer quarantines it with this reason instead of mapping it. (raw-app.avsc) */
export interface IngestRejection {
  /** Machine-readable, e.g. not_an_object, unknown_call_type, message_too_large. */
  code: string;
  /** Where in the message, when one field is at fault. */
  field: null | string;
  message: string;
}

/** A Shopify webhook delivery as it arrived: HMAC verified, body kept byte for byte so it can be replayed. Topic raw.shopify. (raw-shopify.avsc) */
export interface RawShopifyWebhook {
  /** Unique id the ingest service gave this delivery. */
  ingest_id: string;
  /** When ingest received the request. */
  received_at: number;
  /** X-Shopify-Topic, e.g. orders/create. */
  topic: string;
  /** X-Shopify-Shop-Domain. */
  shop_domain: null | string;
  /** X-Shopify-Webhook-Id: unique per delivery, the documented idempotency key. */
  webhook_id: null | string;
  /** X-Shopify-Event-Id: shared by every delivery caused by one merchant action. */
  event_id: null | string;
  /** X-Shopify-Triggered-At as sent. */
  triggered_at: null | string;
  /** X-Shopify-API-Version. */
  api_version: null | string;
  /** The raw request body, byte for byte. */
  body: Buffer;
}

/** A subscription platform (Recharge) webhook delivery as it arrived, signature verified. Topic raw.subscriptions. (raw-subscriptions.avsc) */
export interface RawSubscriptionWebhook {
  /** Unique id the ingest service gave this delivery. */
  ingest_id: string;
  /** When ingest received the request. */
  received_at: number;
  /** X-Recharge-Topic, else the payload's top-level key (e.g. charge/paid or charge). */
  topic: string;
  /** False when the topic was inferred from the payload. */
  topic_from_header: boolean;
  /** legacy-sha256 or hmac-timestamped. */
  signature_scheme: string;
  /** X-Recharge-Webhook-Id when sent. */
  webhook_id: null | string;
  /** The raw request body, byte for byte. */
  body: Buffer;
}
