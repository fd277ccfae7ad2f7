import { PipelineError, type ErrorCatalog } from '@cio-pipeline/core';

/**
 * The monitor's own codes, raised by reconcile (the monitor itself raises only @cio-pipeline/core's:
 * CONFIG_INVALID at start-up, SERDE_* on records it counts and skips). A new code belongs here: the
 * errors test then requires it to be documented, and fails if one is thrown without being listed.
 */
export const MONITOR_ERRORS = {
  RECONCILE_TOPIC_MISSING: { retryable: false, meaning: 'Reconcile found no `pipeline.audit` or `sink.receipts` topic: without them every order would look missing.', action: 'Check TOPIC_PREFIX and that the normalizer and sink that write audit records and receipts are deployed.' },
  RECONCILE_BACKFILL_FAILED: { retryable: 'depends', meaning: 'The backfill that reconcile --backfill started exited with an error; the missing orders were not recorded as sent.', action: 'Read the backfill\'s own error above it (Kafka, registry, config), fix it and run reconcile --backfill again: orders it did write are deduped.' },
} as const satisfies ErrorCatalog;

export type MonitorErrorCode = keyof typeof MONITOR_ERRORS;

export class ReconcileError extends PipelineError {
  declare readonly code: MonitorErrorCode;
  constructor(code: MonitorErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, opts);
  }
}
