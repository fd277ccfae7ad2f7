import { describe, expect, it } from 'vitest';
import { RateShare, rateShare } from '../src/rate-share.ts';
import { TokenBucket } from '../src/token-bucket.ts';

describe('rateShare', () => {
  it("gives each member its partitions' share, and the shares add up to the workspace limit", () => {
    expect(rateShare(90, 6, 6)).toBe(90);
    const shares = [3, 2, 1].map((n) => rateShare(90, n, 6));
    expect(shares).toEqual([45, 30, 15]);
    expect(shares.reduce((a, b) => a + b)).toBe(90);
    // More members than partitions: the idle ones keep a sliver for a probe, not zero.
    expect(rateShare(100, 0, 6)).toBeCloseTo(0.1);
    expect(rateShare(100, 2, 0)).toBe(100);
  });
});

describe('TokenBucket.setCeiling', () => {
  it('moves the ceiling, keeping a 429-lowered rate lowered in proportion', () => {
    let t = 0;
    const bucket = new TokenBucket({ ratePerSec: 90, now: () => t });
    bucket.setCeiling(30);
    expect(bucket.ceiling()).toBe(30);
    expect(bucket.currentRate()).toBe(30);
    bucket.throttled();
    expect(bucket.currentRate()).toBe(15);
    bucket.setCeiling(60);
    expect(bucket.currentRate()).toBe(30);
    // Recovery climbs back to the new ceiling, not the old one.
    t = 60_000;
    expect(bucket.currentRate()).toBe(60);
    expect(() => bucket.setCeiling(0)).toThrow(RangeError);
  });

  it('paces takers at the new ceiling', async () => {
    let t = 0;
    const bucket = new TokenBucket({ ratePerSec: 1000, burst: 1, now: () => t });
    await bucket.take();
    t = 10; // 10 ms: 10 tokens at 1000/s, a fifth of one at 20/s
    await bucket.take();
    bucket.setCeiling(20);
    t = 20;
    let granted = false;
    const waiting = bucket.take().then(() => (granted = true));
    await Promise.resolve();
    expect(granted).toBe(false);
    expect(bucket.waits).toBe(1);
    bucket.close();
    await waiting.catch(() => undefined);
  });
});

describe('RateShare', () => {
  it('sets the bucket ceiling from each assignment, reading the partition count every time', async () => {
    const bucket = new TokenBucket({ ratePerSec: 120 });
    let partitions = 6;
    let asked = 0;
    const share = new RateShare({ bucket, workspaceRatePerSec: 120, knownPartitions: 6, topicPartitions: async () => (asked++, partitions) });
    await share.assigned([0, 1, 2, 3, 4, 5]);
    expect(bucket.ceiling()).toBe(120);
    await share.assigned([1, 4]);
    expect(bucket.ceiling()).toBe(40);
    partitions = 8; // partitions were added
    await share.assigned([1, 4]);
    expect(bucket.ceiling()).toBe(30);
    expect(asked).toBe(3);
    bucket.close();
  });

  it('takes the new share before the join returns, not after the partition count is read again', () => {
    // A restarted instance starts at the whole workspace limit; its first fetch must not go out at it.
    const bucket = new TokenBucket({ ratePerSec: 3 });
    let answer: (n: number) => void = () => undefined;
    const share = new RateShare({ bucket, workspaceRatePerSec: 3, knownPartitions: 6, topicPartitions: () => new Promise<number>((r) => (answer = r)) });
    void share.assigned([0, 1]);
    expect(bucket.ceiling()).toBe(1);
    answer(6);
    bucket.close();
  });

  it('keeps the last partition count when it cannot be read again', async () => {
    const bucket = new TokenBucket({ ratePerSec: 100 });
    let fail = false;
    const share = new RateShare({ bucket, workspaceRatePerSec: 100, knownPartitions: 4, topicPartitions: async () => { if (fail) throw new Error('broker away'); return 8; } });
    await share.assigned([0]);
    expect(bucket.ceiling()).toBe(12.5);
    fail = true;
    await share.assigned([0, 1]);
    expect(bucket.ceiling()).toBe(25);
    fail = false;
    await share.assigned([0, 1]);
    expect(bucket.ceiling()).toBe(25);
    bucket.close();
  });
});
