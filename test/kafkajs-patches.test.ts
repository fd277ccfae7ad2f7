import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { kafkajsRoot, patchKafkajs } from '../scripts/patch-kafkajs.ts';

const require = createRequire(import.meta.url);
const root = kafkajsRoot();
interface EncoderInstance {
  writeVarInt(v: number): EncoderInstance;
  writeVarLong(v: number): EncoderInstance;
  buffer: Buffer;
}
const Encoder = require(join(root, 'src/protocol/encoder.js')) as { new (): EncoderInstance; sizeOfVarLong(v: number): number };
const murmur2 = require(join(root, 'src/producer/partitioners/default/murmur2.js')) as (key: string | Buffer) => number;
const groupMessagesPerPartition = require(join(root, 'src/producer/groupMessagesPerPartition.js')) as (
  args: { topic: string; partitionMetadata: unknown[]; messages: Array<{ key: string; partition?: number }>; partitioner: unknown },
) => Record<string, Array<{ key: string }>>;

interface Message { key: string | Buffer | null; value: string | Buffer | null; headers?: Record<string, string | Buffer | Array<string | Buffer>>; timestamp?: number }
const crc32C = require(join(root, 'src/protocol/recordBatch/crc32C')) as (buffer: Buffer) => number;
const produceRequest = require(join(root, 'src/protocol/requests/produce/v3/request.js')) as (args: {
  acks: number; timeout: number; transactionalId: string | null; producerId: unknown; producerEpoch: number; compression: number;
  topicData: Array<{ topic: string; partitions: Array<{ partition: number; firstSequence: number; messages: Message[] }> }>;
}) => { encode(): Promise<{ buffer: Buffer }> };
const Record = require(join(root, 'src/protocol/recordBatch/record/v0')) as (args: object) => EncoderInstance;
const { RecordBatch } = require(join(root, 'src/protocol/recordBatch/v0')) as { RecordBatch(args: object): Promise<EncoderInstance & { size(): number }> };
const filterAbortedMessages = require(join(root, 'src/consumer/filterAbortedMessages.js')) as <M extends { offset: string; isControlRecord: boolean }>(
  args: { messages: M[]; abortedTransactions: Array<{ producerId: string; firstOffset: string }> },
) => M[];
const Long = require(join(root, 'src/utils/long.js')) as { fromInt(v: number): unknown; fromValue(v: unknown): unknown };
const Decoder = require(join(root, 'src/protocol/decoder.js')) as new (buffer: Buffer) => { readVarIntBytes(): Buffer };
const decodeRecord = require(join(root, 'src/protocol/recordBatch/record/v0/decoder.js')) as (
  decoder: unknown, context: object,
) => { offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | Buffer[]> };

/** CRC-32C one byte at a time from its reflected polynomial: the checksum the broker verifies. */
function referenceCrc32C(buffer: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buffer) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A produce request's bytes for one partition, built the way unpatched KafkaJS did: a Record encoder per message, then RecordBatch. */
async function referenceProduceRequest(topic: string, partition: number, messages: Message[], transactionalId: string | null, now: number): Promise<Buffer> {
  const stamps = messages.map((m) => m.timestamp).filter((t) => t != null).sort();
  const timestamps = stamps.length === 0 ? [now] : stamps;
  const firstTimestamp = timestamps[0]!;
  const records = messages.map((message, i) => Record({ ...message, offsetDelta: i, timestampDelta: (message.timestamp || now) - firstTimestamp }));
  const batch = await RecordBatch({
    compression: 0, records, firstTimestamp, maxTimestamp: timestamps[timestamps.length - 1], producerId: Long.fromValue(7001), producerEpoch: 3,
    firstSequence: 11, transactional: transactionalId !== null, lastOffsetDelta: records.length - 1,
  });
  const entry = new (require(join(root, 'src/protocol/encoder.js')) as new () => EncoderInstance & { writeInt32(v: number): EncoderInstance & { writeInt32(v: number): { writeEncoder(e: unknown): EncoderInstance } } })()
    .writeInt32(partition).writeInt32(batch.size()).writeEncoder(batch);
  const topicEntry = new (require(join(root, 'src/protocol/encoder.js')) as new () => { writeString(s: string): { writeArray(a: unknown[]): EncoderInstance } })()
    .writeString(topic).writeArray([entry]);
  return new (require(join(root, 'src/protocol/encoder.js')) as new () => { writeString(s: string | null): { writeInt16(v: number): { writeInt32(v: number): { writeArray(a: unknown[]): EncoderInstance } } } })()
    .writeString(transactionalId).writeInt16(-1).writeInt32(30000).writeArray([topicEntry]).buffer;
}

