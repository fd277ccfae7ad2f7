import type { Producer, ProducerRecord } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { DeadLetterProducer } from '../src/dlq-producer.ts';

/** A stand-in producer: each send fails while `failing` says so. */
function fakeProducers(failing: (generation: number) => boolean) {
  const made: Array<{ sent: ProducerRecord[]; disconnected: boolean }> = [];
  const create = (): Producer => {
    const generation = made.length + 1;
    const state = { sent: [] as ProducerRecord[], disconnected: false };
    made.push(state);
    return {
      connect: async () => undefined,
      disconnect: async () => {
        state.disconnected = true;
      },
      send: async (r: ProducerRecord) => {
        if (failing(generation)) throw new Error('Connection error: ECONNREFUSED');
        state.sent.push(r);
        return [];
      },
    } as unknown as Producer;
  };
  return { create, made };
}

const record: ProducerRecord = { topic: 'sink.dlq', messages: [{ key: 'k', value: 'v' }] };

describe('DeadLetterProducer', () => {
  it('keeps one producer while sends succeed', async () => {
    const { create, made } = fakeProducers(() => false);
    const dlq = new DeadLetterProducer(create);
    await dlq.connect();
    await dlq.send(record);
    await dlq.send(record);
    expect(made).toHaveLength(1);
    expect(made[0]!.sent).toHaveLength(2);
  });

  it('replaces a producer whose send failed, and the next write goes through the new one', async () => {
    const { create, made } = fakeProducers((generation) => generation === 1);
    const dlq = new DeadLetterProducer(create);
    await dlq.connect();
    await expect(dlq.send(record)).rejects.toThrow(/ECONNREFUSED/);
    expect(made[0]!.disconnected).toBe(true);
    await dlq.send(record);
    expect(made).toHaveLength(2);
    expect(made[1]!.sent).toEqual([record]);
    expect(dlq.generations).toBe(2);
  });

  it('refuses writes once closed', async () => {
    const { create, made } = fakeProducers(() => false);
    const dlq = new DeadLetterProducer(create);
    await dlq.connect();
    await dlq.close();
    expect(made[0]!.disconnected).toBe(true);
    await expect(dlq.send(record)).rejects.toMatchObject({ code: 'SINK_STOPPED' });
  });
});
