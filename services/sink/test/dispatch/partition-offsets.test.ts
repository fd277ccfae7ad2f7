import { describe, expect, it } from 'vitest';
import { PartitionOffsets } from '../../src/dispatch/partition-offsets.ts';
import type { Slot } from '../../src/dispatch/types.ts';

function track(offsets: PartitionOffsets, partition: number, offset: number): Slot {
  const part = offsets.state(partition);
  const slot: Slot = { offset: BigInt(offset), done: false };
  offsets.track(part, slot);
  return slot;
}

describe('PartitionOffsets', () => {
  it('commits up to the lowest unfinished offset, whatever order offsets finish in', () => {
    const offsets = new PartitionOffsets();
    const a = track(offsets, 0, 10);
    const b = track(offsets, 0, 12); // a gap, as a transaction marker leaves
    const c = track(offsets, 0, 13);
    expect(offsets.committableOffsets()).toEqual([{ partition: 0, offset: '10' }]);
    offsets.complete(offsets.state(0), c);
    expect(offsets.committableOffsets()).toEqual([{ partition: 0, offset: '10' }]);
    offsets.complete(offsets.state(0), a);
    expect(offsets.committableOffsets()).toEqual([{ partition: 0, offset: '12' }]);
    offsets.complete(offsets.state(0), b);
    expect(offsets.committableOffsets()).toEqual([{ partition: 0, offset: '14' }]);
  });

  it('moves past a skipped offset only once everything before it is finished', () => {
    const offsets = new PartitionOffsets();
    offsets.skip(1, 5n);
    expect(offsets.committableOffsets()).toEqual([{ partition: 1, offset: '6' }]);
    const slot = track(offsets, 1, 6);
    offsets.skip(1, 7n);
    expect(offsets.committableOffsets()).toEqual([{ partition: 1, offset: '6' }]);
    offsets.complete(offsets.state(1), slot);
    expect(offsets.committableOffsets()).toEqual([{ partition: 1, offset: '8' }]);
  });

  it('treats offsets already seen, and a revoking partition, as not new', () => {
    const offsets = new PartitionOffsets();
    track(offsets, 0, 3);
    const part = offsets.state(0);
    expect(offsets.isNew(part, 3n)).toBe(false);
    expect(offsets.isNew(part, 4n)).toBe(true);
    const states = offsets.beginRevoke([0, 9]);
    expect(states).toEqual([part]);
    expect(offsets.anyRevoking).toBe(true);
    expect(offsets.isNew(part, 4n)).toBe(false);
    expect(offsets.finishRevoke(states)).toEqual([{ partition: 0, offset: '3' }]);
    expect(offsets.anyRevoking).toBe(false);
    expect(offsets.committableOffsets()).toEqual([]);
  });

  it('reports idle only when no partition has an entry in flight', () => {
    const offsets = new PartitionOffsets();
    const part = offsets.state(2);
    expect(offsets.allIdle()).toBe(true);
    part.busy++;
    expect(offsets.allIdle()).toBe(false);
  });

  it('keeps the committable offset right after compacting a long finished prefix', () => {
    const offsets = new PartitionOffsets();
    const slots = Array.from({ length: 3000 }, (_, i) => track(offsets, 0, i));
    for (const s of slots.slice(0, 2500)) offsets.complete(offsets.state(0), s);
    expect(offsets.state(0).entries.length).toBeLessThan(3000);
    expect(offsets.committableOffsets()).toEqual([{ partition: 0, offset: '2500' }]);
  });
});
