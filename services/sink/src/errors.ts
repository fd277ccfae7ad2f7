import { PipelineError, type ErrorCatalog } from '@cio-pipeline/core';

/** Every code the sink raises; docs/errors.md is generated from this. */
export const SINK_ERRORS = {
  CIO_REJECTED: { retryable: false, meaning: 'Customer.io judged the item invalid (400, another 4xx, an item of a 207, or an item over SINK_MAX_ITEM_BYTES).', action: 'The event is dead-lettered (reason `rejected`); fix the data or the mapping, then `sink replay`.' },
  SINK_UNMAPPABLE: { retryable: false, meaning: 'The canonical event cannot be expressed as a Customer.io call (e.g. an identify without any identifier).', action: 'The event is dead-lettered (reason `rejected`); check identity resolution upstream.' },
  CIO_CONFIG_FAULT: { retryable: false, meaning: 'Customer.io refused the sink\'s configuration for a reason that is not the data.', action: 'Delivery halts with offsets kept; fix the configuration and the sink resumes.' },
  CIO_AUTH: { retryable: false, meaning: 'Customer.io refused the site id / API key pair (401 or 403).', action: 'Fix CIO_SITE_ID / CIO_API_KEY. Delivery halts with offsets kept, nothing is dead-lettered.' },
  CIO_REDIRECT: { retryable: false, meaning: 'Customer.io answered with a redirect: usually the wrong region.', action: 'Fix CIO_REGION / CIO_TRACK_URL. Delivery halts until then.' },
  CIO_ENDPOINT: { retryable: false, meaning: 'The Track API URL answers as if it were not the Track API (404, 405).', action: 'Fix CIO_TRACK_URL / CIO_REGION. Delivery halts until then.' },
  CIO_RATE_LIMITED: { retryable: true, meaning: 'Customer.io is rate limiting the workspace.', action: 'Nothing: the key backs off (Retry-After). If constant, lower SINK_RATE_LIMIT_PER_SEC.' },
  CIO_UNAVAILABLE: { retryable: true, meaning: 'Customer.io answered 408 or 5xx.', action: 'Nothing: the key backs off and retries; events park after SINK_PARK_AFTER_MS.' },
  CIO_NETWORK: { retryable: true, meaning: 'The call to Customer.io failed in transport (reset, DNS, refused).', action: 'Check egress to Customer.io; the key retries meanwhile.' },
  CIO_TIMEOUT: { retryable: true, meaning: 'Customer.io did not answer within SINK_REQUEST_TIMEOUT_MS.', action: 'Nothing if rare; the key retries.' },
  SINK_DRAINING: { retryable: false, meaning: 'A record was pushed to the dispatcher while it drains for shutdown.', action: 'None: it is redelivered after the restart from the committed offset.' },
  SINK_RECEIPT_WRITE_FAILED: { retryable: true, meaning: 'Delivery receipts could not be written to sink.receipt-batches (the broker is down, or the receipts worker is).', action: 'Nothing if brief: delivery goes on, offsets are not committed until the receipts are written. If the worker exited, restart the sink.' },
  SINK_STOPPED: { retryable: false, meaning: 'A write was attempted after the sink closed its Kafka clients.', action: 'None during shutdown; otherwise report it with the log.' },
} as const satisfies ErrorCatalog;

export type SinkErrorCode = keyof typeof SINK_ERRORS;
export const SINK_ERROR_CODES = Object.keys(SINK_ERRORS) as SinkErrorCode[];

/**
 * What Customer.io said about one item, as typed errors. The dispatcher decides from the class and
 * `retryable`: a rejection is the data's fault (dead-letter it), a config fault is ours (halt, keep
 * offsets), a retryable error is transient (back off, only that key waits).
 */

/** One entry of Customer.io's `errors` array (v2) or the v1 `meta` message. */
export interface CioFieldError {
  reason?: string;
  field?: string;
  message?: string;
  batch_index?: number;
}

