import type { ErrorCatalog } from '@cio-pipeline/core';

/** The actions several reasons share: the data's fault, so a replay alone cannot help. */
const FIX_SENDER = 'Fix the sender; a replay quarantines it again.';
const FIX_SOURCE = 'Fix the source; nothing to replay.';

/** The raw body and where it came from. */
const RAW_BODY_REASONS = {
  unparseable_body: { retryable: false, meaning: 'The raw body is not UTF-8 JSON, or not a JSON object.', action: FIX_SOURCE },
  nesting_too_deep: { retryable: false, meaning: 'The raw body is nested deeper than 64 levels.', action: FIX_SOURCE },
  unsupported_source: { retryable: false, meaning: 'The record came from a source the normalizer has no mapping for.', action: 'Add the source mapping, then replay with --reason unsupported_source.' },
} as const satisfies ErrorCatalog;

/** The event against the tracking plan, its timestamps and Customer.io's limits. */
const PLAN_REASONS = {
  invalid_event_name: { retryable: false, meaning: 'The event has no usable name (missing, empty or not a string).', action: 'Fix the sender\'s track call.' },
  unknown_event_blocked: { retryable: false, meaning: 'The event is not in the tracking plan and the plan blocks unplanned events.', action: 'Add the event to schemas/tracking-plan.yaml, then replay with --reason unknown_event_blocked.' },
  missing_identifier: { retryable: false, meaning: 'The event carries no identifier identity resolution can use.', action: 'Fix the sender so it sends userId, anonymousId or an email.' },
  missing_required_property: { retryable: false, meaning: 'A tier 1 event lacks a property the tracking plan requires.', action: 'Fix the sender, or relax the plan and replay with --reason missing_required_property.' },
  invalid_type: { retryable: false, meaning: 'A tier 1 property has a value that cannot be coerced to its planned type.', action: 'Fix the sender, or change the planned type and replay with --reason invalid_type.' },
  unknown_currency: { retryable: false, meaning: 'A money property names a currency that is not an ISO 4217 code.', action: 'Fix the sender\'s currency field.' },
  timestamp_in_future: { retryable: false, meaning: 'The event claims a time later than its receipt plus NORMALIZER_FUTURE_TOLERANCE_MS.', action: 'Check the sender\'s clock (or sentAt); raise the tolerance if the skew is legitimate.' },
  timestamp_too_old: { retryable: false, meaning: 'The event claims a time before NORMALIZER_TIMESTAMP_FLOOR (a broken clock or a unit mistake).', action: 'Check the sender sends milliseconds or ISO times.' },
  cio_limit_exceeded: { retryable: false, meaning: 'An id, event name, attribute or the event data exceeds a Customer.io Track API limit.', action: 'Shorten the field at the sender; Customer.io would reject it.' },
} as const satisfies ErrorCatalog;

/** The raw record's Avro encoding. */
const ENCODING_REASONS = {
  unknown_schema: { retryable: false, meaning: 'The raw record names a writer schema id the registry does not know (SERDE_UNKNOWN_SCHEMA).', action: 'The record was written against another registry; re-register the schema, then replay.' },
  incompatible_schema: { retryable: false, meaning: 'The raw record\'s writer schema cannot be read as the raw schema (SERDE_INCOMPATIBLE).', action: 'Revert the incompatible schema change, then replay with --reason incompatible_schema.' },
  corrupt_record: { retryable: false, meaning: 'The raw record is not in the registry wire format or does not decode (SERDE_CORRUPT).', action: 'Find the producer that wrote it; nothing to replay.' },
} as const satisfies ErrorCatalog;

/** Messages ingest stored as rejected inside a batch it answered 200 (ingest segment.ts). */
const BATCH_MEMBER_REASONS = {
  not_an_object: { retryable: false, meaning: 'A member of a Segment batch is not a JSON object; ingest stored it marked, the rest of the batch went on.', action: FIX_SENDER },
  unknown_call_type: { retryable: false, meaning: 'A member of a Segment batch has a type other than track, identify, page, screen, group or alias.', action: FIX_SENDER },
  message_too_large: { retryable: false, meaning: 'A member of a Segment batch is larger than the per-message limit (32 KB).', action: 'Send smaller messages; a replay quarantines it again.' },
  processing_error: { retryable: false, meaning: 'Mapping the record threw an unexpected error; the message holds it.', action: 'Report it with the quarantine record; replay with --reason processing_error after the fix.' },
} as const satisfies ErrorCatalog;

/**
 * Every reason code a quarantine record can carry (`reasons[].code` on the normalizer's
 * quarantine topic, and the `reason` label of normalizer_quarantined_total). A closed list:
 * `replay-quarantine --reason` and docs/errors.md use it.
 * The groups above, in the order docs/errors.md lists them.
 */
export const QUARANTINE_REASONS = { ...RAW_BODY_REASONS, ...PLAN_REASONS, ...ENCODING_REASONS, ...BATCH_MEMBER_REASONS } as const satisfies ErrorCatalog;

export type QuarantineReasonCode = keyof typeof QUARANTINE_REASONS;
export const QUARANTINE_REASON_CODES = Object.keys(QUARANTINE_REASONS) as QuarantineReasonCode[];

export function isQuarantineReasonCode(code: string): code is QuarantineReasonCode {
  return Object.hasOwn(QUARANTINE_REASONS, code);
}
