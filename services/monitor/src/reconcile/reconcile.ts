/** One reconciliation: the export against the pipeline's outcomes, per day. Shared by the command and the monitor's gauges. */
import type { OrdersExport } from './orders-export.ts';
import { readOrdersExport } from './orders-export.ts';
import { readOutcomes, type OutcomeSources, type ReadOutcomes } from './read-outcomes.ts';
import { buildReport, type DayReport, type ReportOptions } from './report.ts';

export interface Reconciliation {
  orders: OrdersExport;
  outcomes: ReadOutcomes;
  report: DayReport[];
}

export async function reconcile(file: string, sources: OutcomeSources, opts: ReportOptions): Promise<Reconciliation> {
  const orders = await readOrdersExport(file);
  const { logger } = sources;
  logger.info({ orders: orders.orders.length, repeatedLines: orders.repeatedLines, unreadable: orders.unreadable.length }, 'read the orders export');
  for (const u of orders.unreadable.slice(0, 20)) logger.warn({ line: u.line, why: u.why }, 'export line is not an order, left out');
  const outcomes = await readOutcomes(sources);
  return { orders, outcomes, report: buildReport(orders.orders, outcomes.index, opts) };
}
