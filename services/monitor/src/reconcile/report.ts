/**
 * The per-day comparison of the store's orders with what the pipeline did with them. An order
 * belongs to the day of its created_at in the report's time zone; each count is of distinct order
 * ids, so an order twice in the export, or delivered twice, counts once.
 */
import type { ExportOrder } from './orders-export.ts';
import type { OrderFacts, OutcomeIndex } from './outcomes.ts';

/** The states the gauges and the JSON name; an order may count in several (see README). */
export const REPORT_STATES = ['orders', 'delivered', 'pending', 'quarantined', 'duplicates', 'rejected', 'backfilled', 'missing'] as const;
export type ReportState = (typeof REPORT_STATES)[number];

export interface DayReport extends Record<ReportState, number> {
  day: string;
  missing_ids: string[];
  /** Quarantined and not delivered since, with every reason seen. */
  quarantined_orders: Array<{ order_id: string; reasons: string[] }>;
  duplicate_ids: string[];
  rejected_orders: Array<{ order_id: string; status: number | null; answer: string | null }>;
  /** Handed to backfill by an earlier --backfill, with no outcome from the pipeline yet. */
  backfilled_ids: string[];
  pending_ids: string[];
  /** Missing orders the pipeline did drop for another reason (bot, expired hold...): id -> reasons. */
  missing_notes: Record<string, string[]>;
}

export interface ReportOptions {
  /** IANA zone for the order's day; UTC by default. */
  timeZone?: string;
  /** Inclusive first day, YYYY-MM-DD. */
  since?: string;
  /** Exclusive last day, YYYY-MM-DD. */
  until?: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** YYYY-MM-DD of `ms` in `timeZone` (throws RangeError for an unknown zone). */
export function dayOf(ms: number, timeZone = 'UTC'): string {
  let f = formatters.get(timeZone);
  if (!f) formatters.set(timeZone, (f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })));
  const parts = Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return `${parts['year']}-${parts['month']}-${parts['day']}`;
}

/** The calendar day `days` after `day` (negative: before), both YYYY-MM-DD. */
export function addDays(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

export function isDay(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(`${text}T00:00:00Z`)) && addDays(text, 0) === text;
}

function emptyDay(day: string): DayReport {
  return {
    day, orders: 0, delivered: 0, pending: 0, quarantined: 0, duplicates: 0, rejected: 0, backfilled: 0, missing: 0,
    missing_ids: [], quarantined_orders: [], duplicate_ids: [], rejected_orders: [], backfilled_ids: [], pending_ids: [], missing_notes: {},
  };
}

/** Where one order stands. Delivered wins; missing is an order the pipeline has no word of. */
export function classify(f: OrderFacts): { delivered: boolean; pending: boolean; quarantined: boolean; duplicate: boolean; rejected: boolean; backfilled: boolean; missing: boolean } {
  const delivered = f.delivered > 0;
  const rejected = !delivered && f.rejected !== null;
  const pending = !delivered && !rejected && f.inFlight;
  const quarantined = !delivered && f.quarantineReasons.size > 0;
  // A duplicate drop means a first copy went through, even if its receipt is older than the topic.
  const duplicate = f.duplicate;
  const accounted = delivered || rejected || pending || quarantined || duplicate;
  const backfilled = !accounted && f.backfilledAt !== null;
  return { delivered, pending, quarantined, duplicate, rejected, backfilled, missing: !accounted && !backfilled };
}

export function buildReport(orders: readonly ExportOrder[], index: OutcomeIndex, opts: ReportOptions = {}): DayReport[] {
  const days = new Map<string, DayReport>();
  for (const order of orders) {
    const day = dayOf(order.createdAt, opts.timeZone);
    if (opts.since !== undefined && day < opts.since) continue;
    if (opts.until !== undefined && day >= opts.until) continue;
    let d = days.get(day);
    if (!d) days.set(day, (d = emptyDay(day)));
    const facts = index.factsFor([order.orderId, ...order.aliases]);
    const s = classify(facts);
    const id = order.orderId;
    d.orders++;
    if (s.delivered) d.delivered++;
    if (s.pending) {
      d.pending++;
      d.pending_ids.push(id);
    }
    if (s.quarantined) {
      d.quarantined++;
      d.quarantined_orders.push({ order_id: id, reasons: [...facts.quarantineReasons].sort() });
    }
    if (s.duplicate) {
      d.duplicates++;
      d.duplicate_ids.push(id);
    }
    if (s.rejected && facts.rejected) {
      d.rejected++;
      d.rejected_orders.push({ order_id: id, ...facts.rejected });
    }
    if (s.backfilled) {
      d.backfilled++;
      d.backfilled_ids.push(id);
    }
    if (s.missing) {
      d.missing++;
      d.missing_ids.push(id);
      if (facts.otherDrops.size > 0) d.missing_notes[id] = [...facts.otherDrops].sort();
    }
  }
  return [...days.values()].sort((a, b) => (a.day < b.day ? -1 : 1));
}

/** The export's orders that the report finds missing: what --backfill hands to backfill. */
export function missingOrderIds(report: readonly DayReport[]): Set<string> {
  return new Set(report.flatMap((d) => d.missing_ids));
}
