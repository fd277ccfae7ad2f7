import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SlidingWindow } from '../src/sliding-window.ts';

describe('SlidingWindow', () => {
  it('sums each field over the buckets inside the window', () => {
    const w = new SlidingWindow({ windowMs: 60_000, buckets: 6, fields: 2 });
    expect(w.bucketMs).toBe(10_000);
    w.add(1_000, 0, 3, 1_000);
    w.add(15_000, 1, 2, 15_000);
    w.add(59_999, 0, 1, 59_999);
    expect(w.totals(59_999)).toEqual([4, 2]);
  });

  it('lets whole buckets expire as the window slides, and reuses their slots', () => {
    const w = new SlidingWindow({ windowMs: 60_000, buckets: 6, fields: 1 });
    w.add(5_000, 0, 1, 5_000); // bucket 0
    w.add(25_000, 0, 10, 25_000); // bucket 2
    expect(w.totals(59_999)).toEqual([11]); // buckets 0..5
    expect(w.totals(60_000)).toEqual([10]); // buckets 1..6: bucket 0 left
    expect(w.totals(85_000)).toEqual([0]); // buckets 3..8
    // bucket 6 takes bucket 0's slot: the old count must not leak into it.
    w.add(60_000, 0, 7, 60_000);
    expect(w.totals(60_000)).toEqual([17]);
    expect(w.totals(119_999)).toEqual([7]);
    expect(w.totals(120_000)).toEqual([0]);
  });

  it('refuses records older than the window or after now', () => {
    const w = new SlidingWindow({ windowMs: 1_000, buckets: 4, fields: 1 });
    expect(w.add(0, 0, 1, 1_000)).toBe(false); // bucket 0 is out of the window 1..4
    expect(w.add(1_500, 0, 1, 1_000)).toBe(false);
    expect(w.add(1_000, 0, 1, 1_000)).toBe(true);
    expect(w.totals(1_000)).toEqual([1]);
  });

  it('never holds more than its buckets, however many events pass', () => {
    const w = new SlidingWindow({ windowMs: 900_000, buckets: 15, fields: 4 });
    for (let t = 0; t < 3_600_000; t += 1_000) w.add(t, t % 4, 1, t);
    // The last 15 minutes hold 900 events, spread over the 4 fields.
    expect(w.totals(3_599_000).reduce((a, b) => a + b, 0)).toBe(900);
  });

  it('agrees with a naive count over bucket-aligned windows (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 1, max: 5 })), { maxLength: 200 }),
      fc.integer({ min: 1, max: 20 }),
      (events, buckets) => {
        const windowMs = buckets * 100;
        const w = new SlidingWindow({ windowMs, buckets, fields: 1 });
        const sorted = [...events].sort((a, b) => a[0] - b[0]);
        for (const [at, n] of sorted) w.add(at, 0, n, at);
        const now = sorted.length ? sorted[sorted.length - 1]![0] : 0;
        // The window is the `buckets` 100 ms buckets ending with the one holding now.
        const start = (Math.floor(now / 100) - buckets + 1) * 100;
        const expected = sorted.filter(([at]) => at >= start && at <= now).reduce((s, [, n]) => s + n, 0);
        expect(w.totals(now)).toEqual([expected]);
      },
    ));
  });
});
