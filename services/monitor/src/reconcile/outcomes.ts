/**
 * What the pipeline says became of each order: the normalizer's audit records, the sink's receipts
 * and reconcile's own backfill ledger, folded into facts per order identifier. Pure: the readers
 * feed it decoded records, the report asks it about the export's orders.
 */
import type { AuditRecord, DeliveryReceipt } from '@cio-pipeline/core/generated/avro-types';

export const PURCHASE_EVENT = 'order_completed';

/**
 * Raw events that become a purchase, for audit records quarantined before mapping named them.
 * A refund or cancellation quarantined that early carries the order id too, and must not count.
 */
const PURCHASE_SOURCE_EVENTS = new Set(['orders/create', 'orders/paid', 'Order Completed']);

export interface OrderFacts {
  delivered: number;
  rejected: { status: number | null; answer: string | null } | null;
  /** Canonical, held (and not expired) or released: on its way to the sink. */
  inFlight: boolean;
  quarantineReasons: Set<string>;
  duplicate: boolean;
  /** Other drops (bot, internal_traffic, expired, ...): the order did not go out. */
  otherDrops: Set<string>;
  /** When reconcile's --backfill handed it to backfill. */
  backfilledAt: number | null;
}

function emptyFacts(): OrderFacts {
  return { delivered: 0, rejected: null, inFlight: false, quarantineReasons: new Set(), duplicate: false, otherDrops: new Set(), backfilledAt: null };
}

export function isPurchaseAudit(record: AuditRecord): boolean {
  if (record.event_name !== null) return record.event_name === PURCHASE_EVENT;
  return record.source_event === null || PURCHASE_SOURCE_EVENTS.has(record.source_event);
}

export class OutcomeIndex {
  /** Keyed by an order identifier as the record gave it (numeric id, name, GraphQL id...). */
  private readonly facts = new Map<string, OrderFacts>();
  /** Held records per identifier: a later `expired` for the same raw record cancels `held`. */
  private readonly held = new Map<string, Set<string>>();
  private readonly expired = new Map<string, Set<string>>();

  private at(id: string): OrderFacts {
    let f = this.facts.get(id);
    if (!f) this.facts.set(id, (f = emptyFacts()));
    return f;
  }

  addAudit(record: AuditRecord): void {
    if (!isPurchaseAudit(record)) return;
    const ids = record.identifiers.filter((i) => i.type === 'order_id').map((i) => i.value);
    const raw = `${record.source_topic}:${record.source_partition}:${record.source_offset}`;
    for (const id of new Set(ids)) {
      const f = this.at(id);
      switch (record.outcome) {
        case 'canonical':
        case 'released':
          f.inFlight = true;
          break;
        case 'held':
          addTo(this.held, id, raw);
          break;
        case 'expired':
          addTo(this.expired, id, raw);
          f.otherDrops.add('expired');
          break;
        case 'quarantined':
          for (const r of record.reasons) f.quarantineReasons.add(r);
          if (record.reasons.length === 0) f.quarantineReasons.add('unknown');
          break;
        case 'dropped':
          if (record.reasons.includes('duplicate')) f.duplicate = true;
          for (const r of record.reasons) if (r !== 'duplicate') f.otherDrops.add(r);
          break;
        default:
          break; // an outcome this reader does not know yet says nothing about delivery
      }
    }
  }

  addReceipt(receipt: DeliveryReceipt): void {
    if (receipt.event_name !== PURCHASE_EVENT || receipt.order_id === null) return;
    const f = this.at(receipt.order_id);
    if (receipt.outcome === 'delivered') f.delivered++;
    else if (receipt.outcome === 'rejected') f.rejected = { status: receipt.status, answer: receipt.answer };
  }

  addBackfill(orderId: string, sentAt: number): void {
    const f = this.at(orderId);
    f.backfilledAt = Math.max(f.backfilledAt ?? 0, sentAt);
  }

  /** Everything known under any of the order's identifiers, merged. */
  factsFor(ids: readonly string[]): OrderFacts {
    const merged = emptyFacts();
    for (const id of ids) {
      const f = this.facts.get(id);
      if (f) {
        merged.delivered += f.delivered;
        merged.rejected ??= f.rejected;
        merged.inFlight ||= f.inFlight;
        for (const r of f.quarantineReasons) merged.quarantineReasons.add(r);
        merged.duplicate ||= f.duplicate;
        for (const r of f.otherDrops) merged.otherDrops.add(r);
        if (f.backfilledAt !== null) merged.backfilledAt = Math.max(merged.backfilledAt ?? 0, f.backfilledAt);
      }
      const waiting = [...(this.held.get(id) ?? [])].filter((raw) => !this.expired.get(id)?.has(raw));
      if (waiting.length > 0) merged.inFlight = true;
    }
    return merged;
  }
}

function addTo(map: Map<string, Set<string>>, id: string, raw: string): void {
  let set = map.get(id);
  if (!set) map.set(id, (set = new Set()));
  set.add(raw);
}
