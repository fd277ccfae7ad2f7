/**
 * A sliding window of counters kept in fixed time buckets (a ring), so a series costs the same
 * memory however many events pass through it: `buckets` slots of `fields` numbers each.
 *
 * The window at time `now` is the `buckets` buckets ending with the one holding `now`, so it spans
 * between `windowMs - bucketMs` and `windowMs`: an event leaves the window up to one bucket early.
 * That is the usual price of bucketing (Prometheus' `rate` over scrape intervals pays the same).
 */
export class SlidingWindow {
  readonly windowMs: number;
  readonly bucketMs: number;
  readonly buckets: number;
  readonly fields: number;
  /** Epoch bucket number each slot currently holds (-1: never used). */
  private readonly slotBucket: Float64Array;
  private readonly counts: Float64Array;

  constructor(opts: { windowMs: number; buckets: number; fields: number }) {
    if (!(opts.windowMs > 0) || !Number.isInteger(opts.buckets) || opts.buckets < 1 || !Number.isInteger(opts.fields) || opts.fields < 1) {
      throw new RangeError('SlidingWindow needs windowMs > 0, an integer buckets >= 1 and fields >= 1');
    }
    this.windowMs = opts.windowMs;
    this.buckets = opts.buckets;
    this.fields = opts.fields;
    this.bucketMs = opts.windowMs / opts.buckets;
    this.slotBucket = new Float64Array(opts.buckets).fill(-1);
    this.counts = new Float64Array(opts.buckets * opts.fields);
  }

  private bucketOf(at: number): number {
    return Math.floor(at / this.bucketMs);
  }

  /**
   * Adds `n` to `field` at time `at`. Returns false (and counts nothing) when `at` lies outside
   * the window ending at `now` (already expired, or after `now`: callers clamp clocks ahead).
   */
  add(at: number, field: number, n = 1, now = at): boolean {
    if (field < 0 || field >= this.fields) throw new RangeError(`field ${field} out of range`);
    const bucket = this.bucketOf(at);
    const current = this.bucketOf(now);
    if (bucket <= current - this.buckets || bucket > current) return false;
    const slot = ((bucket % this.buckets) + this.buckets) % this.buckets;
    if (this.slotBucket[slot] !== bucket) {
      // Within the window each slot maps to one bucket, so a different one there has expired
      // (a newer one could only be there if the clock went backwards: then `at` is stale).
      if ((this.slotBucket[slot] ?? -1) > bucket) return false;
      this.slotBucket[slot] = bucket;
      this.counts.fill(0, slot * this.fields, (slot + 1) * this.fields);
    }
    this.counts[slot * this.fields + field]! += n;
    return true;
  }

  /** Sums of every field over the window ending at `now`. */
  totals(now: number): number[] {
    const current = this.bucketOf(now);
    const out = new Array<number>(this.fields).fill(0);
    for (let slot = 0; slot < this.buckets; slot++) {
      const bucket = this.slotBucket[slot]!;
      if (bucket < 0 || bucket <= current - this.buckets || bucket > current) continue;
      for (let f = 0; f < this.fields; f++) out[f]! += this.counts[slot * this.fields + f]!;
    }
    return out;
  }
}
