import { fromMinor, subtractMoney, toMinor } from '../stages/money.ts';
import { ChangelogStore } from './changelog.ts';
import { MEMORY_TABLES, type RecordTable, type TableSource } from './record-table.ts';

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
 *
 * A purchase sent under its order's name, number or checkout token (an app's copy that went out
 * before the store confirmed the id) stays under that form; once the store's webhook teaches which
 * numeric id it is (OrderIdMap.learn), an alias `oa:<numeric id>` -> `<last touched>;<form>` makes
 * the entry reachable under the id the store's refunds and cancellations use. The alias is touched
 * with its entry, so both live for the same window.
 */
export class OrderLedger extends ChangelogStore {
  readonly topic = 'journey' as const;
  protected readonly prefixes = ['ol:', 'rc:', 'oa:'] as const;
  private readonly orders: RecordTable<LedgerEntry>;
  /** `rc:<charge id>` -> `<refunded to date>;<last touched>`: what a running-total refund source reported last. */
  private readonly charges: RecordTable<{ r: number; t: number }>;
  /** `oa:<numeric order id>` -> `<last touched>;<order id form the entry is under>`. */
  private readonly aliases: RecordTable<{ k: string; t: number }>;
  private readonly windowMs: number;

  constructor(opts: { windowMs: number }, tables: TableSource = MEMORY_TABLES) {
    super();
    this.windowMs = opts.windowMs;
    this.persistsItself = tables.onDisk;
    this.orders = tables.table<LedgerEntry>('ol:', { expiresAt: (e) => e.t + this.windowMs });
    this.charges = tables.table<{ r: number; t: number }>('rc:', { expiresAt: (c) => c.t + this.windowMs });
    this.aliases = tables.table<{ k: string; t: number }>('oa:', { expiresAt: (a) => a.t + this.windowMs });
  }

  protected read(key: string): string | null {
    if (key.startsWith('rc:')) {
      const c = this.charges.get(key.slice(3));
      return c === undefined ? null : `${c.r};${c.t}`;
    }
    if (key.startsWith('oa:')) {
      const a = this.aliases.get(key.slice(3));
      return a === undefined ? null : `${a.t};${a.k}`;
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
    if (key.startsWith('oa:')) {
      this.aliases.delete(id);
      // The form may hold ';' (an order name): the time is before the first one.
      if (value !== null) this.aliases.set(id, { t: Number(value.slice(0, value.indexOf(';'))), k: value.slice(value.indexOf(';') + 1) });
      return;
    }
    this.orders.delete(id);
    if (value !== null) this.orders.set(id, JSON.parse(value) as LedgerEntry);
  }

  protected override localTime(key: string, value: string): number {
    if (key.startsWith('rc:')) return Number(value.split(';')[1]);
    if (key.startsWith('oa:')) return Number(value.slice(0, value.indexOf(';')));
    return (JSON.parse(value) as LedgerEntry).t;
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

  /** The id the order's entry is under: `orderId` itself, or the form an alias names. */
  private entryId(orderId: string): string {
    if (this.orders.has(orderId)) return orderId;
    const a = this.aliases.get(orderId);
    return a !== undefined && this.orders.has(a.k) ? a.k : orderId;
  }

  get(orderId: string): LedgerEntry | undefined {
    return this.orders.get(this.entryId(orderId));
  }

  /**
   * The store taught that `forms` (name, number, checkout token) name order `id`: a purchase
   * booked under one of them becomes reachable under `id` too. Nothing to do when `id` has its own
   * entry or already an alias.
   */
  linkForms(id: string, forms: readonly string[], now: number): void {
    if (this.orders.has(id)) return;
    const a = this.aliases.get(id);
    if (a !== undefined && this.orders.has(a.k)) return;
    const form = forms.find((f) => f !== id && this.orders.has(f));
    if (form !== undefined) this.write(`oa:${id}`, `${now};${form}`);
  }

  /** Writes the entry `orderId` reaches; an alias it went through is touched with it. */
  private update(orderId: string, entry: LedgerEntry): void {
    const id = this.entryId(orderId);
    this.write(`ol:${id}`, JSON.stringify(entry));
    if (id !== orderId) this.write(`oa:${orderId}`, `${entry.t};${id}`);
  }

  /** A purchase went out under `person`, counting `total` in `currency`. */
  recordPurchase(orderId: string, person: string, node: string | undefined, total: number, currency: string | null, now: number): void {
    if (this.get(orderId) !== undefined) return;
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
    const e = this.get(orderId);
    if (e === undefined) return 0;
    const refunded = toMinor(e.r, e.c);
    const taken = Math.max(0, Math.min(toMinor(amount, e.c), toMinor(e.v, e.c) - refunded));
    this.update(orderId, { ...e, r: fromMinor(refunded + taken, e.c), t: now });
    return fromMinor(taken, e.c);
  }

  /** Books a cancellation; false when the order was already cancelled or never seen. */
  recordCancel(orderId: string, now: number): boolean {
    const e = this.get(orderId);
    if (e === undefined || e.x === 1) return false;
    this.update(orderId, { ...e, x: 1, t: now });
    return true;
  }

  /** Forgets orders untouched for the window (tombstones); returns how many. */
  expire(now: number): number {
    const orders = this.orders.due(now);
    for (const id of orders) this.write(`ol:${id}`, null);
    const charges = this.charges.due(now);
    for (const id of charges) this.write(`rc:${id}`, null);
    const aliases = this.aliases.due(now);
    for (const id of aliases) this.write(`oa:${id}`, null);
    return orders.length + charges.length + aliases.length;
  }
}
