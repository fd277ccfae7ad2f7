import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
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

describe('KafkaJS produce-path fixes (scripts/patch-kafkajs.ts)', () => {
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
