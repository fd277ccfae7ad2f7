import type { Batch, Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { SinkConsumer } from '../src/consumer.ts';
import { KeyOrderedDispatcher } from '../src/key-ordered-dispatcher.ts';
import { mapEvent } from '../src/mapping.ts';
import { FakeSender, makeEvent } from './helpers.ts';
import { eventually } from '../../../test/support/eventually.ts';

// No broker here: a stand-in for the few kafkajs consumer calls the sink makes.
function fakeConsumer() {
  const calls = { commits: [] as Array<Array<{ topic: string; partition: number; offset: string }>>, paused: 0, resumed: 0 };
  const consumer = {
    commitOffsets: async (offsets: Array<{ topic: string; partition: number; offset: string }>) => {
      calls.commits.push(offsets);
    },
    pause: () => {
      calls.paused++;
    },
    resume: () => {
      calls.resumed++;
    },
  } as unknown as Consumer;
  return { consumer, calls };
}

function message(offset: number, key: string | null, value: Buffer | null): KafkaMessage {
  return { offset: String(offset), key: key === null ? null : Buffer.from(key), value, timestamp: '0', attributes: 0, headers: {}, size: 0 } as unknown as KafkaMessage;
}

function payload(partition: number, messages: KafkaMessage[], resolved: string[]): EachBatchPayload {
  return {
    batch: { topic: 'events.canonical', partition, messages } as unknown as Batch,
    resolveOffset: (o: string) => resolved.push(o),
    heartbeat: async () => undefined,
    pause: () => () => undefined,
    commitOffsetsIfNecessary: async () => undefined,
    uncommittedOffsets: () => ({ topics: [] }),
    isRunning: () => true,
    isStale: () => false,
  };
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

describe('SinkConsumer (without a broker)', () => {
  it('hands records to the dispatcher, skips tombstones, resolves the fetch position and commits only finished offsets', async () => {
    const sender = new FakeSender();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    sender.latency = () => gate;
    const dispatcher = new KeyOrderedDispatcher({
      sender, prepare: (e) => mapEvent(e, 'v2'), deadLetter: async () => undefined,
      concurrency: 2, maxBatchItems: 10, maxBatchBytes: 500_000, maxInFlightEvents: 100, retryBaseMs: 5, retryMaxMs: 10, parkAfterMs: 1000,
    });
    stops.push(() => dispatcher.stop());
    const { consumer, calls } = fakeConsumer();
    const events = [makeEvent({ customer_id: 'a', properties: { key: 'a', seq: 0 } }), makeEvent({ customer_id: 'b', properties: { key: 'b', seq: 1 } })];
    const sc = new SinkConsumer({
      consumer, topic: 'events.canonical', dispatcher, commitIntervalMs: 1000,
      decode: async (v) => events[Number(v.toString())]!,
    });
    const resolved: string[] = [];
    await sc.eachBatch(payload(0, [message(5, 'a', Buffer.from('0')), message(6, 'x', null), message(7, 'b', Buffer.from('1'))], resolved));
    expect(resolved).toEqual(['7']);
    expect(dispatcher.inFlightCount()).toBe(2);
    await sc.commit();
    expect(calls.commits).toEqual([[{ topic: 'events.canonical', partition: 0, offset: '5' }]]);
    release();
    await eventually('nothing in flight', () => dispatcher.inFlightCount() === 0);
    await sc.commit();
    await sc.commit(); // unchanged: no second commit of the same offset
    expect(calls.commits).toEqual([
      [{ topic: 'events.canonical', partition: 0, offset: '5' }],
      [{ topic: 'events.canonical', partition: 0, offset: '8' }],
    ]);
  });

  it('pauses and resumes the topic on pressure', () => {
    const { consumer, calls } = fakeConsumer();
    const dispatcher = new KeyOrderedDispatcher({
      sender: new FakeSender(), prepare: (e) => mapEvent(e, 'v2'), deadLetter: async () => undefined,
      concurrency: 1, maxBatchItems: 1, maxBatchBytes: 500_000, maxInFlightEvents: 1, retryBaseMs: 1, retryMaxMs: 1, parkAfterMs: 1,
    });
    const sc = new SinkConsumer({ consumer, topic: 't', dispatcher, commitIntervalMs: 1000, decode: async () => makeEvent() });
    sc.handlePressure(true);
    sc.handlePressure(false);
    expect(calls).toMatchObject({ paused: 1, resumed: 1 });
  });

  it('replaces a consumer that crashed without a restart of its own, and reports not running meanwhile', async () => {
    type Listener = (e: { payload: { error: Error; restart: boolean } }) => void;
    const made: Array<{ listeners: Map<string, Listener>; ran: number; disconnected: boolean }> = [];
    const create = (): Consumer => {
      const state = { listeners: new Map<string, Listener>(), ran: 0, disconnected: false };
      made.push(state);
      return {
        events: { CRASH: 'crash', GROUP_JOIN: 'join', REBALANCING: 'rebalancing' },
        on: (event: string, listener: Listener) => state.listeners.set(event, listener),
        connect: async () => undefined,
        subscribe: async () => undefined,
        run: async () => {
          state.ran++;
        },
        pause: () => undefined,
        disconnect: async () => {
          state.disconnected = true;
        },
        commitOffsets: async () => undefined,
      } as unknown as Consumer;
    };
    const dispatcher = new KeyOrderedDispatcher({
      sender: new FakeSender(), prepare: (e) => mapEvent(e, 'v2'), deadLetter: async () => undefined,
      concurrency: 1, maxBatchItems: 1, maxBatchBytes: 500_000, maxInFlightEvents: 10, retryBaseMs: 1, retryMaxMs: 1, parkAfterMs: 1,
    });
    const sc = new SinkConsumer({ consumer: create(), recreate: create, restartDelayMs: 5, topic: 't', dispatcher, commitIntervalMs: 60_000, decode: async () => makeEvent() });
    stops.push(() => sc.stop(10));
    await sc.start();
    expect(sc.isRunning()).toBe(true);

    // A crash KafkaJS restarts itself: nothing to do.
    made[0]!.listeners.get('crash')!({ payload: { error: new Error('retriable'), restart: true } });
    expect(sc.isRunning()).toBe(true);
    expect(made).toHaveLength(1);

    made[0]!.listeners.get('crash')!({ payload: { error: new Error('not retriable'), restart: false } });
    expect(sc.isRunning()).toBe(false);
    await eventually('one restart', () => sc.restarts === 1);
    expect(made).toHaveLength(2);
    expect(made[0]!.disconnected).toBe(true);
    expect(made[1]!.ran).toBe(1);
    expect(sc.isRunning()).toBe(true);
  });
});
