import type { ChangelogRecord } from './changelog.ts';
import type { ChangelogOffsets } from './disk/disk-store.ts';
import type { StateStage } from './state-stage-types.ts';

/**
 * Applies restored batches while the previous one is still being written to the local store: the
 * write runs on LevelDB's thread, the next batch's apply on the event loop (reads see the batch
 * being written), so a restore uses both cores. One write at a time (the store refuses a second):
 * a batch's write starts when the previous one has ended, and `apply` resolves then, so at most
 * one batch is being written and one waits staged. A failed write fails the next `apply` and
 * `flush`; the store refuses further use anyway.
 */
export class OverlappedCommits {
  private readonly state: Pick<StateStage, 'restore' | 'commit'>;
  /** The write of the last batch handed to `apply`, set as `apply` is called, so `flush` covers every call made. */
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(state: Pick<StateStage, 'restore' | 'commit'>) {
    this.state = state;
  }

  /** Restores `records` now and writes them with `positions` once the previous batch is written; resolves when that write starts. */
  apply(records: readonly ChangelogRecord[], positions?: ChangelogOffsets): Promise<void> {
    const previous = this.lastWrite;
    this.state.restore(records);
    const write = previous.then(() => this.state.commit(positions));
    this.lastWrite = write;
    // Awaited by the next apply or by flush; this only keeps it from counting as unhandled meanwhile.
    write.catch(() => undefined);
    return previous;
  }

  /** Resolves when every batch handed to `apply` so far is on disk (at once in memory); rejects if a write failed. */
  flush(): Promise<void> {
    return this.lastWrite;
  }
}
