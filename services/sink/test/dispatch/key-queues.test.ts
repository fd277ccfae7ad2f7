import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeyQueues } from '../../src/dispatch/key-queues.ts';
import type { Entry, PartitionState } from '../../src/dispatch/types.ts';
import { CioRejectedError } from '../../src/errors.ts';
import { mapEvent } from '../../src/mapping.ts';
import { makeEvent } from '../helpers.ts';

const part: PartitionState = { partition: 0, entries: [], head: 0, lastOffset: -1n, busy: 0, revoking: false };

function entry(key: string, offset: number, opts: { invalid?: boolean; padding?: number } = {}): Entry {
  const event = makeEvent({ customer_id: key, properties: { pad: 'x'.repeat(opts.padding ?? 0) } });
  return {
    rec: { partition: 0, offset: String(offset), key, event, raw: Buffer.alloc(0) },
    offset: BigInt(offset), part, item: mapEvent(event, 'v2'), invalid: opts.invalid ? new CioRejectedError(null, 'bad') : undefined,
    done: false, dropped: false, busy: false, attempts: 0, firstAttemptAt: null,
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('KeyQueues', () => {
  it('forms batches from the heads of ready keys, FIFO, one event per key', () => {
    const q = new KeyQueues();
    q.enqueue('a', entry('a', 0));
    q.enqueue('a', entry('a', 1));
    q.enqueue('b', entry('b', 2));
    const { batch, invalid } = q.formBatch({ maxBatchItems: 10, maxBatchBytes: 500_000 });
    expect(batch.map((k) => k.key)).toEqual(['a', 'b']);
    expect(invalid).toEqual([]);
    expect(q.hasReady()).toBe(false);
  });

  it('stops at the item limit and leaves an over-sized head for a later batch', () => {
    const q = new KeyQueues();
    for (const k of ['a', 'b', 'c']) q.enqueue(k, entry(k, 0));
    expect(q.formBatch({ maxBatchItems: 2, maxBatchBytes: 500_000 }).batch).toHaveLength(2);
    const q2 = new KeyQueues();
    q2.enqueue('a', entry('a', 0, { padding: 3000 }));
    q2.enqueue('b', entry('b', 1, { padding: 3000 }));
    const { batch } = q2.formBatch({ maxBatchItems: 10, maxBatchBytes: 4000 });
    expect(batch.map((k) => k.key)).toEqual(['a']);
    expect(q2.hasReady()).toBe(true);
  });

  it('answers invalid heads apart, for the DLQ', () => {
    const q = new KeyQueues();
    q.enqueue('a', entry('a', 0, { invalid: true }));
    q.enqueue('b', entry('b', 1));
    const { batch, invalid } = q.formBatch({ maxBatchItems: 10, maxBatchBytes: 500_000 });
    expect(invalid.map((k) => k.key)).toEqual(['a']);
    expect(batch.map((k) => k.key)).toEqual(['b']);
  });

  it('keeps a busy key out of line, and forgets a key whose queue is empty', () => {
    const q = new KeyQueues();
    q.enqueue('a', entry('a', 0));
    const [ks] = q.formBatch({ maxBatchItems: 10, maxBatchBytes: 500_000 }).batch;
    ks!.busy = true;
    q.release(ks!);
    expect(q.hasReady()).toBe(false);
    ks!.busy = false;
    ks!.queue.shift();
    q.release(ks!);
    expect([...q.all()]).toEqual([]);
  });

  it('backs a key off, counts it blocked, and puts it back in line when the timer fires', () => {
    vi.useFakeTimers();
    const blocked: number[] = [];
    const q = new KeyQueues((n) => blocked.push(n));
    q.enqueue('a', entry('a', 0));
    const [ks] = q.formBatch({ maxBatchItems: 10, maxBatchBytes: 500_000 }).batch;
    const wake = vi.fn();
    q.backOff(ks!, 100, wake);
    expect(q.blockedCount()).toBe(1);
    vi.advanceTimersByTime(99);
    expect(q.hasReady()).toBe(false);
    vi.advanceTimersByTime(1);
    expect(wake).toHaveBeenCalledOnce();
    expect(q.hasReady()).toBe(true);
    expect(blocked).toEqual([1, 0]);
  });

  it('removes matching events not in flight, marks them dropped, and restarts a backing-off key fresh', () => {
    vi.useFakeTimers();
    const q = new KeyQueues();
    const first = entry('a', 0);
    const second = entry('a', 1);
    q.enqueue('a', first);
    q.enqueue('a', second);
    const [ks] = q.formBatch({ maxBatchItems: 10, maxBatchBytes: 500_000 }).batch;
    ks!.failingSince = 1;
    q.backOff(ks!, 1000, () => undefined);
    const removed = q.remove(ks!, (e) => e === first);
    expect(removed).toEqual([first]);
    expect(first.dropped).toBe(true);
    expect(ks!.waiting).toBe(false);
    expect(ks!.failingSince).toBeNull();
    expect(q.blockedCount()).toBe(0);
    expect(q.firstSendable()).toBe(ks);
  });
});
