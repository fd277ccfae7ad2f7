import type { DeliveryReceipt, DeliveryReceiptBatch } from '@cio-pipeline/core/generated/avro-types';

/**
 * The broker refuses a record over its message.max.bytes (1 MB by default): a batch encoded over
 * this is split. A receipt is a few KB at most (Customer.io's answer is trimmed to 2,000 chars).
 */
export const MAX_RECEIPT_RECORD_BYTES = 900_000;

/**
 * One write's receipts as sink.receipt-batches records: one record when it fits under `maxBytes`,
 * else halves, recursively, in order. A single receipt is never split.
 */
export function encodeReceiptBatches(encode: (batch: DeliveryReceiptBatch) => Buffer, receipts: DeliveryReceipt[], maxBytes = MAX_RECEIPT_RECORD_BYTES): Buffer[] {
  const value = encode({ receipts });
  if (value.length <= maxBytes || receipts.length <= 1) return [value];
  const half = Math.ceil(receipts.length / 2);
  return [...encodeReceiptBatches(encode, receipts.slice(0, half), maxBytes), ...encodeReceiptBatches(encode, receipts.slice(half), maxBytes)];
}
