import { PipelineError } from '@cio-pipeline/core';

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

  constructor(status: number | null, body: string, message?: string, code = 'CIO_REJECTED') {
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
  constructor(status: number, message: string, code = 'CIO_CONFIG_FAULT') {
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

  constructor(status: number | null, message: string, opts: { retryAfterMs?: number | undefined; body?: string; cause?: unknown; code?: string } = {}) {
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

/** The canonical event cannot be expressed as a Customer.io call (e.g. identify without any identifier). */
export class MappingError extends CioRejectedError {
  constructor(message: string) {
    super(null, JSON.stringify({ errors: [{ reason: 'unmappable', message }] }), `cannot map event: ${message}`, 'SINK_UNMAPPABLE');
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
