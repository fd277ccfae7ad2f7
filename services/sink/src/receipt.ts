import type { DeliveryReceipt } from '@cio-pipeline/core/generated/avro-types';
import type { FinalAnswer, SinkRecord } from './key-ordered-dispatcher.ts';

/** The sink.receipts record for one finished event: Customer.io's final answer and where it came from. */
export function toReceipt(record: SinkRecord, answer: FinalAnswer, sourceTopic: string, now = Date.now()): DeliveryReceipt {
  const { event } = record;
  return {
    answered_at: now,
    event_id: event.event_id,
    event_name: event.name,
    customer_key: record.key,
    order_id: event.commerce?.order_id ?? null,
    occurred_at: event.occurred_at,
    outcome: answer.outcome,
    status: answer.status,
    answer: answer.answer,
    attempts: answer.attempts,
    source_topic: record.topic ?? sourceTopic,
    source_partition: record.partition,
    source_offset: String(record.offset),
  };
}
