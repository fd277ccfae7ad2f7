import { fromMinor, subtractMoney, toMinor } from '../stages/money.ts';
import { ChangelogStore } from './changelog.ts';

/** What the stage knows about one sent purchase (topic `journey`, record `ol:<order id>`). */
export interface LedgerEntry {
  /** The canonical person the purchase went out under. */
  p: string;
  /** An identity node of the buyer (the purchase's strongest identifier), to follow later merges. */
  n?: string;
  /** The purchase's total, as counted in lifetime_value. */
  v: number;
  /** Money refunded so far, as subtracted from lifetime_value. */
  r: number;
  /** The purchase's currency: v and r are exact to its decimals (absent when the order named none). */
  c?: string;
  /** Cancelled (counted once). */
  x?: 1;
  /** Last touched (processing time), for expiry. */
  t: number;
}

/**
 * Sent purchases by canonical order id: who bought (a refund webhook names no customer, the order
 * it refers to does), what was counted, and what was already taken back, so a refund never takes
 * more than the order brought and a cancellation counts once. Entries live for `windowMs` after
 * their last change (refunds come weeks after the purchase: the order guard's window, 90 days by
 * default); expiry walks last-touched order.
 */
export class OrderLedger extends ChangelogStore {
  readonly topic = 'journey' as const;
  protected readonly prefixes = ['ol:', 'rc:'] as const;
  private readonly orders = new Map<string, LedgerEntry>();
  /** `rc:<charge id>` -> `<refunded to date>;<last touched>`: what a running-total refund source reported last. */
  private readonly charges = new Map<string, { r: number; t: number }>();
  private readonly windowMs: number;

  constructor(opts: { windowMs: number }) {
    super();
    this.windowMs = opts.windowMs;
  }

  protected read(key: string): string | null {
    if (key.startsWith('rc:')) {
      const c = this.charges.get(key.slice(3));
      return c === undefined ? null : `${c.r};${c.t}`;
    }
    const e = this.orders.get(key.slice(3));
    return e === undefined ? null : JSON.stringify(e);
  }

  protected load(key: string, value: string | null): void {
    const id = key.slice(3);
    // delete + set keeps each map in last-touched order, which expiry relies on.
    if (key.startsWith('rc:')) {
      this.charges.delete(id);
      const [r, t] = (value ?? '').split(';');
      if (value !== null) this.charges.set(id, { r: Number(r), t: Number(t) });
      return;
    }
    this.orders.delete(id);
    if (value !== null) this.orders.set(id, JSON.parse(value) as LedgerEntry);
  }

  /**
   * Recharge reports a charge's refunds as a running total: returns the money refunded since the
   * total it reported last (0 when nothing new), and remembers the new total.
   */
  refundSinceLast(chargeId: string, refundedToDate: number, currency: string | null, now: number): number {
    const before = this.charges.get(chargeId)?.r ?? 0;
    const fresh = subtractMoney(refundedToDate, before, currency);
    if (fresh <= 0) return 0;
    this.write(`rc:${chargeId}`, `${refundedToDate};${now}`);
    return fresh;
  }

  get(orderId: string): LedgerEntry | undefined {
    return this.orders.get(orderId);
  }

  /** A purchase went out under `person`, counting `total` in `currency`. */
  recordPurchase(orderId: string, person: string, node: string | undefined, total: number, currency: string | null, now: number): void {
    if (this.orders.has(orderId)) return;
    const entry: LedgerEntry = {
      p: person,
      ...(node !== undefined ? { n: node } : {}),
      v: fromMinor(toMinor(total, currency), currency),
      r: 0,
      ...(currency !== null ? { c: currency } : {}),
      t: now,
    };
    this.write(`ol:${orderId}`, JSON.stringify(entry));
  }

  /**
   * Books a refund; returns the money to take off lifetime_value: the amount, capped at what the
   * order still counts (0 for an order this ledger never saw), in whole minor units of the order's
   * currency.
   */
  recordRefund(orderId: string, amount: number, now: number): number {
    const e = this.orders.get(orderId);
    if (e === undefined) return 0;
    const refunded = toMinor(e.r, e.c);
    const taken = Math.max(0, Math.min(toMinor(amount, e.c), toMinor(e.v, e.c) - refunded));
    this.write(`ol:${orderId}`, JSON.stringify({ ...e, r: fromMinor(refunded + taken, e.c), t: now }));
    return fromMinor(taken, e.c);
  }

  /** Books a cancellation; false when the order was already cancelled or never seen. */
  recordCancel(orderId: string, now: number): boolean {
    const e = this.orders.get(orderId);
    if (e === undefined || e.x === 1) return false;
    this.write(`ol:${orderId}`, JSON.stringify({ ...e, x: 1, t: now }));
    return true;
  }

  /** Forgets orders untouched for the window (tombstones); returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [id, e] of this.orders) {
      if (now - e.t < this.windowMs) break;
      this.write(`ol:${id}`, null);
      n++;
    }
    for (const [id, c] of this.charges) {
      if (now - c.t < this.windowMs) break;
      this.write(`rc:${id}`, null);
      n++;
    }
    return n;
  }
}
