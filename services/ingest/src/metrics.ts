import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Ingest's Prometheus metrics, on their own registry so tests (and several servers) don't collide. */
export interface IngestMetrics {
  registry: Registry;
  requests: Counter<'source' | 'status' | 'reason'>;
  eventsWritten: Counter<'source'>;
  kafkaWriteSeconds: Histogram<'source' | 'outcome'>;
  inflightBytes: Gauge;
  inflightRequests: Gauge;
  connectionsDropped: Counter<'reason'>;
}

export function createIngestMetrics(opts: { defaultMetrics?: boolean } = {}): IngestMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics === true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'ingest_requests_total',
      help: 'HTTP requests by source, answer status and reason',
      labelNames: ['source', 'status', 'reason'],
      registers: [registry],
    }),
    eventsWritten: new Counter({
      name: 'ingest_events_written_total',
      help: 'Raw events acknowledged by Kafka',
      labelNames: ['source'],
      registers: [registry],
    }),
    kafkaWriteSeconds: new Histogram({
      name: 'ingest_kafka_write_seconds',
      help: 'Time from handing records to the writer until Kafka acknowledged (or the write failed)',
      labelNames: ['source', 'outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    inflightBytes: new Gauge({
      name: 'ingest_inflight_bytes',
      help: 'Bytes of request bodies being read or waiting for Kafka',
      registers: [registry],
    }),
    connectionsDropped: new Counter({
      name: 'ingest_connections_dropped_total',
      help: 'Connections dropped on accept, by reason (an address blocked after repeated authentication failures)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    inflightRequests: new Gauge({
      name: 'ingest_inflight_requests',
      help: 'Requests holding part of the in-flight budget',
      registers: [registry],
    }),
  };
}
