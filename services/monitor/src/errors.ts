// The module itself, not the package index: `trace` loads this without Kafka's client.
import { PipelineError, type ErrorCatalog } from '@cio-pipeline/core/errors';

/**
 * The monitor's own codes (besides @cio-pipeline/core's CONFIG_INVALID and SERDE_*): the trace
 * index's. A new code belongs here: the errors test then requires it to be documented, and fails
 * if one is thrown without being listed.
 */
export const MONITOR_ERRORS = {
  TRACE_INDEX_OPEN_FAILED: { retryable: false, meaning: 'The trace index directory cannot be created or opened (permissions, disk, corruption).', action: 'Fix MONITOR_TRACE_DIR (or --index-dir); a corrupt index can be deleted, the monitor rebuilds it from pipeline.audit and sink.receipts.' },
  TRACE_INDEX_LOCKED: { retryable: false, meaning: 'Another process holds the trace index directory (LevelDB allows one).', action: 'Ask the running monitor (`trace --monitor-url`), or stop it before opening the directory; two monitors need two directories.' },
  TRACE_UNAVAILABLE: { retryable: true, meaning: '`trace` could not get an answer from the monitor\'s /trace endpoint.', action: 'Check that the monitor runs with MONITOR_TRACE_DIR and that --monitor-url (TRACE_MONITOR_URL) points at its ops port, or use --index-dir with the monitor stopped.' },
} as const satisfies ErrorCatalog;

export type MonitorErrorCode = keyof typeof MONITOR_ERRORS;

/** The trace index or the trace command failed. */
export class TraceIndexError extends PipelineError {
  declare readonly code: MonitorErrorCode;
  constructor(code: MonitorErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, { ...opts, retryable: MONITOR_ERRORS[code].retryable });
  }
}
