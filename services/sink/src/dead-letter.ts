import type { DeadLetter } from '@cio-pipeline/core/generated/avro-types';
import type { DeadLetterInfo, SinkRecord } from './key-ordered-dispatcher.ts';

/** The sink.dlq record for one event the dispatcher gave up on (rejected or parked). */
export function toDeadLetter(record: SinkRecord, info: DeadLetterInfo, sourceTopic: string, now = Date.now()): DeadLetter {
  return {
    dead_lettered_at: now,
    reason: info.reason,
    event_id: record.event.event_id,
    event_name: record.event.name,
    customer_key: record.key,
    status: info.status,
    error: info.error,
    request_item: info.requestItem,
    attempts: info.attempts,
    first_attempt_at: info.firstAttemptAt,
    source_topic: record.topic ?? sourceTopic,
    source_partition: record.partition,
    source_offset: String(record.offset),
    original: record.raw,
  };
}
