import type { ChangelogRecord } from './changelog.ts';
import type { ChangelogOffsets } from './disk/disk-store.ts';
import type { StateStage } from './state-stage-types.ts';

/**
 * Applies restored batches while the previous one is still being written to the local store: the
 * write runs on LevelDB's thread, the next batch's apply on the event loop, so a restore uses both
 * cores. One write at a time (the store refuses a second; reads see the batch being written). A
 * failed write fails the next `apply` or `flush`, and the store refuses further use anyway.
 */
export class OverlappedCommits {
  private readonly state: Pick<StateStage, 'restore' | 'commit'>;
  /** The write of the last batch handed to `apply`, set as `apply` is called, so `flush` covers every call made. */
  private lastWrite: Promise<void> = Promise.resolve();

  constructor(state: Pick<StateStage, 'restore' | 'commit'>) {
    this.state = state;
  }

  /** Restores `records` once the previous batch is written and starts writing them with `positions`; resolves then. */
  apply(records: readonly ChangelogRecord[], positions?: ChangelogOffsets): Promise<void> {
    const started = this.lastWrite.then(() => {
      this.state.restore(records);
      return { write: Promise.resolve(this.state.commit(positions)) };
    });
    this.lastWrite = started.then(({ write }) => write);
    // Awaited by the next apply or by flush; this only keeps it from counting as unhandled meanwhile.
    this.lastWrite.catch(() => undefined);
    return started.then(() => undefined);
  }

  /** Resolves when every batch handed to `apply` so far is on disk (at once in memory); rejects if a write failed. */
  flush(): Promise<void> {
    return this.lastWrite;
  }
}
