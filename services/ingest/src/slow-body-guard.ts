/**
 * A minimum data rate for request bodies. After a grace period a body must have arrived at an
 * average of at least `minBytesPerS` since its request started, or it is cut: a sender trickling
 * one byte now and then would otherwise keep a request slot until the request timeout.
 * One timer checks every body being read, so thousands of readers cost one interval.
 */
export interface WatchedBody {
  /** Counts bytes received. */
  add(bytes: number): void;
  /** Stops watching (the body ended or failed). */
  done(): void;
}

interface Entry {
  startedAt: number;
  bytes: number;
  onSlow: () => void;
}

export class SlowBodyGuard {
  readonly minBytesPerS: number;
  readonly graceMs: number;
  private readonly checkEveryMs: number;
  private readonly now: () => number;
  private readonly entries = new Set<Entry>();
  private timer: NodeJS.Timeout | null = null;

  constructor(opts: { minBytesPerS: number; graceMs: number; now?: () => number }) {
    this.minBytesPerS = opts.minBytesPerS;
    this.graceMs = opts.graceMs;
    this.now = opts.now ?? Date.now;
    // Often enough that a cut comes close to when it is due, never more than a few times a second.
    this.checkEveryMs = Math.max(100, Math.min(1000, Math.floor(opts.graceMs / 2)));
  }

  get watching(): number {
    return this.entries.size;
  }

  /** Calls `onSlow` (once) if the body falls below the minimum rate before `done`. */
  watch(onSlow: () => void): WatchedBody {
    const entry: Entry = { startedAt: this.now(), bytes: 0, onSlow };
    this.entries.add(entry);
    this.timer ??= setInterval(() => this.check(), this.checkEveryMs).unref();
    return {
      add: (bytes) => {
        entry.bytes += bytes;
      },
      done: () => this.forget(entry),
    };
  }

  /** Cuts every body below the rate; public so tests can drive it with their own clock. */
  check(): void {
    const now = this.now();
    for (const entry of this.entries) {
      const elapsedMs = now - entry.startedAt;
      if (elapsedMs < this.graceMs) continue;
      if (entry.bytes < (this.minBytesPerS * elapsedMs) / 1000) {
        this.forget(entry);
        entry.onSlow();
      }
    }
  }

  /** Stops the timer (server close). */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private forget(entry: Entry): void {
    this.entries.delete(entry);
    if (this.entries.size === 0) this.stop();
  }
}
