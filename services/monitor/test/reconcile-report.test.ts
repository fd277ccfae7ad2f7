import { describe, expect, it } from 'vitest';
import type { AuditRecord, DeliveryReceipt } from '@cio-pipeline/core/generated/avro-types';
import { collectOrders } from '../src/reconcile/orders-export.ts';
import { OutcomeIndex } from '../src/reconcile/outcomes.ts';
import { addDays, buildReport, dayOf, isDay, missingOrderIds } from '../src/reconcile/report.ts';
import { table } from '../src/reconcile/format.ts';

let offset = 0;
function audit(orderId: string, outcome: string, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    audited_at: 1, source: 'shopify', source_topic: 'raw.shopify', source_partition: 0, source_offset: String(offset++),
    source_event: 'orders/create', event_name: 'order_completed', occurred_at: null, outcome, reasons: [], event_ids: [],
    customer_key: 'c1', held_until: null, identifiers: [{ type: 'order_id', value: orderId }], ...over,
  };
}

function receipt(orderId: string, outcome = 'delivered', over: Partial<DeliveryReceipt> = {}): DeliveryReceipt {
  return {
    answered_at: 1, event_id: `ev-${orderId}`, event_name: 'order_completed', customer_key: 'c1', order_id: orderId, occurred_at: null,
    outcome, status: outcome === 'delivered' ? 200 : 400, answer: outcome === 'delivered' ? null : 'bad total', attempts: 1,
    source_topic: 'events.canonical', source_partition: 0, source_offset: '0', ...over,
  };
}

/** A line of the export as the Admin API writes it; ids past 2^53 stay exact. */
function order(id: string, createdAt: string, extra = ''): string {
  return `{"id": ${id}, "name": "#${id.slice(-4)}", "created_at": "${createdAt}"${extra}}`;
}

describe('orders export', () => {
  it('keeps every digit of an id past 2^53, counts a repeated order once, names lines that are not orders', () => {
    const parsed = collectOrders([
      order('5904832711894301745', '2026-11-20T10:00:00Z'),
      '',
      order('5904832711894301745', '2026-11-20T10:00:00Z'),
      '{"id": 1}',
      'not json',
    ]);
    expect(parsed.orders.map((o) => o.orderId)).toEqual(['5904832711894301745']);
    expect(parsed.orders[0]!.aliases).toContain('#1745');
    expect(parsed.repeatedLines).toBe(1);
    expect(parsed.unreadable.map((u) => u.line)).toEqual([4, 5]);
  });
});