/** Kafka's zigzag varint (Utils.writeVarlong), in BigInt: the bytes the broker expects. */
function zigzagVarint(value: number): Buffer {
  let z = BigInt.asUintN(64, (BigInt(value) << 1n) ^ (BigInt(value) >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}

describe('KafkaJS fixes (scripts/patch-kafkajs.ts)', () => {
  it('are all in place in node_modules', () => {
    expect(patchKafkajs(root, true).missing).toEqual([]);
  });

  it('hash keys as the Java client does (its murmur2 test vectors)', () => {
    const vectors: Array<[string, number]> = [
      ['21', -973932308], ['foobar', -790332482], ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829], ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971], ['abc', 479470107],
    ];
    for (const [key, hash] of vectors) {
      expect(murmur2(key), key).toBe(hash);
      expect(murmur2(Buffer.from(key)), key).toBe(hash);
    }
    // The partitioner keeps Kafka's mapping: positive hash modulo the partition count.
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0 }));
    for (const [key, hash] of vectors) {
      expect(partitioner({ topic: 't', partitionMetadata, message: { key, value: null } })).toBe((hash & 0x7fffffff) % 3);
    }
    expect(partitioner({ topic: 't', partitionMetadata, message: { key: 'x', value: null, partition: 2 } })).toBe(2);
  });

  it('write varints and varlongs byte for byte as Kafka encodes them', () => {
    const values = [0, 1, -1, 63, 64, -64, -65, 127, 128, 300, -300, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 52 - 1, -(2 ** 52) + 1, 2 ** 52, -(2 ** 52), 2 ** 53 - 1, -(2 ** 53 - 1), 1_764_700_000_000, -1_764_700_000_000];
    for (let bits = 1; bits <= 53; bits++) values.push(Math.floor(Math.random() * 2 ** bits), -Math.floor(Math.random() * 2 ** bits));
    for (const v of values) {
      expect(new Encoder().writeVarLong(v).buffer, `varlong ${v}`).toEqual(zigzagVarint(v));
      expect(Encoder.sizeOfVarLong(v), `size ${v}`).toBe(zigzagVarint(v).length);
      if (v >= -(2 ** 31) && v < 2 ** 31) expect(new Encoder().writeVarInt(v).buffer, `varint ${v}`).toEqual(zigzagVarint(v));
    }
    // Several in a row land one after another in the same buffer.
    const e = new Encoder().writeVarInt(300).writeVarLong(-1).writeVarInt(1);
    expect(e.buffer).toEqual(Buffer.concat([zigzagVarint(300), zigzagVarint(-1), zigzagVarint(1)]));
  });

  it('group messages per partition in their order', () => {
    const partitionMetadata = [0, 1].map((partitionId) => ({ partitionId, leader: 1 }));
    const messages = Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, partition: i % 2 }));
    const grouped = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner: Partitioners.DefaultPartitioner() });
    expect(grouped['0']!.map((m) => m.key)).toEqual(['k0', 'k2', 'k4', 'k6', 'k8']);
    expect(grouped['1']!.map((m) => m.key)).toEqual(['k1', 'k3', 'k5', 'k7', 'k9']);
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('checksum batches with CRC-32C, eight bytes at a time, as one byte at a time does', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32C(Buffer.alloc(0))).toBe(0);
    for (let length = 0; length < 80; length++) {
      const buffer = Buffer.from(Array.from({ length }, () => Math.floor(Math.random() * 256)));
      expect(crc32C(buffer), `length ${length}`).toBe(referenceCrc32C(buffer));
    }
    const large = Buffer.from(Array.from({ length: 100_003 }, (_, i) => (i * 2654435761) >>> 24));
    expect(crc32C(large)).toBe(referenceCrc32C(large));
    expect(crc32C(large.subarray(5, 9_000))).toBe(referenceCrc32C(large.subarray(5, 9_000)));
  });

  it('encode a produce request byte for byte as a Record encoder per message did', async () => {
    const now = 1_764_700_000_123;
    vi.spyOn(Date, 'now').mockReturnValue(now);
    const text = (n: number) => 'é🙂x'.repeat(n);
    const cases: Array<{ name: string; messages: Message[]; transactionalId: string | null }> = [
      { name: 'one small record', messages: [{ key: 'k', value: Buffer.from('v') }], transactionalId: 'tx-1' },
      { name: 'null key and value, string values', messages: [{ key: null, value: null }, { key: text(3), value: text(50) }], transactionalId: null },
      {
        name: 'headers, arrays of header values, timestamps',
        messages: [
          { key: 'a', value: Buffer.alloc(3000, 7), headers: { writer: 'instance-1', trace: ['t1', Buffer.from('t2')] }, timestamp: now - 5000 },
          { key: Buffer.from('b'), value: text(400), headers: {}, timestamp: now },
          { key: 'c', value: Buffer.alloc(0), timestamp: now - 7000 },
        ],
        transactionalId: 'tx-2',
      },
      {
        name: 'many records of varied size (varint lengths of 1 to 3 bytes)',
        messages: Array.from({ length: 700 }, (_, i) => ({ key: `customer-${i}`, value: Buffer.alloc((i * 37) % 20_000, i % 256), headers: i % 3 === 0 ? { writer: `w${i}` } : undefined })),
        transactionalId: 'tx-3',
      },
    ];
    for (const { name, messages, transactionalId } of cases) {
      const request = produceRequest({
        acks: -1, timeout: 30000, transactionalId, producerId: Long.fromValue(7001), producerEpoch: 3, compression: 0,
        topicData: [{ topic: 'events.canonical', partitions: [{ partition: 2, firstSequence: 11, messages }] }],
      });
      const patched = (await request.encode()).buffer;
      expect(patched.equals(await referenceProduceRequest('events.canonical', 2, messages, transactionalId, now)), name).toBe(true);
    }
  });

  it('decode record offsets and timestamps as Long did, small ones without it', () => {
    const record = Record({ key: 'k', value: Buffer.from('v'), offsetDelta: 41, timestampDelta: 2500, headers: { writer: ['a', 'b'] } });
    const body = () => new Decoder(record.buffer).readVarIntBytes();
    const bases = ['0', '999999999999999', '1764700000000', '1000000000000000', '9223372036854775000', '-1'];
    for (const base of bases) {
      const decoded = decodeRecord(new Decoder(body()), { firstOffset: base, firstTimestamp: base, magicByte: 2 });
      expect(decoded.offset, base).toBe(String(BigInt(base) + 41n));
      expect(decoded.timestamp, base).toBe(String(BigInt(base) + 2500n));
      expect(decoded.headers.writer).toEqual([Buffer.from('a'), Buffer.from('b')]);
    }
  });

  it('decode timestamp deltas of every length and any headers as they were encoded, short varlongs without Long', () => {
    const deltas = [0, 1, -1, 63, -64, 64, 2 ** 20, -(2 ** 20), 2 ** 48 - 1, -(2 ** 48), 2 ** 48, 2 ** 50 + 3, -(2 ** 52)];
    for (const delta of deltas) {
      const record = Record({ key: 'k', value: 'v', offsetDelta: 0, timestampDelta: delta, headers: {} });
      const decoded = decodeRecord(new Decoder(new Decoder(record.buffer).readVarIntBytes()), { firstOffset: '0', firstTimestamp: '1764700000000', magicByte: 2 });
      expect(decoded.timestamp, String(delta)).toBe(String(1764700000000n + BigInt(delta)));
      expect(decoded.headers).toEqual({});
    }
    const headers: Record<string, string | string[]> = { writer: ['a', 'b', 'c'], one: 'x', constructor: 'c' };
    Object.defineProperty(headers, '__proto__', { value: 'p', enumerable: true });
    const record = Record({ key: null, value: null, offsetDelta: 0, timestampDelta: 0, headers });
    const decoded = decodeRecord(new Decoder(new Decoder(record.buffer).readVarIntBytes()), { firstOffset: '0', firstTimestamp: '0', magicByte: 2 });
    expect(decoded.key).toBeNull();
    expect(decoded.value).toBeNull();
    expect(decoded.headers.writer).toEqual([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]);
    expect(decoded.headers['one']).toEqual(Buffer.from('x'));
    expect(decoded.headers['constructor']).toEqual(Buffer.from('c'));
    // An own property, not the object's prototype.
    expect(Object.getPrototypeOf(decoded.headers)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(decoded.headers, '__proto__')?.value).toEqual(Buffer.from('p'));
  });

  it('decode every record of a batch in place, whatever their sizes', async () => {
    const recordBatchDecoder = require(join(root, 'src/protocol/recordBatch/v0/decoder.js')) as (decoder: unknown) => Promise<{ records: Array<{ offset: string; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer> }> }>;
    const messages = Array.from({ length: 300 }, (_, i) => ({
      key: i % 7 === 0 ? null : 'k'.repeat(i),
      value: i % 11 === 0 ? null : Buffer.alloc(i * 13, i % 256),
      headers: i % 3 === 0 ? {} : { writer: `w${i}` },
    }));
    const records = messages.map((m, i) => Record({ ...m, offsetDelta: i, timestampDelta: i }));
    const batch = await RecordBatch({ records, firstOffset: Long.fromValue(5000), firstTimestamp: 1_700_000_000_000, maxTimestamp: 1_700_000_000_300, lastOffsetDelta: 299 });
    const decoded = await recordBatchDecoder(new (require(join(root, 'src/protocol/decoder.js')) as new (b: Buffer) => unknown)(batch.buffer));
    expect(decoded.records).toHaveLength(300);
    decoded.records.forEach((r, i) => {
      const m = messages[i]!;
      expect(r.offset).toBe(String(5000 + i));
      expect(r.key?.toString() ?? null).toBe(m.key);
      expect(r.value).toEqual(m.value);
      expect(r.headers['writer']?.toString()).toBe((m.headers as { writer?: string }).writer);
    });
  });

  it('refuse a record that reads past its length, rather than take the next record\'s bytes for its own', async () => {
    const recordBatchDecoder = require(join(root, 'src/protocol/recordBatch/v0/decoder.js')) as (decoder: unknown) => Promise<{ records: unknown[] }>;
    const records = ['a', 'b', 'c'].map((v, i) => Record({ key: `k${i}`, value: `value-${v}`, headers: { h: 'x' }, offsetDelta: i, timestampDelta: i }));
    const batch = await RecordBatch({ records, firstOffset: Long.fromValue(0), firstTimestamp: 1, maxTimestamp: 3, lastOffsetDelta: 2 });
    const bytes = Buffer.from(batch.buffer);
    // Records start after the 61-byte batch header; each begins with its length, a one-byte zigzag varint here.
    const second = 61 + 1 + (bytes[61]! >> 1);
    bytes[second] = ((bytes[second]! >> 1) - 3) << 1;
    const decoder = new (require(join(root, 'src/protocol/decoder.js')) as new (b: Buffer) => unknown)(bytes);
    // Not KafkaJSPartialMessageError: the fetch decoder takes that for a batch cut short and stops silently.
    await expect(recordBatchDecoder(decoder)).rejects.toMatchObject({ name: 'KafkaJSNonRetriableError', message: 'record at offset 1 reads 3 bytes past its length' });
  });

  it('hide, from read_committed, every record of an aborted transaction, whatever order the broker lists them in', () => {
    // Two producers' transactions interleaved in one partition: B (producer 2) began at 5, A
    // (producer 1) at 6; A was aborted first, so the broker lists A before B. Then producer 2 commits.
    const record = (offset: number, producerId: string, key: string | null = 'k', isControlRecord = false) => ({
      offset: String(offset), key: key === null ? null : Buffer.from(key), value: null, isControlRecord, batchContext: { producerId, inTransaction: true },
    });
    const ABORT = Buffer.from([0, 0, 0, 0]).toString('latin1');
    const COMMIT = Buffer.from([0, 0, 0, 1]).toString('latin1');
    const messages = [
      record(5, '2'), record(6, '1'), record(7, '1'),
      record(8, '1', ABORT, true), record(9, '2', ABORT, true),
      record(10, '2'), record(11, '2', COMMIT, true), record(12, '1'),
    ];
    const abortedTransactions = [{ producerId: '1', firstOffset: '6' }, { producerId: '2', firstOffset: '5' }];
    const kept = filterAbortedMessages({ messages, abortedTransactions }).filter((m) => !m.isControlRecord).map((m) => m.offset);
    expect(kept).toEqual(['10', '12']);
    // One message past the start of both: each is entered.
    const late = filterAbortedMessages({ messages: messages.slice(1), abortedTransactions: [{ producerId: '2', firstOffset: '5' }, { producerId: '1', firstOffset: '6' }] });
    expect(late.filter((m) => !m.isControlRecord).map((m) => m.offset)).toEqual(['10', '12']);
  });

  it('keep a fetched batch\'s messages from the fetched offset on, control records out, as the Long comparison did', () => {
    type Msg = { offset: string; key: Buffer; value: null; isControlRecord: boolean; batchContext: { producerId: string; inTransaction: boolean } };
    const Batch = require(join(root, 'src/consumer/batch.js')) as new (topic: string, fetchedOffset: string, data: object) => {
      messages: Msg[]; messagesWithinOffset: Msg[]; firstOffset(): string | null; lastOffset(): string;
    };
    const m = (offset: bigint | number, isControlRecord = false): Msg => ({ offset: String(offset), key: Buffer.from('k'), value: null, isControlRecord, batchContext: { producerId: '1', inTransaction: false } });
    const batch = (fetched: bigint | number, messages: Msg[]) => new Batch('t', String(fetched), { partition: 0, highWatermark: '0', messages, abortedTransactions: [] });
    // A compressed batch's first records below the fetched offset, across a digit boundary.
    const b = batch(9, [m(7), m(8), m(9), m(10), m(11, true), m(12)]);
    expect(b.messagesWithinOffset.map((x) => x.offset)).toEqual(['9', '10', '11', '12']);
    expect(b.messages.map((x) => x.offset)).toEqual(['9', '10', '12']);
    expect([b.firstOffset(), b.lastOffset()]).toEqual(['9', '12']);
    // Nothing left out: the fetched array itself, not a copy.
    const all = [m(100), m(101)];
    expect(batch(99, all).messages).toBe(all);
    // Any offsets, up to Kafka's largest: the same messages as BigInt comparisons keep.
    const offsets = [0n, 1n, 9n, 10n, 99n, 100n, 123456789n, 9007199254740993n, 10000000000000000n, 9223372036854775806n];
    for (const fetched of offsets) {
      const messages = offsets.map((o, i) => m(o, i % 4 === 3));
      const got = batch(fetched, messages);
      expect(got.messagesWithinOffset.map((x) => x.offset)).toEqual(offsets.filter((o) => o >= fetched).map(String));
      expect(got.messages.map((x) => x.offset)).toEqual(offsets.filter((o, i) => o >= fetched && i % 4 !== 3).map(String));
    }
  });

  it('decode a batch whose first record names the skipped writer as one stand-in at its last offset, and any other batch whole', async () => {
    const recordBatchDecoder = require(join(root, 'src/protocol/recordBatch/v0/decoder.js')) as (
      decoder: unknown, skip?: object,
    ) => Promise<{ records: Array<{ offset: string; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer>; skippedRecords?: number }> }>;
    const FullDecoder = require(join(root, 'src/protocol/decoder.js')) as new (buffer: Buffer) => unknown;
    const batchOf = async (writer: string, count: number, compression: number): Promise<Buffer> => {
      const records = Array.from({ length: count }, (_, i) => Record({ key: `k${i}`, value: `v${i}`, headers: { writer }, offsetDelta: i, timestampDelta: i }));
      const batch = await RecordBatch({
        compression, records, firstOffset: Long.fromValue(1000), firstTimestamp: 1_700_000_000_000, maxTimestamp: 1_700_000_000_000 + count,
        producerId: Long.fromValue(7001), producerEpoch: 1, transactional: true, lastOffsetDelta: count - 1,
      });
      return batch.buffer;
    };
    const skip = { header: 'writer', value: Buffer.from('me'), active: true };
    for (const compression of [0, 1]) { // none, gzip
      const own = await recordBatchDecoder(new FullDecoder(await batchOf('me', 5, compression)), skip);
      expect(own.records).toHaveLength(1);
      expect(own.records[0]).toMatchObject({ offset: '1004', key: null, value: null, headers: {}, skippedRecords: 5 });

      const other = await recordBatchDecoder(new FullDecoder(await batchOf('other', 5, compression)), skip);
      expect(other.records.map((r) => [r.offset, r.key?.toString(), r.headers.writer?.toString()])).toEqual(
        [0, 1, 2, 3, 4].map((i) => [String(1000 + i), `k${i}`, 'other']));

      // Inactive, or not given: every record, as upstream decodes them.
      for (const s of [{ ...skip, active: false }, undefined]) {
        const whole = await recordBatchDecoder(new FullDecoder(await batchOf('me', 5, compression)), s);
        expect(whole.records.map((r) => r.key?.toString())).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
      }
    }
  });

  it('refuse another KafkaJS version, and a file that is neither the original nor patched', () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'kafkajs-patch-'));
    try {
      cpSync(root, dir, { recursive: true });
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ version: '2.3.0' }));
      expect(() => patchKafkajs(dir)).toThrow(expect.objectContaining({ code: 'KAFKAJS_PATCH_FAILED', message: expect.stringContaining('kafkajs 2.3.0 installed') }));
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ version: '2.2.4' }));
      writeFileSync(join(dir, 'src/protocol/encoder.js'), 'module.exports = class Encoder {}\n');
      expect(() => patchKafkajs(dir)).toThrow(expect.objectContaining({ code: 'KAFKAJS_PATCH_FAILED', message: expect.stringContaining('src/protocol/encoder.js') }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
