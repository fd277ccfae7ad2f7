import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The monitor's Prometheus metrics, on a registry of its own (served by the ops server). */
export interface MonitorMetrics {
  registry: Registry;
  /** Every verdict read, by source, tier and verdict (valid, quarantined, rejected, parked). */
  events: Counter<'source' | 'tier' | 'verdict'>;
  /** Invalid share over the rule's window, per alert series. */
  invalidShare: Gauge<'rule' | 'group'>;
  /** Events in the rule's window (the share's denominator). */
  windowEvents: Gauge<'rule' | 'group'>;
  alertFiring: Gauge<'rule' | 'group'>;
  alertTransitions: Counter<'rule' | 'group' | 'state'>;
  webhookDeliveries: Counter<'outcome'>;
  decodeErrors: Counter<'topic' | 'code'>;
  /** The store's orders per day of created_at and state (orders, delivered, missing...), from the last reconciliation. */
  reconcileOrders: Gauge<'day' | 'state'>;
  reconcileRuns: Counter<'outcome'>;
  reconcileLastSuccess: Gauge;
}

export function createMonitorMetrics(opts: { defaultMetrics?: boolean } = {}): MonitorMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics === true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    events: new Counter({ name: 'monitor_events_total', help: 'Verdicts read from events.canonical, events.quarantine and sink.dlq', labelNames: ['source', 'tier', 'verdict'], registers }),
    invalidShare: new Gauge({ name: 'monitor_invalid_share', help: 'Invalid events (quarantined + rejected) over all events in the rule window', labelNames: ['rule', 'group'], registers }),
    windowEvents: new Gauge({ name: 'monitor_window_events', help: 'Events (canonical + quarantined) in the rule window', labelNames: ['rule', 'group'], registers }),
    alertFiring: new Gauge({ name: 'monitor_alert_firing', help: '1 while the invalid-data alert is firing', labelNames: ['rule', 'group'], registers }),
    alertTransitions: new Counter({ name: 'monitor_alert_transitions_total', help: 'Alert state changes (firing, resolved)', labelNames: ['rule', 'group', 'state'], registers }),
    webhookDeliveries: new Counter({ name: 'monitor_webhook_deliveries_total', help: 'Alert webhook deliveries by outcome (delivered, failed, skipped)', labelNames: ['outcome'], registers }),
    decodeErrors: new Counter({ name: 'monitor_decode_errors_total', help: 'Records that could not be decoded and were skipped', labelNames: ['topic', 'code'], registers }),
    reconcileOrders: new Gauge({ name: 'reconcile_orders', help: 'Orders in the store\'s export per day of created_at, by state (orders, delivered, pending, quarantined, duplicates, rejected, backfilled, missing), last reconciliation', labelNames: ['day', 'state'], registers }),
    reconcileRuns: new Counter({ name: 'reconcile_runs_total', help: 'Reconciliations with the orders export, by outcome (ok, failed)', labelNames: ['outcome'], registers }),
    reconcileLastSuccess: new Gauge({ name: 'reconcile_last_success_timestamp_seconds', help: 'When the last reconciliation with the orders export succeeded', registers }),
  };
}
