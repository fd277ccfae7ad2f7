import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The sink's Prometheus metrics, on a registry of its own (served by the ops server). */
export interface SinkMetrics {
  registry: Registry;
  delivered: Counter<'kind'>;
  retried: Counter<'status'>;
  deadLettered: Counter<'status' | 'reason'>;
  parkedKeys: Counter;
  requests: Counter<'status' | 'api'>;
  /** Accepted events not yet finished (queued, backing off or in flight). */
  pending: Gauge;
  /** Events inside an HTTP request or a dead-letter write. */
  inFlightRequests: Gauge;
  /** Keys backing off after a retryable failure. */
  keysBlocked: Gauge;
  rateLimitWaits: Counter;
  /** 1 while delivery is halted on a configuration fault (401/403/404). */
  authHalted: Gauge;
  partitionsPaused: Gauge;
  batchItems: Histogram;
  /** occurred_at -> delivered, seconds. */
  lag: Histogram;
}

export function createSinkMetrics(registry = new Registry(), rateLimit?: () => number): SinkMetrics {
  const registers = [registry];
  const m: SinkMetrics = {
    registry,
    delivered: new Counter({ name: 'sink_events_delivered_total', help: 'Events Customer.io accepted', labelNames: ['kind'], registers }),
    retried: new Counter({ name: 'sink_events_retried_total', help: 'Event attempts that failed retryably, by HTTP status (none = transport)', labelNames: ['status'], registers }),
    deadLettered: new Counter({ name: 'sink_events_dead_lettered_total', help: 'Events written to sink.dlq', labelNames: ['status', 'reason'], registers }),
    parkedKeys: new Counter({ name: 'sink_keys_parked_total', help: 'Keys parked after failing past the bound', registers }),
    requests: new Counter({ name: 'sink_cio_requests_total', help: 'HTTP requests to Customer.io by status (none = transport error)', labelNames: ['status', 'api'], registers }),
    pending: new Gauge({ name: 'sink_events_pending', help: 'Accepted events not yet delivered or dead-lettered', registers }),
    inFlightRequests: new Gauge({ name: 'sink_events_in_flight', help: 'Events inside a request or a dead-letter write', registers }),
    keysBlocked: new Gauge({ name: 'sink_keys_blocked', help: 'Keys waiting to retry', registers }),
    rateLimitWaits: new Counter({ name: 'sink_rate_limit_waits_total', help: 'Requests that waited for a rate-limit token', registers }),
    authHalted: new Gauge({ name: 'sink_halted', help: '1 while delivery is halted on a Customer.io configuration fault', registers }),
    partitionsPaused: new Gauge({ name: 'sink_partitions_paused', help: '1 while partitions are paused for backpressure', registers }),
    batchItems: new Histogram({ name: 'sink_batch_items', help: 'Items per batch', buckets: [1, 2, 5, 10, 25, 50, 100, 200, 500], registers }),
    lag: new Histogram({
      name: 'sink_delivery_lag_seconds',
      help: 'From occurred_at to accepted by Customer.io',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    }),
  };
  if (rateLimit) {
    new Gauge({
      name: 'sink_rate_limit_per_second',
      help: 'Current adaptive rate limit',
      registers,
      collect() {
        this.set(rateLimit());
      },
    });
  }
  return m;
}
