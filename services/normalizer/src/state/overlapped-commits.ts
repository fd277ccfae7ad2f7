import type { ChangelogRecord } from './changelog.ts';
import type { ChangelogOffsets } from './disk/disk-store.ts';
import type { StateStage } from './state-stage-types.ts';

/**
 * Applies restored batches while the previous write to the local store is running: the write runs
 * on LevelDB's thread, the next batches' apply on the event loop (reads see the batch being
 * written), so a restore uses both cores.
 *
 * One write per fetch: a fetch brings a batch per changelog partition, and a person's identifiers
 * sit in different partitions at about the same offsets. Written batch by batch, a cluster's
 * member list was rewritten once per partition, and each later batch read it back from the disk.
 * So batches are gathered until a partition comes again (the next fetch), then written as one
 * with the positions they bring each partition to.
 *
 * One write at a time: a write starts when the previous one has ended, and the batch that started
 * it is applied then, so at most one write runs and one fetch waits staged (the store would queue
 * more, but the restore would then outrun the disk and hold every fetch in memory). A failed write
 * fails the next `apply` and `flush`; the store refuses further use anyway.
 */
export class OverlappedCommits {
  private readonly state: Pick<StateStage, 'restore' | 'commit'>;
  /** The last write scheduled, so `flush` covers every call made. */
  private lastWrite: Promise<void> = Promise.resolve();
  /** The last `apply`: each runs after the one before, whose batch may wait for a write to start. */
  private applied: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  /** Batches applied and not yet in a write: the positions they reach (empty: none, or none given). */
  private positions = new Map<string, bigint>();
  private gathered = false;

  constructor(state: Pick<StateStage, 'restore' | 'commit'>) {
    this.state = state;
  }

  /**
   * Restores `records` and gathers them for a write. When they come from a partition the batches
   * gathered already cover, those are written first (after the previous write), and `records` are
   * restored once that write has started; the promise resolves then.
   */
  apply(records: readonly ChangelogRecord[], positions: ChangelogOffsets = new Map()): Promise<void> {
    const run = this.applied.then(() => this.applyNow(records, positions));
    this.applied = run.catch(() => undefined);
    return run;
  }

  /** Writes what is gathered; resolves when every batch handed to `apply` so far is on disk, rejects if a write failed. */
  flush(): Promise<void> {
    return this.applied.then(() => {
      if (this.gathered) void this.write();
      return this.lastWrite;
    });
  }

  private applyNow(records: readonly ChangelogRecord[], positions: ChangelogOffsets): Promise<void> | void {
    if (this.failure !== null) throw this.failure;
    for (const key of positions.keys()) {
      if (this.positions.has(key)) return this.write().then(() => this.gather(records, positions));
    }
    this.gather(records, positions);
  }

  private gather(records: readonly ChangelogRecord[], positions: ChangelogOffsets): void {
    this.state.restore(records);
    for (const [key, offset] of positions) this.positions.set(key, offset);
    this.gathered = true;
  }

  /** Schedules the write of what is gathered after the previous write; resolves when it starts. */
  private write(): Promise<void> {
    const previous = this.lastWrite;
    const positions = this.positions.size > 0 ? this.positions : undefined;
    this.positions = new Map();
    this.gathered = false;
    const write = previous.then(() => this.state.commit(positions));
    this.lastWrite = write;
    // Awaited by the next write or by flush; this only records the failure for the next apply.
    write.catch((err: unknown) => { this.failure ??= err as Error; });
    return previous;
  }
}
