import type { Consumer } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeliveryReceipt } from '@cio-pipeline/core/generated/avro-types';
import { SinkConsumer } from '../src/consumer.ts';
import { CioRejectedError } from '../src/errors.ts';
import { KeyOrderedDispatcher } from '../src/key-ordered-dispatcher.ts';
import { mapEvent } from '../src/mapping.ts';
import { toReceipt } from '../src/receipt.ts';
import { ReceiptWriter } from '../src/receipt-writer.ts';
import { FakeSender, makeEvent } from './helpers.ts';
import { eventually } from '../../../test/support/eventually.ts';

/** A sink.receipt-batches stand-in whose writes the test lets through (or fails) one by one. */
function fakeTopic() {
  const written: DeliveryReceipt[] = [];
  const pending: Array<{ receipts: DeliveryReceipt[]; ok: () => void; fail: (e: Error) => void }> = [];
  const send = (receipts: DeliveryReceipt[]): Promise<void> => new Promise((resolve, reject) => {
    pending.push({ receipts, ok: () => { written.push(...receipts); resolve(); }, fail: reject });
  });
  return { written, pending, send };
}

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

describe('ReceiptWriter', () => {
  it('batches receipts after the linger and resolves flush only once they are acknowledged', async () => {
    const topic = fakeTopic();
    const w = new ReceiptWriter({ send: topic.send, lingerMs: 5, maxBatch: 100, retryMs: 5 });
    const r = (id: string): DeliveryReceipt => ({ event_id: id, outcome: 'delivered' } as DeliveryReceipt);
    w.add(r('1'));
    w.add(r('2'));
    let flushed = false;
    const f = w.flush().then(() => (flushed = true));
    await eventually('a batch in flight', () => topic.pending.length === 1);
    expect(topic.pending[0]!.receipts.map((x) => x.event_id)).toEqual(['1', '2']);
    w.add(r('3')); // after the flush began: not waited for by it
    expect(flushed).toBe(false);
    topic.pending.shift()!.ok();
    await f;
    expect(topic.written.map((r) => r.event_id)).toEqual(['1', '2']);
    await eventually('the third goes out on its own', () => topic.pending.length === 1);
    topic.pending.shift()!.ok();
    await w.close();
    expect(topic.written.map((r) => r.event_id)).toEqual(['1', '2', '3']);
  });

  it('what comes in during a write waits out the linger, not going at once: a produce request per round trip costs more than the receipts', async () => {
    const topic = fakeTopic();
    const w = new ReceiptWriter({ send: topic.send, lingerMs: 1_000, maxBatch: 3, retryMs: 5 });
    const r = (id: string): DeliveryReceipt => ({ event_id: id, outcome: 'delivered' } as DeliveryReceipt);
    w.add(r('1'));
    void w.flush();
    await eventually('the flushed one in flight', () => topic.pending.length === 1);
    w.add(r('2'));
    w.add(r('3'));
    topic.pending.shift()!.ok();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(topic.pending).toHaveLength(0); // lingering, under maxBatch, nobody flushing
    w.add(r('4')); // maxBatch reached: out at once
    expect(topic.pending).toHaveLength(1);
    w.add(r('5'));
    expect(topic.pending[0]!.receipts.map((x) => x.event_id)).toEqual(['2', '3', '4']);
    topic.pending.shift()!.ok();
    await eventually('the rest after the linger', () => topic.pending.length === 1);
    topic.pending.shift()!.ok();
    await w.close();
    expect(topic.written.map((x) => x.event_id)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('a failed write rejects flush, keeps the receipts and retries them in order', async () => {
    const topic = fakeTopic();
    const w = new ReceiptWriter({ send: topic.send, lingerMs: 1, maxBatch: 2, retryMs: 5 });
    for (const id of ['1', '2', '3']) w.add({ event_id: id, outcome: 'rejected' } as DeliveryReceipt);
    const f = w.flush();
    await eventually('first batch', () => topic.pending.length === 1);
    expect(topic.pending[0]!.receipts).toHaveLength(2); // maxBatch
    topic.pending.shift()!.fail(new Error('broker away'));
    await expect(f).rejects.toThrow('broker away');
    expect(w.buffered).toBe(3);
    await eventually('retried on its own', () => topic.pending.length === 1);
    topic.pending.shift()!.ok();
    await eventually('rest', () => topic.pending.length === 1);
    topic.pending.shift()!.ok();
    await w.flush();
    expect(topic.written.map((r) => r.event_id)).toEqual(['1', '2', '3']);
  });
});

describe('receipts with the dispatcher and the consumer', () => {
  it('never commits an offset before the receipt of its event is acknowledged', async () => {
    const topic = fakeTopic();
    const writer = new ReceiptWriter({ send: topic.send, lingerMs: 1, maxBatch: 100, retryMs: 1_000 });
    const sender = new FakeSender();
    const bad = makeEvent({ customer_id: 'b', properties: { key: 'b', seq: 1 } });
    sender.decide = (item) => (item.json.includes(bad.event_id) ? { ok: false, error: new CioRejectedError(400, '{"errors":[{"reason":"invalid"}]}') } : { ok: true, status: 200 });
    const dispatcher = new KeyOrderedDispatcher({
      sender, prepare: (e) => mapEvent(e, 'v2'), deadLetter: async () => undefined,
      onFinished: (rec, answer) => writer.add(toReceipt(rec, answer, 'events.canonical', 1)),
      concurrency: 2, maxBatchItems: 10, maxBatchBytes: 500_000, maxInFlightEvents: 100, retryBaseMs: 5, retryMaxMs: 10, parkAfterMs: 1000,
    });
    stops.push(() => dispatcher.stop());
    const commits: string[] = [];
    const consumer = { commitOffsets: async (o: Array<{ offset: string }>) => void commits.push(o[0]!.offset) } as unknown as Consumer;
    const events = [makeEvent({ customer_id: 'a', properties: { key: 'a', seq: 0 } }), bad];
    const sc = new SinkConsumer({ consumer, topic: 'events.canonical', dispatcher, commitIntervalMs: 1000, decode: async (v) => events[Number(v.toString())]!, beforeCommit: () => writer.flush() });
    const msg = (offset: number, i: number) => ({ offset: String(offset), key: Buffer.from(events[i]!.customer_id!), value: Buffer.from(String(i)), timestamp: '0', attributes: 0, headers: {} });
    await sc.eachBatch({
      batch: { topic: 'events.canonical', partition: 0, messages: [msg(10, 0), msg(11, 1)] }, resolveOffset: () => undefined, heartbeat: async () => undefined,
      isRunning: () => true, isStale: () => false,
    } as never);
    await eventually('both finished', () => dispatcher.inFlightCount() === 0);
    const commit = sc.commit();
    await eventually('receipts in flight', () => topic.pending.length === 1);
    expect(commits).toEqual([]); // finished, but the receipts are not acknowledged yet
    topic.pending.shift()!.ok();
    await commit;
    expect(commits).toEqual(['12']);
    const got = topic.written;
    expect(got.map((r) => [r.event_id, r.outcome, r.status, r.source_offset])).toEqual([
      [events[0]!.event_id, 'delivered', 200, '10'],
      [bad.event_id, 'rejected', 400, '11'],
    ]);
    expect(got[1]!.answer).toContain('invalid');
  });

  it('a failed receipt write holds the commit back', async () => {
    const topic = fakeTopic();
    const writer = new ReceiptWriter({ send: topic.send, lingerMs: 1, maxBatch: 100, retryMs: 60_000 });
    const dispatcher = new KeyOrderedDispatcher({
      sender: new FakeSender(), prepare: (e) => mapEvent(e, 'v2'), deadLetter: async () => undefined,
      onFinished: (rec, answer) => writer.add(toReceipt(rec, answer, 'events.canonical')),
      concurrency: 1, maxBatchItems: 10, maxBatchBytes: 500_000, maxInFlightEvents: 100, retryBaseMs: 5, retryMaxMs: 10, parkAfterMs: 1000,
    });
    stops.push(() => dispatcher.stop());
    const commits: string[] = [];
    const consumer = { commitOffsets: async (o: Array<{ offset: string }>) => void commits.push(o[0]!.offset) } as unknown as Consumer;
    const event = makeEvent({ customer_id: 'a', properties: { key: 'a', seq: 0 } });
    const sc = new SinkConsumer({ consumer, topic: 'events.canonical', dispatcher, commitIntervalMs: 1000, decode: async () => event, beforeCommit: () => writer.flush() });
    await sc.eachBatch({
      batch: { topic: 'events.canonical', partition: 0, messages: [{ offset: '3', key: Buffer.from('a'), value: Buffer.from('0'), timestamp: '0', attributes: 0, headers: {} }] },
      resolveOffset: () => undefined, heartbeat: async () => undefined, isRunning: () => true, isStale: () => false,
    } as never);
    await eventually('finished', () => dispatcher.inFlightCount() === 0);
    const commit = sc.commit();
    await eventually('receipt in flight', () => topic.pending.length === 1);
    topic.pending.shift()!.fail(new Error('broker away'));
    await commit;
    expect(commits).toEqual([]);
    expect(writer.buffered).toBe(1);
  });
});
