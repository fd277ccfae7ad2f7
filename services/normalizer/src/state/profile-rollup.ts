import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import { addMoney, subtractMoney } from '../stages/money.ts';
import { ChangelogStore } from './changelog.ts';

/** What the stage knows about a canonical person (topic `journey`, record `p:<canonical id>`). */
export interface PersonState {
  /** An identify for this id went out. */
  i?: 1;
  /** The email last sent as an attribute. */
  em?: string;
  /** orders_count, lifetime_value, first/last order (unix seconds). */
  oc?: number;
  ltv?: number;
  fo?: number;
  lo?: number;
  /** cancelled_orders_count. */
  cc?: number;
  /** The currency lifetime_value is kept in: the first order's (absent on records older than it). */
  cu?: string;
}

export type RollupAttributes = Record<string, number | string>;

/**
 * Per-person profile state: whether Customer.io has seen an identify (the sink must see one before
 * the person's first event), the email sent, and the order redundancy attributes
 * (`last_order_date`, `first_order_date` in unix seconds, `orders_count`, `lifetime_value`) that
 * let attribute-based campaigns recover when an order event is missed. Each emitted (deduplicated)
 * purchase counts once; a late backfilled older order moves first_order_date, not last.
 * lifetime_value sums totals as sent (single-currency stores; mixed currencies are not converted),
 * less refunded money, in whole minor units of the first order's currency (money.ts); a cancelled
 * order leaves orders_count for `cancelled_orders_count`.
 */
export class ProfileRollup extends ChangelogStore {
  readonly topic = 'journey' as const;
  protected readonly prefixes = ['p:'] as const;
  private readonly people = new Map<string, PersonState>();

  protected read(key: string): string | null {
    const p = this.people.get(key.slice(2));
    return p === undefined ? null : JSON.stringify(p);
  }

  protected load(key: string, value: string | null): void {
    if (value === null) this.people.delete(key.slice(2));
    else this.people.set(key.slice(2), JSON.parse(value) as PersonState);
  }

  get(canonical: string): PersonState | undefined {
    return this.people.get(canonical);
  }

  private put(canonical: string, p: PersonState): void {
    this.write(`p:${canonical}`, JSON.stringify(p));
  }

  /** Records that an identify (with this email, if any) went out. */
  markIdentified(canonical: string, email: string | null): void {
    const p = this.people.get(canonical) ?? {};
    if (p.i === 1 && (email === null || p.em === email)) return;
    this.put(canonical, { ...p, i: 1, ...(email !== null ? { em: email } : {}) });
  }

  /** Counts a purchase; returns the attributes to set on the profile. */
  recordOrder(canonical: string, ev: CanonicalEvent): RollupAttributes {
    const p = { ...(this.people.get(canonical) ?? {}) };
    const at = Math.floor(ev.occurred_at / 1000);
    p.oc = (p.oc ?? 0) + 1;
    const currency = p.cu ?? ev.commerce?.currency ?? undefined;
    if (currency !== undefined) p.cu = currency;
    p.ltv = addMoney(p.ltv ?? 0, ev.commerce?.total ?? 0, currency);
    p.fo = p.fo === undefined ? at : Math.min(p.fo, at);
    p.lo = p.lo === undefined ? at : Math.max(p.lo, at);
    this.put(canonical, p);
    return attributesOf(p);
  }

  /** Takes refunded money off lifetime_value; returns the attributes to set. */
  recordRefund(canonical: string, amount: number): RollupAttributes {
    const p = { ...(this.people.get(canonical) ?? {}) };
    p.ltv = subtractMoney(p.ltv ?? 0, amount, p.cu);
    this.put(canonical, p);
    return attributesOf(p);
  }

  /** A cancelled purchase leaves orders_count and is counted apart; returns the attributes to set. */
  recordCancel(canonical: string): RollupAttributes {
    const p = { ...(this.people.get(canonical) ?? {}) };
    p.oc = Math.max(0, (p.oc ?? 0) - 1);
    p.cc = (p.cc ?? 0) + 1;
    this.put(canonical, p);
    return attributesOf(p);
  }

  /**
   * Folds a secondary profile's state into the primary (after a merge); returns the combined
   * attributes when the secondary had orders, else null.
   */
  mergeInto(primary: string, secondary: string): RollupAttributes | null {
    const s = this.people.get(secondary);
    if (s === undefined) return null;
    const p = { ...(this.people.get(primary) ?? {}) };
    // A secondary that ever bought: its orders, cancellations and money (less refunds) fold in,
    // even when a cancellation took its orders_count back to 0.
    const bought = s.oc !== undefined;
    if (s.cc !== undefined) p.cc = (p.cc ?? 0) + s.cc;
    if (bought) {
      p.oc = (p.oc ?? 0) + s.oc!;
      if (p.cu === undefined && s.cu !== undefined) p.cu = s.cu;
      p.ltv = addMoney(p.ltv ?? 0, s.ltv ?? 0, p.cu);
      if (s.fo !== undefined) p.fo = p.fo === undefined ? s.fo : Math.min(p.fo, s.fo);
      if (s.lo !== undefined) p.lo = p.lo === undefined ? s.lo : Math.max(p.lo, s.lo);
    }
    if (p.em === undefined && s.em !== undefined) p.em = s.em;
    this.put(primary, p);
    this.write(`p:${secondary}`, null);
    return bought ? attributesOf(p) : null;
  }
}

function attributesOf(p: PersonState): RollupAttributes {
  const a: RollupAttributes = { orders_count: p.oc ?? 0, lifetime_value: p.ltv ?? 0 };
  if (p.fo !== undefined) a['first_order_date'] = p.fo;
  if (p.lo !== undefined) a['last_order_date'] = p.lo;
  if (p.cc !== undefined) a['cancelled_orders_count'] = p.cc;
  return a;
}
