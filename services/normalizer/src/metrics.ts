import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SourceName } from './stages/candidate.ts';

const SOURCES: readonly SourceName[] = ['shopify', 'app', 'subscriptions', 'backfill'];
/** Events the pipeline itself makes, whatever the plan says. */
const PIPELINE_EVENTS = ['identify', 'merge'];
export const UNPLANNED_EVENT = 'unplanned';
export const UNKNOWN_EVENT = 'unknown';

export interface NormalizerMetricsOptions {
  /** The tracking plan's event names: the only names an `event` label takes. */
  plannedEvents: Iterable<string>;
  /** Node's process metrics (process_*, nodejs_*), named as the sink and ingest name theirs. */
  defaultMetrics?: boolean;
}

/**
 * What the normalizer did, by source and event name: in, out, quarantined, dropped, and how fast.
 * Every label value comes from a closed set, so the number of series is bounded whatever clients
 * send: an event name the plan does not hold is `unplanned` (a missing one `unknown`), a source
 * the pipeline does not know is `other`.
 */
export function createNormalizerMetrics(opts: NormalizerMetricsOptions) {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const planned = new Set([...opts.plannedEvents, ...PIPELINE_EVENTS]);
  return {
    registry,
    /** An event name as a label: a planned name, else `unplanned`; `unknown` when there is none. */
    eventLabel: (name: string | null | undefined): string => (name === null || name === undefined ? UNKNOWN_EVENT : planned.has(name) ? name : UNPLANNED_EVENT),
    /** A source as a label: one of the pipeline's sources, else `other`. */
    sourceLabel: (source: string): string => ((SOURCES as readonly string[]).includes(source) ? source : 'other'),
    in: new Counter({ name: 'normalizer_events_in_total', help: 'Raw records read', labelNames: ['source'], registers: [registry] }),
    out: new Counter({ name: 'normalizer_events_out_total', help: 'Canonical events published', labelNames: ['source', 'event'], registers: [registry] }),
    quarantined: new Counter({ name: 'normalizer_quarantined_total', help: 'Raw records quarantined, by reason code', labelNames: ['source', 'reason', 'event'], registers: [registry] }),
    dropped: new Counter({ name: 'normalizer_dropped_total', help: 'Events dropped on purpose (bots, duplicates, suppressed), by reason', labelNames: ['source', 'reason', 'event'], registers: [registry] }),
    // By warning code only (`invalid_type`, not `invalid_type:attributes.x`): field names come from senders.
    warnings: new Counter({ name: 'normalizer_validation_warnings_total', help: 'Warnings on accepted events (a dropped attribute or property, bot or internal traffic), by code', labelNames: ['source', 'warning'], registers: [registry] }),
    conflicts: new Counter({ name: 'normalizer_identity_conflicts_total', help: 'Identity conflicts recorded (never merged silently)', labelNames: ['kind'], registers: [registry] }),
    linksRefused: new Counter({ name: 'normalizer_identity_links_refused_total', help: 'Identifiers not linked to a person who has the most allowed (NORMALIZER_MAX_IDENTIFIERS_PER_PERSON)', labelNames: ['kind'], registers: [registry] }),
    transactions: new Counter({ name: 'normalizer_transactions_total', help: 'Kafka transactions, by outcome', labelNames: ['outcome'], registers: [registry] }),
    latency: new Histogram({ name: 'normalizer_processing_seconds', help: 'Time to process and commit one transaction', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
    lag: new Gauge({ name: 'normalizer_consumer_lag', help: 'Records behind the end of each raw partition', labelNames: ['topic', 'partition'], registers: [registry] }),
    held: new Gauge({ name: 'normalizer_held_events', help: 'Events held (anonymous or awaiting a complete copy)', registers: [registry] }),
    identityNodes: new Gauge({ name: 'normalizer_identity_nodes', help: 'Identifiers in the identity graph', registers: [registry] }),
    restoreSeconds: new Gauge({ name: 'normalizer_state_restore_seconds', help: 'Time the last state restore took', registers: [registry] }),
    changelogTail: new Counter({
      name: 'normalizer_changelog_tail_records_total',
      help: 'Changelog records the tail read after the restore: other instances\' (applied between transactions), and this instance\'s (skipped, decoded or not)',
      labelNames: ['writer', 'decoded'],
      registers: [registry],
    }),
  };
}

export type NormalizerMetrics = ReturnType<typeof createNormalizerMetrics>;
