import { PipelineError } from '@cio-pipeline/core';

/**
 * Kafka could not confirm a write in time (or is unreachable). Retryable: the source gets a 503 with
 * Retry-After and resends, so nothing is lost.
 */
export class KafkaUnavailableError extends PipelineError {
  constructor(message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('INGEST_KAFKA_UNAVAILABLE', message, { ...opts, retryable: true });
  }
}

/**
 * A record the raw schema cannot hold (say a timestamp beyond Avro's safe long range after clock-skew
 * correction). The request's fault, not Kafka's: retrying cannot help, so it is never a 503.
 */
export class RecordEncodingError extends PipelineError {
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
  readonly status: number;
  readonly reason: string;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: string,
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
