import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { loadAvroSchema } from '@cio-pipeline/core';
import type { DeliveryReceipt, DeliveryReceiptBatch } from '@cio-pipeline/core/generated/avro-types';
import { ReceiptBatchEncoder } from '../src/receipt-batch.ts';

const batchType = avro.Type.forSchema(loadAvroSchema('delivery-receipt-batch') as avro.Schema);
/** As a reader does: the wire format's magic byte and schema id, then the body, decoded by avsc. */
function decode(v: Buffer): DeliveryReceiptBatch {
  expect(v[0]).toBe(0);
  expect(v.readInt32BE(1)).toBe(42);
  return batchType.fromBuffer(v.subarray(5)) as DeliveryReceiptBatch;
}
const encoder = (maxBytes?: number) => new ReceiptBatchEncoder(() => 42, maxBytes);

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
    const values = encoder().encode(receipts);
    expect(values).toHaveLength(1);
    expect(decode(values[0]!).receipts).toEqual(receipts);
    // Byte for byte what avsc writes for the whole batch.
    expect(values[0]!.subarray(5)).toEqual(batchType.toBuffer({ receipts }));
  });

  it('a write over the record limit is split, in order, each part under the limit', () => {
    const receipts = Array.from({ length: 300 }, (_, i) => receipt(i, 'x'.repeat(2_000)));
    const values = encoder(100_000).encode(receipts);
    expect(values.length).toBeGreaterThan(6);
    for (const v of values) expect(v.length).toBeLessThanOrEqual(100_000);
    expect(values.flatMap((v) => decode(v).receipts)).toEqual(receipts);
  });

  it('never splits a single receipt, even over the limit', () => {
    const receipts = [receipt(1, 'y'.repeat(2_000)), receipt(2, 'z'.repeat(2_000))];
    const values = encoder(100).encode(receipts);
    expect(values.map((v) => decode(v).receipts)).toEqual([[receipts[0]], [receipts[1]]]);
  });

  it('a receipt larger than its scratch buffer grows it, and the encoder stays reusable', () => {
    const e = encoder(2_000_000);
    const big = Array.from({ length: 40 }, (_, i) => receipt(i, `é${'x'.repeat(1_999)}`)); // > 64 KB in all
    expect(decode(e.encode(big)[0]!).receipts).toEqual(big);
    const small = [receipt(7)];
    expect(decode(e.encode(small)[0]!).receipts).toEqual(small);
    expect(e.encode([])).toEqual([]);
  });
});
