import type { Consumer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ConsumerPositions, EndNotReachedError, partitionKey, type PartitionEnd } from '../src/partition-ends.ts';

function ends(...list: Array<[string, number, number]>): Map<string, PartitionEnd> {
  return new Map(list.map(([topic, partition, end]) => [partitionKey(topic, partition), { topic, partition, low: 0n, end: BigInt(end) }]));
}

describe('ConsumerPositions', () => {
  it('is done only when every partition has been fetched up to its end', async () => {
    const positions = new ConsumerPositions();
    const target = ends(['t', 0, 10], ['t', 1, 4]);
    let done = false;
    const reached = positions.reach(target, 'test', { timeoutMs: 10_000 }).then(() => { done = true; });
    positions.advance('t', 0, 10n);
    positions.advance('t', 1, 3n); // the last record of partition 1 not handled yet
    await new Promise((r) => setTimeout(r, 150));
    expect(done).toBe(false);
    expect(positions.behind(target)).toEqual([{ partition: 't:1', position: 3n, end: 4n }]);
    positions.advance('t', 1, 4n); // e.g. a batch of transaction markers only
    await reached;
    expect(done).toBe(true);
  });

  it('resumes a followed consumer at its positions at every join, since KafkaJS forgets them there', () => {
    const listeners = new Map<string, Array<(e: { payload: unknown }) => void>>();
    const seeks: Array<{ topic: string; partition: number; offset: string }> = [];
    const consumer = {
      events: { GROUP_JOIN: 'join', END_BATCH_PROCESS: 'end', CRASH: 'crash' },
      on: (event: string, l: (e: { payload: unknown }) => void) => void listeners.set(event, [...(listeners.get(event) ?? []), l]),
      seek: (s: { topic: string; partition: number; offset: string }) => void seeks.push(s),
    } as unknown as Consumer;
    const emit = (event: string, payload: unknown): void => { for (const l of listeners.get(event) ?? []) l({ payload }); };
    const positions = new ConsumerPositions();
    positions.follow(consumer);
    positions.advance('t', 1, 40n); // where a read is to start
    emit('join', { memberAssignment: { t: [0, 1] } });
    expect(seeks).toEqual([{ topic: 't', partition: 1, offset: '40' }]); // partition 0: where KafkaJS starts it
    emit('end', { topic: 't', partition: 0, lastOffset: '9' });
    // A restart after a crash, or a rejoin: a new member, resumed where the batches got to.
    emit('join', { memberAssignment: { t: [0, 1] } });
    expect(seeks.slice(1)).toEqual([{ topic: 't', partition: 0, offset: '10' }, { topic: 't', partition: 1, offset: '40' }]);
  });

  it('never moves back: a restarted consumer re-reading from the start does not undo progress', () => {
    const positions = new ConsumerPositions();
    positions.advance('t', 0, 8n);
    positions.advance('t', 0, 2n);
    expect(positions.position('t', 0)).toBe(8n);
  });

  it('fails after its budget, naming the partitions behind, instead of counting a quiet reader as done', async () => {
    const positions = new ConsumerPositions();
    positions.advance('t', 0, 5n);
    const err = await positions.reach(ends(['t', 0, 7], ['u', 2, 1]), 'state restore', { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EndNotReachedError);
    expect((err as EndNotReachedError).code).toBe('END_NOT_REACHED');
    expect((err as Error).message).toContain('t:0 at 5 of 7');
    expect((err as Error).message).toContain('u:2 at nothing read of 1');
  });

  it('fails when nothing moves for the stall limit, not while the reader makes progress', async () => {
    const positions = new ConsumerPositions();
    const target = ends(['t', 0, 1_000]);
    let next = 0n;
    const moving = setInterval(() => positions.advance('t', 0, (next += 1n)), 20);
    let settled = false;
    const reached = positions.reach(target, 'scan', { stallMs: 1_000 }).catch((e: unknown) => e).finally(() => { settled = true; });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(settled).toBe(false); // moving for longer than the stall limit
    clearInterval(moving);
    expect(await reached).toBeInstanceOf(EndNotReachedError);
  });

  it('fails every wait once the consumer is gone', async () => {
    const positions = new ConsumerPositions();
    const waiting = positions.reach(ends(['t', 0, 3]), 'scan', {});
    positions.fail(new Error('consumer crashed'));
    await expect(waiting).rejects.toThrow('consumer crashed');
    await expect(positions.reach(ends(['t', 0, 3]), 'scan', {})).rejects.toThrow('consumer crashed');
  });

  it('is done at once when there is nothing to read', async () => {
    await new ConsumerPositions().reach(new Map(), 'scan', { timeoutMs: 1 });
  });
});
