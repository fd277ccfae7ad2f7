import type avro from 'avsc';
import { avroType, loadAvroSchema, WIRE_HEADER_BYTES, writeWireHeader } from '@cio-pipeline/core';
import type { DeliveryReceipt } from '@cio-pipeline/core/generated/avro-types';

/**
 * The broker refuses a record over its message.max.bytes (1 MB by default): a batch is cut into
 * records of at most this. A receipt is a few KB at most (Customer.io's answer is trimmed to 2,000 chars).
 */
export const MAX_RECEIPT_RECORD_BYTES = 900_000;

/** The registry's wire-format header, the array's count (a varint, at most 10 bytes), and its end. */
const FRAME_BYTES = WIRE_HEADER_BYTES + 10 + 1;

const receiptType = (avroType(loadAvroSchema('delivery-receipt-batch')) as avro.types.RecordType)
  .field('receipts')!.type as avro.types.ArrayType;

/**
 * Receipts as DeliveryReceiptBatch record values, in order, each under `maxBytes`. Each receipt is
 * encoded once into a reused buffer and each record framed around its receipts (an Avro array is a
 * count, the items, then 0). avsc's `toBuffer` of the whole batch encodes it twice when it outgrows
 * avsc's scratch buffer and copies it again: three times the CPU, on the delivery thread.
 */
export class ReceiptBatchEncoder {
  private readonly schemaId: () => number;
  private readonly maxBytes: number;
  private scratch = Buffer.allocUnsafe(64 * 1024);

  /** `schemaId`: the id DeliveryReceiptBatch is registered under (asked per call: known after init). */
  constructor(schemaId: () => number, maxBytes = MAX_RECEIPT_RECORD_BYTES) {
    this.schemaId = schemaId;
    this.maxBytes = maxBytes;
  }

  encode(receipts: DeliveryReceipt[]): Buffer[] {
    const values: Buffer[] = [];
    const maxBody = this.maxBytes - FRAME_BYTES;
    let pos = 0;
    let count = 0;
    for (const receipt of receipts) {
      let end = receiptType.itemsType.encode(receipt, this.scratch, pos);
      // A negative end is the bytes missing: grow, and encode it again.
      while (end < 0) {
        const grown = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, this.scratch.length - end));
        this.scratch.copy(grown, 0, 0, pos);
        this.scratch = grown;
        end = receiptType.itemsType.encode(receipt, this.scratch, pos);
      }
      // Past the record limit: the receipts before it make a record; it starts the next (never split).
      if (end > maxBody && count > 0) {
        values.push(this.frame(count, pos));
        this.scratch.copyWithin(0, pos, end);
        end -= pos;
        count = 0;
      }
      pos = end;
      count++;
    }
    if (count > 0) values.push(this.frame(count, pos));
    return values;
  }

  private frame(count: number, bodyBytes: number): Buffer {
    const out = Buffer.allocUnsafe(FRAME_BYTES + bodyBytes);
    writeWireHeader(out, this.schemaId());
    let pos = writeLong(out, WIRE_HEADER_BYTES, count);
    pos += this.scratch.copy(out, pos, 0, bodyBytes);
    out[pos++] = 0;
    return out.subarray(0, pos);
  }
}

/** Avro's long: zig-zag, then base-128 varint (a count here: never negative, never past 2^53). */
function writeLong(buf: Buffer, pos: number, n: number): number {
  let z = n * 2;
  while (z >= 0x80) {
    buf[pos++] = (z % 0x80) | 0x80;
    z = Math.floor(z / 0x80);
  }
  buf[pos++] = z;
  return pos;
}