describe('per-day report', () => {
  const day1 = '2026-11-20T10:00:00Z';
  const day2 = '2026-11-21T10:00:00Z';

  it('counts delivered, quarantined, duplicates and missing per day, naming the ids', () => {
    const { orders } = collectOrders([
      order('101', day1), order('102', day1), order('103', day1), order('104', day1), order('105', day1),
      order('105', day1), // twice in the export
      order('201', day2),
    ]);
    const index = new OutcomeIndex();
    for (const id of ['101', '104', '105', '201']) index.addAudit(audit(id, 'canonical'));
    index.addReceipt(receipt('101'));
    index.addReceipt(receipt('101')); // delivered twice
    index.addReceipt(receipt('104'));
    index.addReceipt(receipt('105'));
    index.addReceipt(receipt('201'));
    index.addAudit(audit('102', 'quarantined', { reasons: ['currency_invalid', 'total_negative'], event_name: null }));
    index.addAudit(audit('104', 'dropped', { reasons: ['duplicate'] })); // a webhook retry of a delivered order
    // 103: no word of it anywhere

    const report = buildReport(orders, index);
    expect(report.map((d) => d.day)).toEqual(['2026-11-20', '2026-11-21']);
    expect(report[0]).toMatchObject({
      orders: 5, delivered: 3, quarantined: 1, duplicates: 1, missing: 1, pending: 0, rejected: 0, backfilled: 0,
      missing_ids: ['103'], duplicate_ids: ['104'], quarantined_orders: [{ order_id: '102', reasons: ['currency_invalid', 'total_negative'] }],
    });
    expect(report[1]).toMatchObject({ orders: 1, delivered: 1, missing: 0 });
    expect([...missingOrderIds(report)]).toEqual(['103']);
    expect(table(report, null)).toContain('  missing: 103\n');
  });

  it('an order quarantined once and delivered after a replay is delivered, not quarantined', () => {
    const { orders } = collectOrders([order('1', day1)]);
    const index = new OutcomeIndex();
    index.addAudit(audit('1', 'quarantined', { reasons: ['currency_invalid'] }));
    index.addReceipt(receipt('1'));
    expect(buildReport(orders, index)[0]).toMatchObject({ delivered: 1, quarantined: 0, missing: 0 });
  });

  it('canonical without a receipt is pending, a rejection is rejected, a handed-over backfill is backfilled; none is missing', () => {
    const { orders } = collectOrders([order('1', day1), order('2', day1), order('3', day1), order('4', day1)]);
    const index = new OutcomeIndex();
    index.addAudit(audit('1', 'canonical'));
    index.addReceipt(receipt('2', 'rejected'));
    index.addBackfill('3', 1000);
    index.addAudit(audit('4', 'held', { identifiers: [{ type: 'order_id', value: '#4' }] })); // the app named it by its name
    const [d] = buildReport(orders, index);
    expect(d).toMatchObject({ pending: 2, pending_ids: ['1', '4'], rejected: 1, backfilled: 1, backfilled_ids: ['3'], missing: 0 });
    expect(d!.rejected_orders).toEqual([{ order_id: '2', status: 400, answer: 'bad total' }]);
  });

  it('a held order that expired, or one dropped as a bot, is missing with the reason noted', () => {
    const { orders } = collectOrders([order('1', day1), order('2', day1)]);
    const index = new OutcomeIndex();
    const held = audit('1', 'held');
    index.addAudit(held);
    index.addAudit({ ...held, outcome: 'expired' });
    index.addAudit(audit('2', 'dropped', { reasons: ['bot'] }));
    expect(buildReport(orders, index)[0]).toMatchObject({ missing: 2, missing_ids: ['1', '2'], missing_notes: { 1: ['expired'], 2: ['bot'] } });
  });

  it('ignores audit records and receipts of other events of the order (a refund is not a purchase)', () => {
    const { orders } = collectOrders([order('1', day1)]);
    const index = new OutcomeIndex();
    index.addAudit(audit('1', 'quarantined', { event_name: null, source_event: 'refunds/create', reasons: ['x'] }));
    index.addAudit(audit('1', 'canonical', { event_name: 'order_refunded', source_event: 'refunds/create' }));
    index.addReceipt(receipt('1', 'delivered', { event_name: 'order_refunded' }));
    expect(buildReport(orders, index)[0]).toMatchObject({ missing: 1, quarantined: 0, pending: 0, delivered: 0 });
  });

  it('counts the day in the given zone, and --since inclusive, --until exclusive', () => {
    const { orders } = collectOrders([order('1', '2026-11-21T03:00:00Z'), order('2', '2026-11-22T12:00:00Z'), order('3', '2026-11-23T12:00:00Z')]);
    const index = new OutcomeIndex();
    expect(buildReport(orders, index).map((d) => d.day)).toEqual(['2026-11-21', '2026-11-22', '2026-11-23']);
    expect(buildReport(orders, index, { timeZone: 'America/New_York' }).map((d) => d.day)).toEqual(['2026-11-20', '2026-11-22', '2026-11-23']);
    expect(buildReport(orders, index, { since: '2026-11-22', until: '2026-11-23' }).map((d) => d.day)).toEqual(['2026-11-22']);
  });

  it('day arithmetic', () => {
    expect(dayOf(Date.parse('2026-03-29T00:30:00Z'), 'Europe/Paris')).toBe('2026-03-29');
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
    expect(isDay('2026-02-29')).toBe(false);
    expect(isDay('2028-02-29')).toBe(true);
    expect(isDay('2026-1-01')).toBe(false);
  });
});
