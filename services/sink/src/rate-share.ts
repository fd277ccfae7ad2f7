import type { Logger } from '@cio-pipeline/core';
import type { TokenBucket } from './token-bucket.ts';

/**
 * Customer.io's rate limit is per workspace, so N sink instances must not each send at the full
 * limit. Each instance takes the share of the consumer group's partitions it was assigned: the
 * shares of all members add up to exactly the limit without any coordination beyond the group's
 * own assignment, and an instance with more partitions (more customers, more traffic) gets more.
 */

/** An instance with no partitions has nothing to send but a probe; it keeps a sliver, not zero. */
const IDLE_SHARE = 0.001;

export function rateShare(workspaceRatePerSec: number, assignedPartitions: number, topicPartitions: number): number {
  if (topicPartitions <= 0) return workspaceRatePerSec;
  const fraction = Math.min(1, assignedPartitions / topicPartitions);
  return workspaceRatePerSec * Math.max(IDLE_SHARE, fraction);
}

export interface RateShareOptions {
  bucket: TokenBucket;
  workspaceRatePerSec: number;
  /** Partitions of the topic the group reads. */
  topicPartitions: () => Promise<number>;
  /** The partition count read at start-up, before the first join. */
  knownPartitions: number;
  logger?: Logger;
}

/** Keeps the bucket's ceiling at this instance's share; call `assigned` on every group join. */
export class RateShare {
  private readonly o: RateShareOptions;
  private partitions: number;
  private assignedCount = 0;
  private latest: Promise<void> = Promise.resolve();

  constructor(opts: RateShareOptions) {
    this.o = opts;
    this.partitions = opts.knownPartitions;
  }

  /**
   * Sets the ceiling at once, from the partition count known so far: the join's first fetch must
   * not go out at the old share (a restarted instance starts at the whole workspace limit, and
   * the admin round trip that reads the count takes long enough for a burst to reach Customer.io).
   * Then re-reads the count, since partitions may have been added; resolves once that is applied.
   */
  assigned(partitions: readonly number[]): Promise<void> {
    this.assignedCount = partitions.length;
    this.apply();
    this.latest = this.latest.then(async () => {
      this.partitions = await this.o.topicPartitions();
      this.apply();
    }).catch((err: unknown) => {
      // Keep the count we had: a share from a stale count for a while beats a crashed sink.
      this.o.logger?.warn({ err }, 'could not read the partition count; rate share kept from the last count');
    });
    return this.latest;
  }

  private apply(): void {
    const share = rateShare(this.o.workspaceRatePerSec, this.assignedCount, this.partitions);
    if (share === this.o.bucket.ceiling()) return;
    this.o.bucket.setCeiling(share);
    this.o.logger?.info({ assigned: this.assignedCount, partitions: this.partitions, ratePerSec: Number(share.toFixed(3)), workspaceRatePerSec: this.o.workspaceRatePerSec }, 'rate limit share set from the group assignment');
  }
}
