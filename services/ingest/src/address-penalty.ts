/**
 * Addresses that keep failing authentication are shut out for a while: their new connections are
 * dropped on accept. Answering a flood of unauthenticated requests costs about as much as serving
 * real ones (a connection, a parser, an answer), so a single flooding address could otherwise
 * halve ingest's throughput; dropping its connections costs a small fraction of that.
 * Refusals are counted per address in one-second windows.
 */
interface Entry {
  windowStart: number;
  refusals: number;
  blockedUntil: number;
}

export class AddressPenalty {
  readonly maxRefusalsPerS: number;
  readonly blockMs: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();
  private sweeper: NodeJS.Timeout | null = null;

  /** `maxRefusalsPerS` 0 turns the penalty off. */
  constructor(opts: { maxRefusalsPerS: number; blockMs: number; now?: () => number }) {
    this.maxRefusalsPerS = opts.maxRefusalsPerS;
    this.blockMs = opts.blockMs;
    this.now = opts.now ?? Date.now;
  }

  /** Addresses tracked (refusing recently or blocked): bounded by the sweep. */
  get tracked(): number {
    return this.entries.size;
  }

  /** Counts an authentication failure; true when this one got the address blocked. */
  recordRefusal(address: string): boolean {
    if (this.maxRefusalsPerS === 0) return false;
    const now = this.now();
    let entry = this.entries.get(address);
    if (entry === undefined) {
      entry = { windowStart: now, refusals: 0, blockedUntil: 0 };
      this.entries.set(address, entry);
      this.sweeper ??= setInterval(() => this.sweep(), 1000).unref();
    }
    if (now - entry.windowStart >= 1000) {
      entry.windowStart = now;
      entry.refusals = 0;
    }
    entry.refusals++;
    if (entry.refusals > this.maxRefusalsPerS && entry.blockedUntil <= now) {
      entry.blockedUntil = now + this.blockMs;
      return true;
    }
    return false;
  }

  isBlocked(address: string): boolean {
    const entry = this.entries.get(address);
    return entry !== undefined && entry.blockedUntil > this.now();
  }

  /** Forgets addresses neither blocked nor refused within the last window. */
  sweep(): void {
    const now = this.now();
    for (const [address, entry] of this.entries) {
      if (entry.blockedUntil <= now && now - entry.windowStart >= 1000) this.entries.delete(address);
    }
    if (this.entries.size === 0) this.stop();
  }

  stop(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }
}
