import type { AuditRecord, DeliveryReceipt } from '@cio-pipeline/core/generated/avro-types';

/** Where a record was read: the audit or receipts topic, its partition and offset. */
export interface RecordOrigin {
  partition: number;
  offset: string;
}

/** What the trace index stores per record: the decoded record as written, and where it was read. */
export type IndexedRecord =
  | { kind: 'audit'; origin: RecordOrigin; audit: AuditRecord }
  | { kind: 'receipt'; origin: RecordOrigin; receipt: DeliveryReceipt };

/** Identifier types that name a person or their cart or checkout (not one order, message or event): resolution follows these. */
export const PERSON_IDENTIFIER_TYPES = new Set(['email', 'customer_id', 'anonymous_id', 'shopify_customer_id', 'subscription_customer_id', 'cart_token', 'checkout_token', 'customer_key']);

export interface IdentifierRef {
  type: string;
  value: string;
}

/**
 * The stable id of a record in the index. Audit records by their coordinates (the normalizer writes
 * each once, in a transaction); receipts by event id and outcome, so a receipt written twice (a sink
 * crash between write and commit) is one record.
 */
export function recordId(r: IndexedRecord): string {
  if (r.kind === 'audit') return `a/${r.origin.partition}/${r.origin.offset.padStart(20, '0')}`;
  return `c/${r.receipt.event_id}/${r.receipt.outcome}`;
}

/** Every identifier a record can be found by. */
export function identifiersOf(r: IndexedRecord): IdentifierRef[] {
  const out: IdentifierRef[] = [];
  if (r.kind === 'audit') {
    const a = r.audit;
    for (const id of a.identifiers) out.push({ type: id.type, value: id.value });
    for (const e of a.event_ids) out.push({ type: 'event_id', value: e });
    if (a.customer_key) out.push({ type: 'customer_key', value: a.customer_key });
  } else {
    const c = r.receipt;
    out.push({ type: 'event_id', value: c.event_id }, { type: 'customer_key', value: c.customer_key });
    if (c.order_id) out.push({ type: 'order_id', value: c.order_id });
  }
  return out.filter((id) => id.value !== '');
}

/**
 * The form an identifier is indexed and looked up under: trimmed, and emails lower-cased (as the
 * normalizer does), so `Ann@Example.com ` finds ann@example.com. Ids keep their case.
 */
export function indexForm(value: string, type?: string): string {
  const v = value.trim();
  return type === 'email' || (type === undefined && v.includes('@')) ? v.toLowerCase() : v;
}
