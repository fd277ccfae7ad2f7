import type { ErrorCodeDoc } from '@cio-pipeline/core';

/**
 * Every `reason` a sink.dlq record can carry (and the `reason` label of
 * sink_events_dead_lettered_total). A closed list: `sink replay --reason` and docs/errors.md use it.
 */
export const DEAD_LETTER_REASONS = {
  rejected: { retryable: false, meaning: 'Customer.io rejected the event (CIO_REJECTED) or it could not be mapped (SINK_UNMAPPABLE).', action: 'Read `error` on the record, fix the data or mapping, then `sink replay --reason rejected`.' },
  attribute_rejected: { retryable: false, meaning: 'Customer.io refused some attributes of an identify; the rest was re-sent without them. The record holds only the refused ones.', action: 'Fix the source for the next identifies. `sink replay --reason attribute_rejected` sends the refused attributes alone (worth it once Customer.io would take them, e.g. a raised limit); the rest of the profile is never sent again.' },
  parked: { retryable: true, meaning: 'The event kept failing with retryable errors for longer than SINK_PARK_AFTER_MS.', action: 'Once Customer.io is reachable again, `sink replay --reason parked`.' },
  undecodable: { retryable: false, meaning: 'The canonical record could not be decoded (SERDE_CORRUPT, SERDE_UNKNOWN_SCHEMA, SERDE_INCOMPATIBLE).', action: 'Find the producer that wrote it; replay only after the schema is fixed.' },
} as const satisfies Readonly<Record<string, ErrorCodeDoc>>;

export type DeadLetterReasonCode = keyof typeof DEAD_LETTER_REASONS;
export const DEAD_LETTER_REASON_CODES = Object.keys(DEAD_LETTER_REASONS) as DeadLetterReasonCode[];

export function isDeadLetterReasonCode(code: string): code is DeadLetterReasonCode {
  return Object.hasOwn(DEAD_LETTER_REASONS, code);
}
