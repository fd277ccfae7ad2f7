// The module itself, not the package index: `trace` loads this without Kafka's client.
import { PipelineError, type ErrorCatalog } from '@cio-pipeline/core/errors';

/**
 * The monitor's own codes, raised by reconcile and by the trace index (the monitor itself raises
 * otherwise only @cio-pipeline/core's: CONFIG_INVALID at start-up, SERDE_* on records it counts
 * and skips). A new code belongs here: the errors test then requires it to be documented, and fails
 * if one is thrown without being listed.
 */
export const MONITOR_ERRORS = {
  RECONCILE_TOPIC_MISSING: { retryable: false, meaning: 'Reconcile found no `pipeline.audit` topic, or no receipts topic (neither `sink.receipt-batches` nor the legacy `sink.receipts`): without them every order would look missing.', action: 'Check TOPIC_PREFIX and that the normalizer and sink that write audit records and receipts are deployed.' },
  RECONCILE_BACKFILL_FAILED: { retryable: 'depends', meaning: 'The backfill that reconcile --backfill started exited with an error; the missing orders were not recorded as sent.', action: 'Read the backfill\'s own error above it (Kafka, registry, config), fix it and run reconcile --backfill again: orders it did write are deduped.' },
  TRACE_INDEX_OPEN_FAILED: { retryable: false, meaning: 'The trace index directory cannot be created or opened (permissions, disk, corruption).', action: 'Fix MONITOR_TRACE_DIR (or --index-dir); a corrupt index can be deleted, the monitor rebuilds it from pipeline.audit, sink.receipt-batches and (if retained) sink.receipts.' },
  TRACE_INDEX_LOCKED: { retryable: false, meaning: 'Another process holds the trace index directory (LevelDB allows one).', action: 'Ask the running monitor (`trace --monitor-url`), or stop it before opening the directory; two monitors need two directories.' },
  TRACE_UNAVAILABLE: { retryable: true, meaning: '`trace` could not get an answer from the monitor\'s /trace endpoint.', action: 'Check that the monitor runs with MONITOR_TRACE_DIR and that --monitor-url (TRACE_MONITOR_URL) points at its ops port, or use --index-dir with the monitor stopped.' },
} as const satisfies ErrorCatalog;

export type MonitorErrorCode = keyof typeof MONITOR_ERRORS;

export class ReconcileError extends PipelineError {
  declare readonly code: MonitorErrorCode;
  constructor(code: MonitorErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, opts);
  }
}

type TraceErrorCode = Extract<MonitorErrorCode, `TRACE_${string}`>;

/** The trace index or the trace command failed. */
export class TraceIndexError extends PipelineError {
  declare readonly code: TraceErrorCode;
  constructor(code: TraceErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, { ...opts, retryable: MONITOR_ERRORS[code].retryable });
  }
}
