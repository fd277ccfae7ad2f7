/**
 * One token bucket for the whole workspace rate limit, shared by every concurrent request.
 * Adaptive (AIMD): a 429 halves the rate (not below a floor, at most once per cooldown so one
 * burst of 429s counts once); after the cooldown the rate climbs back linearly to the configured max.
 */

export interface TokenBucketOptions {
  /** Configured requests per second: the ceiling the rate recovers to. */
  ratePerSec: number;
  /** Tokens that may accumulate while idle; default a tenth of a second's worth (at least 1). */
  burst?: number;
  /** Lowest rate a 429 can push us to; default max(1, 5% of the max). */
  minRatePerSec?: number;
  /** Multiplier applied on a 429. */
  decreaseFactor?: number;
  /** Requests/s regained per second after the cooldown; default 10% of the max. */
  increasePerSec?: number;
  /** No increase and no further decrease this long after a decrease. */
  cooldownMs?: number;
  /** Called whenever a take() has to wait (for the rate-limit-waits metric). */
  onWait?: () => void;
  now?: () => number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class TokenBucket {
  private maxRate: number;
  private minRate: number;
  private burst: number;
  /** Burst given explicitly (kept when the ceiling moves) rather than derived from the rate. */
  private readonly fixedBurst: number | undefined;
  private readonly decreaseFactor: number;
  private increasePerSec: number;
  private readonly cooldownMs: number;
  private readonly onWait: (() => void) | undefined;
  private readonly now: () => number;
  private rate: number;
  private tokens: number;
  private last: number;
  private lastDecrease = -Infinity;
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** How many take() calls had to wait. */
  waits = 0;
  /** How many times a 429 lowered the rate. */
  decreases = 0;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.ratePerSec > 0)) throw new RangeError('ratePerSec must be > 0');
    this.maxRate = opts.ratePerSec;
    this.minRate = Math.min(opts.ratePerSec, opts.minRatePerSec ?? Math.max(1, opts.ratePerSec * 0.05));
    this.fixedBurst = opts.burst;
    this.burst = Math.max(1, opts.burst ?? Math.ceil(opts.ratePerSec / 10));
    this.decreaseFactor = opts.decreaseFactor ?? 0.5;
    this.increasePerSec = opts.increasePerSec ?? opts.ratePerSec * 0.1;
    this.cooldownMs = opts.cooldownMs ?? 1000;
    this.onWait = opts.onWait;
    this.now = opts.now ?? (() => performance.now());
    this.rate = this.maxRate;
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** The ceiling the rate recovers to (this instance's share of the workspace limit). */
  ceiling(): number {
    return this.maxRate;
  }

  /**
   * Moves the ceiling (another instance joined or left the group). A rate lowered by 429s stays
   * lowered in proportion; floor, recovery speed and a derived burst scale with it.
   */
  setCeiling(ratePerSec: number): void {
    if (!(ratePerSec > 0)) throw new RangeError('ratePerSec must be > 0');
    this.refill();
    const scale = ratePerSec / this.maxRate;
    if (scale === 1) return;
    this.maxRate = ratePerSec;
    this.rate *= scale;
    this.minRate *= scale;
    this.increasePerSec *= scale;
    this.burst = Math.max(1, this.fixedBurst ?? Math.ceil(ratePerSec / 10));
    this.tokens = Math.min(this.tokens, this.burst);
    // A waiter scheduled at the old rate is re-timed at the new one.
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.schedule();
    }
  }

  /** Current (possibly lowered) rate in requests per second. */
  currentRate(): number {
    this.refill();
    return this.rate;
  }

  /** Resolves when a token is taken; FIFO among waiters. */
  take(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('token bucket closed'));
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    this.waits++;
    this.onWait?.();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.schedule();
    });
  }

  /** Returns a token that was taken but not used (e.g. nothing left to send). */
  refund(): void {
    this.refill();
    this.tokens = Math.min(this.burst, this.tokens + 1);
    this.serve();
  }

  /** A 429 arrived: slow down. */
  throttled(): void {
    const now = this.now();
    this.refill();
    if (now - this.lastDecrease < this.cooldownMs) return;
    this.rate = Math.max(this.minRate, this.rate * this.decreaseFactor);
    this.lastDecrease = now;
    this.decreases++;
    // Drop the saved-up burst too: it was earned at the rate that just proved too high.
    this.tokens = Math.min(this.tokens, 1);
  }

  /** Rejects every waiter; later take() calls reject. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiters.splice(0)) w.reject(new Error('token bucket closed'));
  }

  private refill(): void {
    const now = this.now();
    const elapsedMs = now - this.last;
    if (elapsedMs <= 0) return;
    this.last = now;
    // Additive increase only after the cooldown, and only for the time past it.
    if (this.rate < this.maxRate) {
      const growFrom = Math.max(now - elapsedMs, this.lastDecrease + this.cooldownMs);
      if (now > growFrom) this.rate = Math.min(this.maxRate, this.rate + (this.increasePerSec * (now - growFrom)) / 1000);
    }
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs / 1000) * this.rate);
  }

  private serve(): void {
    while (this.waiters.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.waiters.shift()!.resolve();
    }
    if (this.waiters.length > 0) this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    const needed = Math.max(0, 1 - this.tokens);
    const delay = Math.max(1, Math.ceil((needed / this.rate) * 1000));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      this.serve();
    }, delay);
  }
}
