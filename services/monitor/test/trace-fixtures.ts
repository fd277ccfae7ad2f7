/** Audit records and receipts shaped as the normalizer and the sink write them, for the trace tests. */
import type { AuditRecord, DeliveryReceipt, DeliveryReceiptBatch } from '@cio-pipeline/core/generated/avro-types';

export const T0 = Date.parse('2026-11-20T10:00:00Z');

export function audit(seq: number, over: Partial<AuditRecord> & { ids?: Record<string, string> } = {}): AuditRecord {
  const { ids, ...rest } = over;
  return {
    audited_at: T0 + seq * 1000,
    source: 'app',
    source_topic: 'raw.app',
    source_partition: 0,
    source_offset: String(seq),
    source_event: 'Product Viewed',
    event_name: 'product_viewed',
    occurred_at: T0 + seq * 1000 - 200,
    outcome: 'canonical',
    reasons: [],
    event_ids: [],
    customer_key: null,
    held_until: null,
    identifiers: Object.entries(ids ?? {}).map(([type, value]) => ({ type, value })),
    ...rest,
  };
}

export function receipt(seq: number, eventId: string, customerKey: string, over: Partial<DeliveryReceipt> = {}): DeliveryReceipt {
  return {
    answered_at: T0 + seq * 1000,
    event_id: eventId,
    event_name: 'product_viewed',
    customer_key: customerKey,
    order_id: null,
    occurred_at: T0,
    outcome: 'delivered',
    status: 200,
    answer: null,
    attempts: 1,
    source_topic: 'events.canonical',
    source_partition: 1,
    source_offset: String(seq),
    ...over,
  };
}

/** Receipts as the sink writes them: one DeliveryReceiptBatch per Kafka record, `size` receipts each. */
export function inBatches(receipts: DeliveryReceipt[], size: number): DeliveryReceiptBatch[] {
  const out: DeliveryReceiptBatch[] = [];
  for (let i = 0; i < receipts.length; i += size) out.push({ receipts: receipts.slice(i, i + size) });
  return out;
}

/**
 * One shopper's journey, the one the integration test traces too: browsing as an anonymous id, a
 * duplicate delivery of a webhook, a quarantined order, a held event released once she logged in,
 * a delivered event and a rejected one; plus a stranger's records that must not appear.
 */
export function journey(tag: string): { audits: AuditRecord[]; receipts: DeliveryReceipt[]; email: string; customer: string; anon: string } {
  const email = `${tag}@example.com`;
  const customer = `cust-${tag}`;
  const anon = `anon-${tag}`;
  const ev = (n: number): string => `01J${tag.toUpperCase().padEnd(8, 'X').slice(0, 8)}EV${String(n).padStart(13, '0')}`;
  const audits = [
    audit(1, { source_event: 'Product Viewed', outcome: 'held', held_until: 1_000_000 + T0, customer_key: null, ids: { anonymous_id: anon, message_id: `msg-${tag}-1` } }),
    audit(2, { source_event: 'Signed In', event_name: 'identify', outcome: 'canonical', event_ids: [ev(2)], customer_key: customer, ids: { anonymous_id: anon, customer_id: customer, email, message_id: `msg-${tag}-2` } }),
    audit(3, { source_event: 'Product Viewed', outcome: 'released', event_ids: [ev(1)], customer_key: customer, source_offset: '1', ids: { anonymous_id: anon, message_id: `msg-${tag}-1` } }),
    audit(4, { source: 'shopify', source_topic: 'raw.shopify', source_event: 'orders/create', event_name: 'order_completed', outcome: 'canonical', event_ids: [ev(4)], customer_key: customer, ids: { email, order_id: `ord-${tag}`, shopify_customer_id: `shop-${tag}` } }),
    audit(5, { source: 'shopify', source_topic: 'raw.shopify', source_event: 'orders/create', event_name: 'order_completed', outcome: 'dropped', reasons: ['duplicate'], customer_key: customer, ids: { email, order_id: `ord-${tag}` } }),
    audit(6, { source: 'shopify', source_topic: 'raw.shopify', source_event: 'orders/create', event_name: 'order_completed', outcome: 'quarantined', reasons: ['missing_required_property', 'invalid_currency'], customer_key: customer, ids: { email: email.toUpperCase(), order_id: `ord-${tag}-2` } }),
    audit(7, { source_event: 'Added To Cart', event_name: 'added_to_cart', outcome: 'canonical', event_ids: [ev(7)], customer_key: customer, ids: { customer_id: customer, message_id: `msg-${tag}-7` } }),
  ];
  const receipts = [
    receipt(10, ev(2), customer, { event_name: 'identify' }),
    receipt(11, ev(1), customer),
    receipt(12, ev(4), customer, { event_name: 'order_completed', order_id: `ord-${tag}` }),
    receipt(13, ev(7), customer, { event_name: 'added_to_cart', outcome: 'rejected', status: 400, answer: '{"errors":[{"reason":"invalid","field":"name"}]}' }),
  ];
  return { audits, receipts, email, customer, anon };
}

/** Someone else, sharing nothing with the journey. */
export function stranger(tag: string): AuditRecord {
  return audit(8, { outcome: 'canonical', event_ids: [`01JSTRANGER${tag.toUpperCase()}`], customer_key: `cust-other-${tag}`, ids: { email: `other-${tag}@example.com`, customer_id: `cust-other-${tag}` } });
}

/** The story `journey(name)` tells, as [stage, outcome, reason, event_id] per line, in time order. */
export function journeyStory(j: ReturnType<typeof journey>): Array<[string, string, string | null, string | null]> {
  const ev = (i: number): string => j.audits[i]!.event_ids[0]!;
  return [
    ['raw', 'received', null, null],
    ['normalizer', 'held', `until ${new Date(j.audits[0]!.held_until!).toISOString()}`, null],
    ['raw', 'received', null, null],
    ['normalizer', 'canonical', null, ev(1)],
    ['normalizer', 'released', null, ev(2)],
    ['raw', 'received', null, null],
    ['normalizer', 'canonical', null, ev(3)],
    ['raw', 'received', null, null],
    ['normalizer', 'dropped_duplicate', 'duplicate', null],
    ['raw', 'received', null, null],
    ['normalizer', 'quarantined', 'missing_required_property, invalid_currency', null],
    ['raw', 'received', null, null],
    ['normalizer', 'canonical', null, ev(6)],
    ['sink', 'delivered', null, ev(1)],
    ['sink', 'delivered', null, ev(2)],
    ['sink', 'delivered', null, ev(3)],
    ['sink', 'rejected', '{"errors":[{"reason":"invalid","field":"name"}]}', ev(6)],
  ];
}
