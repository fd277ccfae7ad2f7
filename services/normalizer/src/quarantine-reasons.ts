/**
 * The closed list of quarantine reason codes: every code a quarantine record can carry, whichever
 * stage wrote it. `replay-quarantine --reason` accepts only these; a test checks that each code the
 * stages use is listed here.
 */
export const QUARANTINE_REASON_CODES = [
  // Stages (validate.ts REASON)
  'unparseable_body',
  'nesting_too_deep',
  'invalid_event_name',
  'unknown_event_blocked',
  'missing_identifier',
  'missing_required_property',
  'invalid_type',
  'unknown_currency',
  'timestamp_in_future',
  'timestamp_too_old',
  'cio_limit_exceeded',
  'unsupported_source',
  // Decoding the raw record (raw-decoder.ts decodeReason)
  'unknown_schema',
  'incompatible_schema',
  'corrupt_record',
  // A record the stages threw on (transactional-processor.ts)
  'processing_error',
  // Messages ingest stored as rejected inside an accepted batch (ingest segment.ts)
  'not_an_object',
  'unknown_call_type',
  'message_too_large',
] as const;

export type QuarantineReasonCode = (typeof QUARANTINE_REASON_CODES)[number];

export function isQuarantineReasonCode(code: string): code is QuarantineReasonCode {
  return (QUARANTINE_REASON_CODES as readonly string[]).includes(code);
}
