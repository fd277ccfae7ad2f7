import { PipelineError, type ErrorCatalog } from '@cio-pipeline/core';

/**
 * Every code ingest raises or answers with. Request errors reach the source as
 * `{ error: { code, reason, message } }` with the status below; docs/errors.md is generated from this.
 */
export const INGEST_ERRORS = {
  INGEST_BAD_REQUEST: { status: 400, retryable: false, meaning: 'The body is not what the endpoint accepts (bad JSON, not an object, a value the raw schema cannot store); `reason` says which.', action: 'Fix the sender; resending the same body fails the same way.' },
  INGEST_UNAUTHORIZED: { status: 401, retryable: false, meaning: 'The write key or the webhook signature is missing or wrong.', action: 'Check the source\'s write key or webhook secret against APP_WRITE_KEYS / SHOPIFY_WEBHOOK_SECRETS / RECHARGE_WEBHOOK_SECRETS.' },
  INGEST_ORIGIN_NOT_ALLOWED: { status: 403, retryable: false, meaning: 'A browser call came from an origin not in INGEST_CORS_ORIGINS.', action: 'Add the site\'s origin to INGEST_CORS_ORIGINS if it is ours.' },
  INGEST_NOT_FOUND: { status: 404, retryable: false, meaning: 'No endpoint at that path.', action: 'Use one of the paths listed in the README.' },
  INGEST_METHOD_NOT_ALLOWED: { status: 405, retryable: false, meaning: 'The path exists but not for that method (the `allow` header lists the right ones).', action: 'Send POST to event endpoints, GET to ops endpoints.' },
  INGEST_SLOW_BODY: { status: 408, retryable: false, meaning: 'The request body arrived slower than INGEST_MIN_BODY_BYTES_PER_S.', action: 'Nothing if rare (the source resends); if frequent, check the sources\' network or lower the limit.' },
  INGEST_PAYLOAD_TOO_LARGE: { status: 413, retryable: false, meaning: 'The body or one message exceeds INGEST_MAX_BATCH_BYTES / INGEST_MAX_CALL_BYTES / INGEST_MAX_WEBHOOK_BYTES.', action: 'Send smaller batches, or raise the limit if the source cannot.' },
  INGEST_UNSUPPORTED_ENCODING: { status: 415, retryable: false, meaning: 'The body uses a Content-Encoding ingest does not decode.', action: 'Send identity or gzip.' },
  INGEST_TOO_MANY_FROM_ADDRESS: { status: 429, retryable: true, meaning: 'One remote address has too many requests in flight, or too many failed authentications (`reason` address_blocked).', action: 'The source should honour Retry-After; check for a misconfigured or abusive sender.' },
  INGEST_INTERNAL: { status: 500, retryable: 'depends', meaning: 'An unexpected failure inside ingest; the records are not known to be on Kafka.', action: 'The source resends. Read the ingest log for the error and report it.' },
  INGEST_OVERLOADED: { status: 503, retryable: true, meaning: 'Ingest is full (in-flight budget), draining, or Kafka did not confirm the write (`reason` kafka_unavailable).', action: 'The source retries after Retry-After. If it lasts, check the broker and INGEST_MAX_INFLIGHT_*.' },
  INGEST_KAFKA_UNAVAILABLE: { retryable: true, meaning: 'Kafka did not confirm a write within INGEST_KAFKA_TIMEOUT_MS (internal; the source sees INGEST_OVERLOADED).', action: 'Check the broker; nothing is lost, the source resends.' },
  INGEST_RECORD_UNENCODABLE: { retryable: false, meaning: 'A record holds a value the raw Avro schema cannot store, e.g. a timestamp out of range (internal; the source sees INGEST_BAD_REQUEST).', action: 'Fix the sender\'s timestamp or sentAt.' },
} as const satisfies ErrorCatalog;

export type IngestErrorCode = keyof typeof INGEST_ERRORS;
export const INGEST_ERROR_CODES = Object.keys(INGEST_ERRORS) as IngestErrorCode[];

/**
 * Kafka could not confirm a write in time (or is unreachable). Retryable: the source gets a 503 with
 * Retry-After and resends, so nothing is lost.
 */
export class KafkaUnavailableError extends PipelineError {
  declare readonly code: 'INGEST_KAFKA_UNAVAILABLE';
  constructor(message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('INGEST_KAFKA_UNAVAILABLE', message, { ...opts, retryable: true });
  }
}

/**
 * A record the raw schema cannot hold (say a timestamp beyond Avro's safe long range after clock-skew
 * correction). The request's fault, not Kafka's: retrying cannot help, so it is never a 503.
 */
export class RecordEncodingError extends PipelineError {
  declare readonly code: 'INGEST_RECORD_UNENCODABLE';
  /** Position of the record among those of one write (a batch's message index). */
  readonly recordIndex: number;
  /** Schema fields whose values could not be encoded, e.g. `timestamp`. */
  readonly fields: readonly string[];

  constructor(recordIndex: number, fields: readonly string[], opts: { cause?: unknown } = {}) {
    const named = fields.length > 0 ? fields.join(', ') : 'unknown field';
    super('INGEST_RECORD_UNENCODABLE', `record ${recordIndex}: ${named} holds a value the raw schema cannot store`, { ...opts, retryable: false });
    this.recordIndex = recordIndex;
    this.fields = fields;
  }
}

/**
 * A request ingest refuses, with the HTTP status to answer and a short reason used as a metric label
 * and in the JSON error body. The message never contains secrets or body content beyond a position.
 */
export class IngestRequestError extends PipelineError {
  declare readonly code: IngestErrorCode;
  readonly status: number;
  readonly reason: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: IngestErrorCode,
    status: number,
    reason: string,
    message: string,
    opts: { retryable?: boolean; cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(code, message, { retryable: opts.retryable ?? false, cause: opts.cause });
    this.status = status;
    this.reason = reason;
    this.headers = opts.headers ?? {};
  }
}

export function badRequest(reason: string, message: string, cause?: unknown): IngestRequestError {
  return new IngestRequestError('INGEST_BAD_REQUEST', 400, reason, message, { cause });
}

export function unauthorized(reason: string, message: string): IngestRequestError {
  return new IngestRequestError('INGEST_UNAUTHORIZED', 401, reason, message);
}

export function payloadTooLarge(limit: number, what = 'request body'): IngestRequestError {
  return new IngestRequestError('INGEST_PAYLOAD_TOO_LARGE', 413, 'too_large', `${what} exceeds ${limit} bytes`);
}

/** One remote address has its share of requests in flight: it should slow down; others are unaffected. */
export function tooManyFromAddress(retryAfterS: number, reason: 'too_many_from_address' | 'address_blocked' = 'too_many_from_address'): IngestRequestError {
  const message = reason === 'address_blocked' ? 'too many failed authentications from this address; retry later' : 'too many requests in flight from this address; retry shortly';
  return new IngestRequestError('INGEST_TOO_MANY_FROM_ADDRESS', 429, reason, message, {
    retryable: true,
    headers: { 'retry-after': String(retryAfterS) },
  });
}

/** Ingest is full (in-flight budget spent) or draining: the source should retry later. */
export function overloaded(reason: string, message: string, retryAfterS: number): IngestRequestError {
  return new IngestRequestError('INGEST_OVERLOADED', 503, reason, message, {
    retryable: true,
    headers: { 'retry-after': String(retryAfterS) },
  });
}
