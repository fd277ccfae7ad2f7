import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import type { CandidateEvent, IdentifierSet } from '../stages/candidate.ts';
import { parseNode, presentNodes, type IdentityGraph } from './identity-graph.ts';
import type { OrderLedger } from './order-ledger.ts';
import type { ProfileRollup, RollupAttributes } from './profile-rollup.ts';

export interface OrderEventNames {
  /** Events with `profile_rollup: true` (the purchase). */
  purchases: ReadonlySet<string>;
  refund: string;
  cancel: string;
}

/**
 * What a sent order event does to the profile rollup and the order ledger: a purchase counts and
 * is booked to its buyer; a refund takes its money off lifetime_value (never more than the order
 * brought); a cancellation moves the order from orders_count to cancelled_orders_count, once.
 * Returns the attributes to send, or null when the profile does not change.
 */
export function accountOrderEvent(
  stores: { ledger: OrderLedger; rollup: ProfileRollup },
  names: OrderEventNames,
  canonical: string,
  ev: CanonicalEvent,
  identifiers: IdentifierSet,
  now: number,
): RollupAttributes | null {
  const { ledger, rollup } = stores;
  const orderId = ev.commerce?.order_id ?? null;
  if (names.purchases.has(ev.name)) {
    if (orderId !== null) ledger.recordPurchase(orderId, canonical, presentNodes(identifiers)[0], ev.commerce?.total ?? 0, ev.commerce?.currency ?? null, now);
    return rollup.recordOrder(canonical, ev);
  }
  if (orderId === null) return null;
  if (ev.name === names.refund) {
    const taken = ledger.recordRefund(orderId, ev.commerce?.total ?? 0, now);
    return taken > 0 ? rollup.recordRefund(canonical, taken) : null;
  }
  if (ev.name === names.cancel) {
    return ledger.recordCancel(orderId, now) ? rollup.recordCancel(canonical) : null;
  }
  return null;
}

/**
 * A refund reported as a running total (Recharge's `total_refunds`, as `refunded_to_date`) carries
 * only the money refunded since the last report: returns the candidate with that as its total, or
 * null when the report brings no new money (a repeat of an earlier total).
 */
export function withNewRefundMoney(ledger: OrderLedger, c: CandidateEvent, now: number): CandidateEvent | null {
  const toDate = c.event.properties['refunded_to_date'];
  const chargeId = c.event.commerce?.charge_id ?? null;
  if (typeof toDate !== 'number' || chargeId === null || c.event.commerce === null) return c;
  const fresh = ledger.refundSinceLast(chargeId, toDate, c.event.commerce.currency, now);
  if (fresh <= 0) return null;
  return { ...c, event: { ...c.event, commerce: { ...c.event.commerce, total: fresh } } };
}

/**
 * The person a sent order names: how a refund, which carries no customer, finds its shopper. The
 * buyer's identifier is resolved again, so a purchase sent under an email before the shopper's
 * customer id was known is refunded on the person it was merged into.
 */
export function buyerOf(ledger: OrderLedger, identity: IdentityGraph, ev: CanonicalEvent): string | null {
  const orderId = ev.commerce?.order_id ?? null;
  const entry = orderId === null ? undefined : ledger.get(orderId);
  if (entry === undefined) return null;
  if (entry.n === undefined) return entry.p;
  const { type, value } = parseNode(entry.n);
  return identity.resolve({ [type]: value }).canonical ?? entry.p;
}