/** Customer.io judged the item invalid (400, other 4xx, or an item of a 207): never retried. */
export class CioRejectedError extends PipelineError {
  readonly status: number | null;
  /** Customer.io's error body for this item (JSON text) or our own reason. */
  readonly body: string;

  constructor(status: number | null, body: string, message?: string, code: 'CIO_REJECTED' | 'SINK_UNMAPPABLE' = 'CIO_REJECTED') {
    super(code, message ?? `Customer.io rejected the item${status === null ? '' : ` (${status})`}: ${truncate(body, 300)}`, {
      retryable: false,
      details: { status },
    });
    this.status = status;
    this.body = body;
  }
}

/**
 * Our configuration is wrong (bad credentials, wrong URL): nothing about the data. Delivery stops,
 * offsets stay, nothing is dead-lettered.
 */
export class CioConfigError extends PipelineError {
  readonly status: number;
  constructor(status: number, message: string, code: 'CIO_CONFIG_FAULT' | 'CIO_AUTH' | 'CIO_REDIRECT' | 'CIO_ENDPOINT' = 'CIO_CONFIG_FAULT') {
    super(code, message, { retryable: false, details: { status } });
    this.status = status;
  }
}

/** 401/403: the site id / API key pair is refused. */
export class CioAuthError extends CioConfigError {
  constructor(status: number) {
    super(status, `Customer.io refused the credentials (${status}); check CIO_SITE_ID / CIO_API_KEY`, 'CIO_AUTH');
  }
}

/** 408, 429, 5xx, 522/524, timeouts and connection resets: try again later. */
export class CioRetryableError extends PipelineError {
  readonly status: number | null;
  /** From Retry-After when the answer carried one. */
  readonly retryAfterMs: number | undefined;
  readonly body: string;

  constructor(status: number | null, message: string, opts: { retryAfterMs?: number | undefined; body?: string; cause?: unknown; code?: 'CIO_TIMEOUT' | 'CIO_NETWORK' } = {}) {
    super(opts.code ?? (status === 429 ? 'CIO_RATE_LIMITED' : status === null ? 'CIO_NETWORK' : 'CIO_UNAVAILABLE'), message, {
      retryable: true,
      cause: opts.cause,
      details: { status, retryAfterMs: opts.retryAfterMs },
    });
    this.status = status;
    this.retryAfterMs = opts.retryAfterMs;
    this.body = opts.body ?? '';
  }
}

/**
 * The canonical event cannot be expressed as a Customer.io call (e.g. identify without any
 * identifier). `reason` goes into the dead-letter `error` body: `unmappable`, or `unaddressable_id`
 * for an identifier a v1 path cannot carry (`.`, `..`, empty).
 */
export class MappingError extends CioRejectedError {
  readonly reason: string;
  constructor(message: string, reason: 'unmappable' | 'unaddressable_id' = 'unmappable') {
    super(null, JSON.stringify({ errors: [{ reason, message }] }), `cannot map event: ${message}`, 'SINK_UNMAPPABLE');
    this.reason = reason;
  }
}

export type CioError = CioRejectedError | CioConfigError | CioRetryableError;

export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504, 522, 524]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status) || (status >= 500 && status <= 599);
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n)}…`;
}

/** The dispatcher is draining or stopped: records pushed now would never be delivered. */
export class DrainingError extends PipelineError {
  constructor() {
    super('SINK_DRAINING', 'dispatcher is draining; no new records accepted', { retryable: false });
  }
}

/** A write attempted after the sink closed its Kafka clients. */
export class SinkStoppedError extends PipelineError {
  constructor(what: string) {
    super('SINK_STOPPED', `${what} is closed`, { retryable: false });
  }
}

/** Receipts not written: the commit of their events' offsets waits. */
export class ReceiptWriteError extends PipelineError {
  constructor(message: string, retryable: boolean) {
    super('SINK_RECEIPT_WRITE_FAILED', message, { retryable });
  }
}
