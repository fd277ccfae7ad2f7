import type { PartitionOffset, PartitionState, Slot } from './types.ts';

/**
 * Kafka-safe offset tracking, per partition: every accepted or skipped offset is a slot in arrival
 * order, and the committable offset is the lowest slot not yet finished. A crash redelivers, never
 * skips. Knows nothing of keys, batches or Customer.io.
 */
export class PartitionOffsets {
  private readonly parts = new Map<number, PartitionState>();
  private revokingCount = 0;

  /** The partition's state, created on first sight. */
  state(partition: number): PartitionState {
    let part = this.parts.get(partition);
    if (!part) {
      part = { partition, entries: [], head: 0, lastOffset: -1n, busy: 0, revoking: false };
      this.parts.set(partition, part);
    }
    return part;
  }

  /** False for a revoked partition's stragglers and for offsets seen already (redelivery overlap). */
  isNew(part: PartitionState, offset: bigint): boolean {
    return !part.revoking && offset > part.lastOffset;
  }

  /** Adds an unfinished slot at the end of its partition. The caller checked isNew. */
  track(part: PartitionState, slot: Slot): void {
    part.lastOffset = slot.offset;
    part.entries.push(slot);
  }

  /** An offset that carries nothing to deliver: the committable offset may move past it. */
  skip(partition: number, offset: bigint): void {
    const part = this.state(partition);
    if (!this.isNew(part, offset)) return;
    part.lastOffset = offset;
    if (part.head === part.entries.length) return; // nothing unfinished before it: next = offset + 1
    part.entries.push({ offset, done: true });
  }

  /** Marks a slot finished and moves its partition's head past every finished slot. */
  complete(part: PartitionState, slot: Slot): void {
    slot.done = true;
    while (part.head < part.entries.length && part.entries[part.head]!.done) part.head++;
    if (part.head > 1024 && part.head * 2 > part.entries.length) {
      part.entries = part.entries.slice(part.head);
      part.head = 0;
    }
  }

  /** For each known partition, the offset to commit. */
  committableOffsets(): PartitionOffset[] {
    const out: PartitionOffset[] = [];
    for (const p of this.parts.values()) {
      const next = committable(p);
      if (next !== undefined) out.push({ partition: p.partition, offset: next.toString() });
    }
    return out;
  }

  get anyRevoking(): boolean {
    return this.revokingCount > 0;
  }

  /** Marks the partitions revoking (new records for them are ignored); answers the known ones. */
  beginRevoke(partitions: Iterable<number>): PartitionState[] {
    const states: PartitionState[] = [];
    for (const n of partitions) {
      const p = this.parts.get(n);
      if (!p) continue;
      if (!p.revoking) this.revokingCount++;
      p.revoking = true;
      states.push(p);
    }
    return states;
  }

  /** Forgets revoked partitions (once idle) and answers their final offsets to commit. */
  finishRevoke(states: readonly PartitionState[]): PartitionOffset[] {
    const out: PartitionOffset[] = [];
    for (const p of states) {
      const next = committable(p);
      if (next !== undefined) out.push({ partition: p.partition, offset: next.toString() });
      if (this.parts.get(p.partition) === p) this.parts.delete(p.partition);
      this.revokingCount--;
    }
    return out;
  }

  /** No entry of any partition inside a request or a dead-letter write. */
  allIdle(): boolean {
    for (const p of this.parts.values()) if (p.busy !== 0) return false;
    return true;
  }
}

function committable(p: PartitionState): bigint | undefined {
  if (p.head < p.entries.length) return p.entries[p.head]!.offset;
  return p.lastOffset >= 0n ? p.lastOffset + 1n : undefined;
}
