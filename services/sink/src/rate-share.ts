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
  logger?: Logger;
}

/** Keeps the bucket's ceiling at this instance's share; call `assigned` on every group join. */
export class RateShare {
  private readonly o: RateShareOptions;
  private partitions = 0;
  private latest: Promise<void> = Promise.resolve();

  constructor(opts: RateShareOptions) {
    this.o = opts;
  }

  /** Resolves once the ceiling reflects this assignment (joins are applied in order). */
  assigned(partitions: readonly number[]): Promise<void> {
    this.latest = this.latest.then(() => this.apply(partitions)).catch((err: unknown) => {
      // Keep the last share: a wrong share for a while beats a crashed sink.
      this.o.logger?.warn({ err }, 'could not read the partition count; rate share unchanged');
    });
    return this.latest;
  }

  private async apply(partitions: readonly number[]): Promise<void> {
    // Asked on every join: rebalances are rare, and partitions may have been added since.
    this.partitions = await this.o.topicPartitions();
    const share = rateShare(this.o.workspaceRatePerSec, partitions.length, this.partitions);
    if (share === this.o.bucket.ceiling()) return;
    this.o.bucket.setCeiling(share);
    this.o.logger?.info({ assigned: partitions.length, partitions: this.partitions, ratePerSec: Number(share.toFixed(3)), workspaceRatePerSec: this.o.workspaceRatePerSec }, 'rate limit share set from the group assignment');
  }
}
