import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../src/token-bucket.ts';

describe('TokenBucket', () => {
  it('holds takers to the configured rate', async () => {
    const bucket = new TokenBucket({ ratePerSec: 200, burst: 5 });
    const start = performance.now();
    await Promise.all(Array.from({ length: 65 }, () => bucket.take()));
    const elapsed = performance.now() - start;
    // 5 from the burst, 60 at 200/s = 300 ms.
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(600);
    expect(bucket.waits).toBeGreaterThanOrEqual(59);
  });

  it('serves waiters in order', async () => {
    const bucket = new TokenBucket({ ratePerSec: 100, burst: 1 });
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3].map((i) => bucket.take().then(() => order.push(i))));
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('halves the rate on 429 (once per cooldown), keeps a floor and recovers additively', () => {
    let t = 0;
    const bucket = new TokenBucket({ ratePerSec: 100, minRatePerSec: 10, increasePerSec: 10, cooldownMs: 1000, now: () => t });
    bucket.throttled();
    expect(bucket.currentRate()).toBe(50);
    bucket.throttled(); // same burst of 429s
    expect(bucket.currentRate()).toBe(50);
    t = 1000;
    bucket.throttled();
    t = 2000;
    bucket.throttled();
    t = 3000;
    bucket.throttled();
    t = 4000;
    bucket.throttled();
    expect(bucket.currentRate()).toBe(10); // floor
    t = 4500; // within cooldown: no growth
    expect(bucket.currentRate()).toBe(10);
    t = 7000; // 2 s past cooldown at +10/s
    expect(bucket.currentRate()).toBeCloseTo(30, 5);
    t = 60_000;
    expect(bucket.currentRate()).toBe(100); // capped at the configured max
    expect(bucket.decreases).toBe(5);
  });

  it('refund returns a token and close rejects waiters', async () => {
    const bucket = new TokenBucket({ ratePerSec: 0.5, burst: 1 });
    await bucket.take();
    bucket.refund();
    await bucket.take(); // immediate thanks to the refund
    const waiting = bucket.take();
    bucket.close();
    await expect(waiting).rejects.toThrow(/closed/);
  });
});
