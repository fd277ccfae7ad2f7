/**
 * The monitor's side of reconcile: with MONITOR_RECONCILE_ORDERS_FILE set, it reconciles that
 * export every MONITOR_RECONCILE_INTERVAL_MS and publishes `reconcile_orders{day,state}` for the
 * last MONITOR_RECONCILE_DAYS days only, so the series stay bounded however old the export is.
 * Each run reads the audit and receipt topics whole: an hour apart by default, not per scrape.
 */
import type { Logger } from '@cio-pipeline/core';
import type { MonitorMetrics } from '../metrics.ts';
import { reconcile } from './reconcile.ts';
import type { OutcomeSources } from './read-outcomes.ts';
import { addDays, dayOf, REPORT_STATES, type DayReport } from './report.ts';

export interface ReconcileGaugesOptions {
  ordersFile: string;
  intervalMs: number;
  days: number;
  timeZone: string;
  sources: OutcomeSources;
  metrics: MonitorMetrics;
  logger: Logger;
  now?: () => number;
}

/** Replaces every reconcile_orders series with the report's: days that left the window disappear. */
export function publishReport(metrics: MonitorMetrics, report: readonly DayReport[]): void {
  metrics.reconcileOrders.reset();
  for (const d of report) for (const state of REPORT_STATES) metrics.reconcileOrders.set({ day: d.day, state }, d[state]);
}

export class ReconcileGauges {
  private readonly opts: ReconcileGaugesOptions;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(opts: ReconcileGaugesOptions) {
    this.opts = opts;
  }

  start(): void {
    void this.runOnce();
    this.timer = setInterval(() => void this.runOnce(), this.opts.intervalMs);
  }

  /** No new runs; one under way is not waited for (a whole-topic read would hold up a shutdown). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One reconciliation; a run still going when the next is due is not doubled. Never throws. */
  runOnce(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = null));
    return this.running;
  }

  private async run(): Promise<void> {
    const { metrics, logger, timeZone, days } = this.opts;
    const now = (this.opts.now ?? Date.now)();
    const today = dayOf(now, timeZone);
    try {
      const { report } = await reconcile(this.opts.ordersFile, this.opts.sources, { timeZone, since: addDays(today, 1 - days), until: addDays(today, 1) });
      publishReport(metrics, report);
      metrics.reconcileRuns.inc({ outcome: 'ok' });
      metrics.reconcileLastSuccess.set(now / 1000);
      const missing = report.reduce((n, d) => n + d.missing, 0);
      logger.info({ days: report.length, missing }, 'reconciled the orders export');
    } catch (err) {
      // The last good figures stay; reconcile_last_success_timestamp_seconds shows their age.
      metrics.reconcileRuns.inc({ outcome: 'failed' });
      logger.error({ err }, 'reconciliation with the orders export failed');
    }
  }
}
