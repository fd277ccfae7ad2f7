/** How a transaction's records are cut into sends (kafka/send-slices.ts). */
import { describe, expect, it } from 'vitest';
import { sendSlices } from '../src/kafka/send-slices.ts';

const msg = (topic: string, i: number, bytes = 100): { key: string; value: Buffer } => ({ key: `${topic}-${i}`, value: Buffer.alloc(bytes) });

describe('sendSlices: a transaction\'s records in sends the broker and KafkaJS take', () => {
  const input = [
    { topic: 'canonical', messages: Array.from({ length: 50 }, (_, i) => msg('canonical', i, 1_000)) },
    { topic: 'changelog', messages: Array.from({ length: 300 }, (_, i) => msg('changelog', i, 10)) },
  ];

  it('keeps every record once, in order, each slice under the byte and record bounds', () => {
    const slices = sendSlices(input, 20_000, 100);
    const flat = slices.flatMap((s) => s.flatMap((t) => t.messages.map((m) => m.key)));
    expect(flat).toEqual(input.flatMap((t) => t.messages.map((m) => m.key)));
    for (const slice of slices) {
      const records = slice.flatMap((t) => t.messages);
      expect(records.length).toBeLessThanOrEqual(100);
      expect(records.reduce((n, m) => n + String(m.key).length + (m.value as Buffer).length + 64, 0)).toBeLessThanOrEqual(20_000);
      expect(new Set(slice.map((t) => t.topic)).size).toBe(slice.length); // one entry per topic in a send
    }
    expect(slices.length).toBeGreaterThan(3);
  });

  it('sends a record larger than the byte bound on its own, and nothing when there is nothing', () => {
    const slices = sendSlices([{ topic: 't', messages: [msg('t', 0, 10), msg('t', 1, 50_000), msg('t', 2, 10)] }], 20_000);
    expect(slices.map((s) => s.flatMap((t) => t.messages.map((m) => m.key)))).toEqual([['t-0'], ['t-1'], ['t-2']]);
    expect(sendSlices([], 20_000)).toEqual([]);
  });
});
