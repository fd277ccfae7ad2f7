import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every label value comes from a closed set, so the number of series is bounded whatever the input:
 * statuses Customer.io documents are kept, any other collapses to its class; unknown kinds are `other`.
 */
const KNOWN_STATUSES = new Set([200, 207, 301, 302, 307, 308, 400, 401, 403, 404, 405, 408, 413, 422, 429, 500, 502, 503, 504, 522, 524]);
export const KINDS = ['identify', 'event', 'page', 'screen', 'merge', 'delete'] as const;

/** An HTTP status as a label: a known status, else its class (`4xx`), or `none` (transport error, never sent). */
export function statusLabel(status: number | null): string {
  if (status === null) return 'none';
  if (KNOWN_STATUSES.has(status)) return String(status);
  return status >= 100 && status <= 599 ? `${Math.floor(status / 100)}xx` : 'other';
}

/** A canonical event kind as a label: one of KINDS, else `other`. */
export function kindLabel(kind: string): string {
  return (KINDS as readonly string[]).includes(kind) ? kind : 'other';
}

export interface SinkMetricsOptions {
  /** The sink's current rate limit, as a gauge. */
  rateLimit?: () => number;
  /** Node's process metrics (process_*, nodejs_*), named as ingest and the monitor name theirs. */
  defaultMetrics?: boolean;
}

/** The sink's Prometheus metrics, on a registry of its own (served by the ops server). */
export interface SinkMetrics {
  registry: Registry;
  /** `kind`: kindLabel(); `status`: statusLabel(); `reason`: a DeadLetterReason or `undecodable`. */
  delivered: Counter<'kind'>;
  retried: Counter<'status'>;
  deadLettered: Counter<'status' | 'reason'>;
  parkedKeys: Counter;
  requests: Counter<'status' | 'api'>;
  /** Accepted events not yet finished (queued, backing off or in flight). */
  pending: Gauge;
  /** Events inside an HTTP request or a dead-letter write (rejected, parked, stripped or undecodable). */
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
  /** Receipts acknowledged by sink.receipts, by outcome (delivered, rejected). */
  receiptsWritten: Counter<'outcome'>;
  /** Receipts queued and not yet acknowledged: offsets wait for them. */
  receiptsBuffered: Gauge;
}

export function createSinkMetrics(opts: SinkMetricsOptions = {}, registry = new Registry()): SinkMetrics {
  const registers = [registry];
  if (opts.defaultMetrics === true) collectDefaultMetrics({ register: registry });
  const rateLimit = opts.rateLimit;
  const m: SinkMetrics = {
    registry,
    delivered: new Counter({ name: 'sink_events_delivered_total', help: 'Events Customer.io accepted', labelNames: ['kind'], registers }),
    retried: new Counter({ name: 'sink_events_retried_total', help: 'Event attempts that failed retryably, by HTTP status (none = transport)', labelNames: ['status'], registers }),
    deadLettered: new Counter({ name: 'sink_events_dead_lettered_total', help: 'Events written to sink.dlq, by status and reason', labelNames: ['status', 'reason'], registers }),
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
    receiptsWritten: new Counter({ name: 'sink_receipts_written_total', help: 'Delivery receipts acknowledged by sink.receipts, by outcome', labelNames: ['outcome'], registers }),
    receiptsBuffered: new Gauge({ name: 'sink_receipts_buffered', help: 'Delivery receipts queued, not yet acknowledged (commits wait for them)', registers }),
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
