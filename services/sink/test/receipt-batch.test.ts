import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { loadAvroSchema } from '@cio-pipeline/core';
import type { DeliveryReceipt, DeliveryReceiptBatch } from '@cio-pipeline/core/generated/avro-types';
import { encodeReceiptBatches } from '../src/receipt-batch.ts';

const batchType = avro.Type.forSchema(loadAvroSchema('delivery-receipt-batch') as avro.Schema);
const encode = (b: DeliveryReceiptBatch): Buffer => batchType.toBuffer(b);
const decode = (v: Buffer): DeliveryReceiptBatch => batchType.fromBuffer(v) as DeliveryReceiptBatch;

function receipt(i: number, answer: string | null = null): DeliveryReceipt {
  return {
    answered_at: 1_764_000_000_000 + i, event_id: `ev-${i}`, event_name: 'order_completed', customer_key: `c-${i % 7}`,
    order_id: i % 2 === 0 ? `o-${i}` : null, occurred_at: null, outcome: answer ? 'rejected' : 'delivered',
    status: answer ? 400 : 200, answer, attempts: 1, source_topic: 'events.canonical', source_partition: i % 3, source_offset: String(i),
  };
}

describe('receipt batches', () => {
  it('carry exactly the fields of a single receipt, so readers treat both topics alike', () => {
    const item = (loadAvroSchema('delivery-receipt-batch') as { fields: Array<{ type: { items: { fields: unknown[] } } }> }).fields[0]!.type.items;
    expect(item.fields).toEqual((loadAvroSchema('delivery-receipt') as { fields: unknown[] }).fields);
  });

  it('one write is one record when it fits, in order', () => {
    const receipts = Array.from({ length: 1_000 }, (_, i) => receipt(i));
    const values = encodeReceiptBatches(encode, receipts);
    expect(values).toHaveLength(1);
    expect(decode(values[0]!).receipts).toEqual(receipts);
  });

  it('a write over the record limit is split, in order, each part under the limit', () => {
    const receipts = Array.from({ length: 300 }, (_, i) => receipt(i, 'x'.repeat(2_000)));
    const values = encodeReceiptBatches(encode, receipts, 100_000);
    expect(values.length).toBeGreaterThan(6);
    for (const v of values) expect(v.length).toBeLessThanOrEqual(100_000);
    expect(values.flatMap((v) => decode(v).receipts)).toEqual(receipts);
  });

  it('never splits a single receipt, even over the limit', () => {
    const values = encodeReceiptBatches(encode, [receipt(1, 'y'.repeat(2_000))], 100);
    expect(values).toHaveLength(1);
    expect(decode(values[0]!).receipts).toHaveLength(1);
  });
});
