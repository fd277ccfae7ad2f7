/** How a transaction's records are cut into sends (kafka/send-slices.ts). */
import type { Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { MAX_SEND_BYTES, MAX_TOPIC_BYTES_PER_SEND, sendSlices } from '../src/kafka/send-slices.ts';

const msg = (topic: string, i: number, bytes = 100): { key: string; value: Buffer } => ({ key: `${topic}-${i}`, value: Buffer.alloc(bytes) });
const size = (m: { key: string; value: Buffer }): number => m.key.length + m.value.length + 64;
type Slices = ReturnType<typeof sendSlices>;
const keys = (slices: Slices): string[] => slices.flatMap((s) => s.flatMap((t) => t.messages.map((m) => String(m.key))));
const bytesOf = (messages: readonly Message[]): number => messages.reduce((n, m) => n + size(m as { key: string; value: Buffer }), 0);

describe('sendSlices: a transaction\'s records in sends the broker takes', () => {
  const input = [
    { topic: 'canonical', messages: Array.from({ length: 50 }, (_, i) => msg('canonical', i, 1_000)) },
    { topic: 'audit', messages: Array.from({ length: 40 }, (_, i) => msg('audit', i, 900)) },
    { topic: 'changelog', messages: Array.from({ length: 300 }, (_, i) => msg('changelog', i, 10)) },
  ];
  const limits = { topicBytes: 20_000, sendBytes: 50_000 };

  it('keeps every record once, in order, each topic\'s share of a send and each send under their bounds', () => {
    const slices = sendSlices(input, limits);
    expect(keys(slices)).toEqual(input.flatMap((t) => t.messages.map((m) => m.key)));
    for (const slice of slices) {
      expect(new Set(slice.map((t) => t.topic)).size).toBe(slice.length); // one entry per topic in a send
      for (const t of slice) expect(bytesOf(t.messages)).toBeLessThanOrEqual(limits.topicBytes);
      expect(bytesOf(slice.flatMap((t) => t.messages))).toBeLessThanOrEqual(limits.sendBytes);
    }
    expect(slices.length).toBeGreaterThan(3);
  });

  it('puts different topics in one send as long as each stays under its own bound', () => {
    // Each topic is under the per-topic bound; together they pass it: one round trip, not three.
    const under = [
      { topic: 'a', messages: Array.from({ length: 15 }, (_, i) => msg('a', i, 1_000)) },
      { topic: 'b', messages: Array.from({ length: 15 }, (_, i) => msg('b', i, 1_000)) },
      { topic: 'c', messages: Array.from({ length: 15 }, (_, i) => msg('c', i, 1_000)) },
    ];
    expect(bytesOf(under.flatMap((t) => t.messages))).toBeGreaterThan(limits.topicBytes * 2);
    expect(sendSlices(under, limits)).toHaveLength(1);
  });

  it('sends a record larger than the bounds on its own, and nothing when there is nothing', () => {
    const slices = sendSlices([{ topic: 't', messages: [msg('t', 0, 10), msg('t', 1, 60_000), msg('t', 2, 10)] }], limits);
    expect(slices.map((s) => keys([s]))).toEqual([['t-0'], ['t-1'], ['t-2']]);
    expect(sendSlices([], limits)).toEqual([]);
  });

  it('by default keeps a topic\'s share of a send under the broker\'s 1 MB record batch', () => {
    expect(MAX_TOPIC_BYTES_PER_SEND).toBeLessThan(1024 * 1024);
    const big = [{ topic: 'one-partition', messages: Array.from({ length: 3_000 }, (_, i) => msg('one-partition', i, 1_000)) }];
    const slices = sendSlices(big);
    for (const s of slices) expect(bytesOf(s[0]!.messages)).toBeLessThanOrEqual(MAX_TOPIC_BYTES_PER_SEND);
    expect(slices.length).toBeGreaterThan(3);
    expect(MAX_SEND_BYTES).toBeGreaterThan(MAX_TOPIC_BYTES_PER_SEND);
  });
});
