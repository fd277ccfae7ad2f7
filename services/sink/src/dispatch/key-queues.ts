import type { CioError } from '../errors.ts';
import { v2BatchBytes } from '../mapping.ts';
import type { Entry } from './types.ts';

/** One key's (one person's) FIFO of events; at most its head is ever in flight. */
export interface KeyState {
  key: string;
  queue: Entry[];
  /** Head is in a request, a dead-letter write, or being parked. */
  busy: boolean;
  /** Head is backing off after a retryable failure. */
  waiting: boolean;
  timer: NodeJS.Timeout | undefined;
  failingSince: number | null;
  lastError: CioError | undefined;
}

export interface BatchLimits {
  maxBatchItems: number;
  /** Strict upper bound of a v2 batch body in bytes. */
  maxBatchBytes: number;
}

/**
 * The per-key scheduler: a queue per key and the ready line of keys whose head can be sent now,
 * FIFO (a Set keeps insertion order). Batches take the heads of many ready keys, so one person's
 * events never share a batch and reach Customer.io in offset order.
 */
export class KeyQueues {
  private readonly keys = new Map<string, KeyState>();
  private readonly ready = new Set<KeyState>();
  private blocked = 0;
  private readonly onBlockedChange: (blocked: number) => void;

  /** `onBlockedChange` hears the number of keys backing off whenever it changes (a gauge). */
  constructor(onBlockedChange: (blocked: number) => void = () => undefined) {
    this.onBlockedChange = onBlockedChange;
  }

  /** Appends an event to its key's queue; a key with nothing ahead becomes ready. */
  enqueue(key: string, entry: Entry): void {
    let ks = this.keys.get(key);
    if (!ks) {
      ks = { key, queue: [], busy: false, waiting: false, timer: undefined, failingSince: null, lastError: undefined };
      this.keys.set(key, ks);
    }
    ks.queue.push(entry);
    if (ks.queue.length === 1 && !ks.busy && !ks.waiting) this.ready.add(ks);
  }

  hasReady(): boolean {
    return this.ready.size > 0;
  }

  isReady(ks: KeyState): boolean {
    return this.ready.has(ks);
  }

  /** Takes a key out of the ready line (its head is about to be sent or dead-lettered). */
  take(ks: KeyState): void {
    this.ready.delete(ks);
  }

  /** The first ready key whose head can be sent (not an invalid one): the probe's candidate. */
  firstSendable(): KeyState | undefined {
    for (const ks of this.ready) if (!ks.queue[0]!.invalid) return ks;
    return undefined;
  }

  /** Every known key (for timers and halt bookkeeping). */
  all(): IterableIterator<KeyState> {
    return this.keys.values();
  }

  /** Keys backing off right now. */
  blockedCount(): number {
    return this.blocked;
  }

  /** Puts a key back in line, or forgets it when empty; a busy or waiting key stays out. */
  release(ks: KeyState): void {
    if (ks.busy || ks.waiting) return;
    if (ks.queue.length === 0) {
      this.keys.delete(ks.key);
      this.ready.delete(ks);
      return;
    }
    this.ready.add(ks);
  }

  /** Backs the key off for `delayMs`, then releases it and calls `wake`. */
  backOff(ks: KeyState, delayMs: number, wake: () => void): void {
    ks.waiting = true;
    this.onBlockedChange(++this.blocked);
    ks.timer = setTimeout(() => {
      ks.timer = undefined;
      ks.waiting = false;
      this.onBlockedChange(--this.blocked);
      this.release(ks);
      wake();
    }, delayMs);
  }

  /**
   * Removes the key's queued events matching `drop` that are not in flight, marks them dropped and
   * answers them. If the head that was backing off is gone, the next event starts fresh.
   */
  remove(ks: KeyState, drop: (e: Entry) => boolean): Entry[] {
    if (!ks.queue.some((e) => drop(e) && !e.busy)) return [];
    const removed: Entry[] = [];
    const headBefore = ks.queue[0];
    ks.queue = ks.queue.filter((e) => {
      if (!drop(e) || e.busy) return true;
      e.dropped = true;
      removed.push(e);
      return false;
    });
    if (ks.queue[0] !== headBefore && ks.waiting) {
      this.clearTimer(ks);
      ks.failingSince = null;
    }
    this.release(ks);
    return removed;
  }

  /** Cancels every backoff timer (the keys stay waiting: nothing more is sent). */
  stopTimers(): void {
    for (const ks of this.keys.values()) {
      if (ks.timer) clearTimeout(ks.timer);
      ks.timer = undefined;
    }
  }

  /**
   * Heads of ready keys, FIFO, within the item and byte limits, taken out of the ready line. Ready
   * heads that can never be sent are taken out too and answered apart, for the DLQ.
   */
  formBatch(limits: BatchLimits): { batch: KeyState[]; invalid: KeyState[] } {
    const batch: KeyState[] = [];
    const invalid: KeyState[] = [];
    let bytes = 0;
    let misfits = 0;
    for (const ks of this.ready) {
      if (batch.length >= limits.maxBatchItems) break;
      const head = ks.queue[0]!;
      if (head.invalid) {
        this.ready.delete(ks);
        invalid.push(ks);
        continue;
      }
      const item = head.item!;
      if (item.api === 'v2' && batch.length > 0 && v2BatchBytes(bytes + item.bytes, batch.length + 1) >= limits.maxBatchBytes) {
        if (++misfits >= 8) break; // a few smaller heads may still fit; don't scan every key
        continue;
      }
      this.ready.delete(ks);
      bytes += item.bytes;
      batch.push(ks);
    }
    return { batch, invalid };
  }

  private clearTimer(ks: KeyState): void {
    if (ks.timer) clearTimeout(ks.timer);
    ks.timer = undefined;
    ks.waiting = false;
    this.onBlockedChange(--this.blocked);
  }
}
