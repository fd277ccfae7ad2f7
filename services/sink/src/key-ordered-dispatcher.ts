import type { Logger } from '@cio-pipeline/core';
import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import type { StrippedIdentify } from './attribute-strip.ts';
import type { BatchSender, ItemResult } from './cio-client.ts';
import { CioConfigError, CioRejectedError, CioRetryableError, type CioError } from './errors.ts';
import { v2BatchBytes, type DeliveryItem } from './mapping.ts';
import type { SinkMetrics } from './metrics.ts';
import type { TokenBucket } from './token-bucket.ts';

/**
 * Key-ordered, batched, rate-limited delivery with Kafka-safe offset tracking.
 *
 * - Each key (canonical customer id) has a FIFO queue; at most one of its events is in flight, so
 *   one person's events reach Customer.io strictly in offset order and never share a batch.
 * - A batch gathers the heads of many ready keys (up to maxBatchItems / maxBatchBytes); up to
 *   `concurrency` batches are in flight. A rate-limit token is taken *before* a batch is formed,
 *   so while we wait for the rate limit more keys become ready and batches fill up.
 * - Per partition, the committable offset is the lowest offset not yet finished (delivered or
 *   dead-lettered): a crash redelivers, never skips.
 */

export interface SinkRecord {
  topic?: string;
  partition: number;
  offset: string | bigint;
  key: string;
  event: CanonicalEvent;
  /** The record value as read, for the dead-letter record. */
  raw: Buffer;
}

/** `attribute_rejected`: only the attributes Customer.io refused; the rest of the identify was re-sent. */
export type DeadLetterReason = 'rejected' | 'parked' | 'attribute_rejected';

export interface DeadLetterInfo {
  reason: DeadLetterReason;
  /** HTTP status of the last attempt (null: transport error, never sent, or not mappable). */
  status: number | null;
  /** Customer.io's error body or the transport error; null for a parked event never tried. */
  error: string | null;
  /** The request item as JSON (null when the event could not be mapped). */
  requestItem: string | null;
  attempts: number;
  firstAttemptAt: number | null;
}

export interface PartitionOffset {
  partition: number;
  /** Next offset to read (Kafka commit semantics), decimal string. */
  offset: string;
}

export interface DispatcherOptions {
  sender: BatchSender;
  /** Canonical event -> request item; a thrown CioRejectedError (MappingError) dead-letters the event. */
  prepare: (event: CanonicalEvent) => DeliveryItem;
  /**
   * A rejected identify that names some of its attributes: the identify without them (re-sent at
   * once, the key keeps its place) and what was taken out (dead-lettered). Null: dead-letter it all.
   */
  stripRejected?: (item: DeliveryItem, error: CioRejectedError) => StrippedIdentify | null;
  /** Writes one dead letter durably; offsets advance only after it resolves. Retried on failure. */
  deadLetter: (record: SinkRecord, info: DeadLetterInfo) => Promise<void>;
  /** Shared rate limit; the dispatcher takes one token per batch it starts. */
  bucket?: TokenBucket;
  concurrency: number;
  maxBatchItems: number;
  /** Strict upper bound of a v2 batch body in bytes. */
  maxBatchBytes: number;
  /** Items above this are rejected without sending (v2: 32 KB). */
  maxItemBytes?: number;
  /** Accepted-but-unfinished events above which onPressure(true) fires. */
  maxInFlightEvents: number;
  /** onPressure(false) fires at or below this; default half of maxInFlightEvents. */
  resumeBelowEvents?: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** A key failing (retryably) for this long is parked: its queued events go to the DLQ. */
  parkAfterMs: number;
  /** While halted on a config fault, how often to probe with one real item. */
  authProbeIntervalMs?: number;
  onAuthFailure?: (error: CioConfigError, info: { haltedSince: number; probes: number }) => void;
  onAuthRecovered?: (info: { haltedForMs: number }) => void;
  onPressure?: (paused: boolean) => void;
  metrics?: SinkMetrics;
  logger?: Logger;
  now?: () => number;
  random?: () => number;
}

/** One offset of a partition, finished or not (an Entry, or a skipped record). */
interface Slot {
  offset: bigint;
  done: boolean;
}

interface PartitionState {
  partition: number;
  entries: Slot[];
  head: number;
  lastOffset: bigint;
  /** Entries of this partition inside a request or a dead-letter write. */
  busy: number;
  revoking: boolean;
}

interface Entry {
  rec: SinkRecord;
  offset: bigint;
  part: PartitionState;
  item: DeliveryItem | undefined;
  /** Set when the event cannot be sent at all (unmappable, too large). */
  invalid: CioRejectedError | undefined;
  done: boolean;
  dropped: boolean;
  busy: boolean;
  attempts: number;
  firstAttemptAt: number | null;
}

interface KeyState {
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

interface Waiter {
  done: () => boolean;
  resolve: () => void;
}

export class DrainingError extends Error {
  constructor() {
    super('dispatcher is draining; no new records accepted');
  }
}

export class KeyOrderedDispatcher {
  private readonly o: DispatcherOptions;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly maxItemBytes: number;
  private readonly resumeBelow: number;
  private readonly probeMs: number;
  private readonly keys = new Map<string, KeyState>();
  /** Keys whose head can be sent now, in FIFO order (a Set keeps insertion order). */
  private readonly ready = new Set<KeyState>();
  private readonly partitions = new Map<number, PartitionState>();
  private revokingPartitions = 0;
  private waiters: Waiter[] = [];
  private pending = 0;
  private inFlightBatches = 0;
  private blockedKeys = 0;
  private pumping = false;
  private awaitingToken = false;
  private tokenHeld = false;
  private paused = false;
  private halted: { since: number; error: CioConfigError; probes: number; timer: NodeJS.Timeout | undefined } | undefined;
  private draining = false;
  private stopped = false;

  constructor(opts: DispatcherOptions) {
    this.o = opts;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.maxItemBytes = opts.maxItemBytes ?? 32 * 1024;
    this.resumeBelow = opts.resumeBelowEvents ?? Math.floor(opts.maxInFlightEvents / 2);
    this.probeMs = opts.authProbeIntervalMs ?? 15_000;
    if (opts.concurrency < 1 || opts.maxBatchItems < 1) throw new RangeError('concurrency and maxBatchItems must be >= 1');
  }

  /** Accepts records (in offset order per partition). Returns true while under the memory bound. */
  push(records: Iterable<SinkRecord>): boolean {
    if (this.draining || this.stopped) throw new DrainingError();
    try {
      for (const rec of records) this.accept(rec);
    } finally {
      // Records accepted before one that threw still go out.
      this.checkPressure();
      this.pump();
    }
    return !this.paused;
  }

  /**
   * Records an offset that carries nothing to deliver (a tombstone, or a record already handed
   * elsewhere), so the committable offset can move past it.
   */
  skip(partition: number, offset: string | bigint): void {
    const off = typeof offset === 'bigint' ? offset : BigInt(offset);
    const part = this.partitionState(partition);
    if (part.revoking || off <= part.lastOffset) return;
    part.lastOffset = off;
    if (part.head === part.entries.length) return; // nothing unfinished before it: next = off + 1
    part.entries.push({ offset: off, done: true });
  }

  /** Accepted events not yet finished (queued, backing off, or in flight). */
  inFlightCount(): number {
    return this.pending;
  }

  isPaused(): boolean {
    return this.paused;
  }

  isHalted(): boolean {
    return this.halted !== undefined;
  }

  /** For each known partition, the offset to commit: the lowest offset not yet finished. */
  committableOffsets(): PartitionOffset[] {
    const out: PartitionOffset[] = [];
    for (const p of this.partitions.values()) {
      const next = this.committable(p);
      if (next !== undefined) out.push({ partition: p.partition, offset: next.toString() });
    }
    return out;
  }

  /**
   * Partitions taken away: drops their queued-but-unsent events (the next owner reads them again),
   * waits for their requests and dead-letter writes in flight, and answers the final offsets to
   * commit for them before letting go.
   */
  async revoke(partitions: Iterable<number>): Promise<PartitionOffset[]> {
    const states: PartitionState[] = [];
    for (const n of partitions) {
      const p = this.partitions.get(n);
      if (p) {
        if (!p.revoking) this.revokingPartitions++;
        p.revoking = true;
        states.push(p);
      }
    }
    if (states.length === 0) return [];
    for (const ks of [...this.keys.values()]) this.dropRevoked(ks);
    this.checkPressure();
    await this.waitFor(() => states.every((p) => p.busy === 0));
    const out: PartitionOffset[] = [];
    for (const p of states) {
      const next = this.committable(p);
      if (next !== undefined) out.push({ partition: p.partition, offset: next.toString() });
      if (this.partitions.get(p.partition) === p) this.partitions.delete(p.partition);
      this.revokingPartitions--;
    }
    this.pump();
    return out;
  }

  /**
   * Graceful shutdown: accepts nothing new, keeps delivering until everything is finished or the
   * timeout passes, then stops starting requests and waits for those in flight. True if all finished.
   */
  async drain(timeoutMs = 30_000): Promise<boolean> {
    this.draining = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([this.waitFor(() => this.pending === 0), timedOut]);
    clearTimeout(timer);
    await this.stop();
    return result !== 'timeout';
  }

  /** Stops sending; waits for requests and dead-letter writes in flight. Queued events stay unfinished. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.halted?.timer) clearTimeout(this.halted.timer);
    for (const ks of this.keys.values()) {
      if (ks.timer) clearTimeout(ks.timer);
      ks.timer = undefined;
    }
    await this.waitFor(() => this.inFlightBatches === 0 && [...this.partitions.values()].every((p) => p.busy === 0));
  }

  // ---- intake -------------------------------------------------------------------------------

  private accept(rec: SinkRecord): void {
    const offset = typeof rec.offset === 'bigint' ? rec.offset : BigInt(rec.offset);
    const part = this.partitionState(rec.partition);
    // A revoked partition's stragglers, or a record seen already: the owner reads them again.
    if (part.revoking || offset <= part.lastOffset) return;
    const entry: Entry = {
      rec, offset, part, item: undefined, invalid: undefined, done: false, dropped: false, busy: false, attempts: 0, firstAttemptAt: null,
    };
    try {
      entry.item = this.o.prepare(rec.event);
      if (entry.item.api === 'v2' && entry.item.bytes > this.maxItemBytes) {
        entry.invalid = new CioRejectedError(null, JSON.stringify({ errors: [{ reason: 'too_large', message: `item is ${entry.item.bytes} bytes, limit ${this.maxItemBytes}` }] }));
      }
    } catch (err) {
      // Anything but a rejection propagates with the offset left unseen, so the redelivered record
      // is accepted again instead of being skipped (and committed past) forever.
      if (!(err instanceof CioRejectedError)) throw err;
      entry.invalid = err;
    }
    part.lastOffset = offset;
    part.entries.push(entry);
    this.pending++;
    let ks = this.keys.get(rec.key);
    if (!ks) {
      ks = { key: rec.key, queue: [], busy: false, waiting: false, timer: undefined, failingSince: null, lastError: undefined };
      this.keys.set(rec.key, ks);
    }
    ks.queue.push(entry);
    if (ks.queue.length === 1 && !ks.busy && !ks.waiting) this.ready.add(ks);
  }

  private partitionState(partition: number): PartitionState {
    let part = this.partitions.get(partition);
    if (!part) {
      part = { partition, entries: [], head: 0, lastOffset: -1n, busy: 0, revoking: false };
      this.partitions.set(partition, part);
    }
    return part;
  }

  // ---- sending ------------------------------------------------------------------------------

  /**
   * The only place batches start. Synchronous, so `pumping` can never hide a wake-up; the one
   * asynchronous step, waiting for a rate-limit token, re-enters pump() when the token arrives.
   * The token is taken before the batch is formed, so keys that become ready meanwhile ride along.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.canStart()) {
        const bucket = this.o.bucket;
        if (bucket && !this.tokenHeld) {
          if (this.awaitingToken) return;
          this.awaitingToken = true;
          bucket.take().then(
            () => {
              this.awaitingToken = false;
              this.tokenHeld = true;
              this.pump();
            },
            () => {
              this.awaitingToken = false; // bucket closed: shutting down
            },
          );
          return;
        }
        const batch = this.formBatch();
        if (batch.length === 0) continue;
        this.tokenHeld = false;
        void this.runBatch(batch, false);
      }
    } finally {
      this.pumping = false;
    }
  }

  private canStart(): boolean {
    return !this.stopped && !this.halted && this.inFlightBatches < this.o.concurrency && this.ready.size > 0;
  }

  /** Heads of ready keys, FIFO, within the item and byte limits; invalid heads go to the DLQ. */
  private formBatch(): KeyState[] {
    const batch: KeyState[] = [];
    let bytes = 0;
    let misfits = 0;
    for (const ks of this.ready) {
      if (batch.length >= this.o.maxBatchItems) break;
      const head = ks.queue[0]!;
      if (head.invalid) {
        this.ready.delete(ks);
        void this.rejectHead(ks, head.invalid);
        continue;
      }
      const item = head.item!;
      if (item.api === 'v2' && batch.length > 0 && v2BatchBytes(bytes + item.bytes, batch.length + 1) >= this.o.maxBatchBytes) {
        if (++misfits >= 8) break; // a few smaller heads may still fit; don't scan every key
        continue;
      }
      this.ready.delete(ks);
      bytes += item.bytes;
      batch.push(ks);
    }
    return batch;
  }

  private async runBatch(batch: KeyState[], probe: boolean): Promise<void> {
    this.inFlightBatches++;
    const startedAt = this.now();
    const entries = batch.map((ks) => ks.queue[0]!);
    for (let i = 0; i < batch.length; i++) {
      const e = entries[i]!;
      this.setBusy(batch[i]!, e, true);
      e.attempts++;
      e.firstAttemptAt ??= startedAt;
    }
    this.o.metrics?.batchItems.observe(batch.length);
    let results: ItemResult[];
    try {
      results = await this.o.sender.sendBatch(
        entries.map((e) => e.item!),
        { tokenHeld: this.o.bucket !== undefined },
      );
      if (results.length !== entries.length) throw new Error(`sender answered ${results.length} results for ${entries.length} items`);
    } catch (err) {
      // A sender bug, not Customer.io: retry like a transport error rather than lose events.
      this.o.logger?.error({ err }, 'batch sender failed unexpectedly');
      const e = new CioRetryableError(null, `sender failed: ${(err as Error).message}`, { cause: err });
      results = entries.map(() => ({ ok: false, error: e }));
    }
    this.inFlightBatches--;

    if (probe && this.halted) {
      const configFault = results.find((r): r is { ok: false; error: CioConfigError } => !r.ok && r.error instanceof CioConfigError);
      if (configFault) this.probeFailed(configFault.error);
      else if (results.every((r) => !r.ok && r.error instanceof CioRetryableError)) this.scheduleProbe();
      else this.resume();
    }
    for (let i = 0; i < batch.length; i++) this.settle(batch[i]!, entries[i]!, results[i]!);
    this.notify();
    this.pump();
  }

  private settle(ks: KeyState, entry: Entry, result: ItemResult): void {
    if (result.ok) {
      this.o.metrics?.delivered.inc({ kind: entry.rec.event.kind });
      this.o.metrics?.lag.observe(Math.max(0, (this.now() - entry.rec.event.occurred_at) / 1000));
      this.finishHead(ks, entry);
      return;
    }
    const error = result.error;
    if (error instanceof CioRejectedError) {
      const stripped = entry.item && this.o.stripRejected ? this.o.stripRejected(entry.item, error) : null;
      if (stripped) void this.stripAndResend(ks, entry, stripped, error);
      else void this.rejectHead(ks, error);
    } else if (error instanceof CioConfigError) {
      entry.attempts--; // our fault, not the event's
      this.setBusy(ks, entry, false);
      this.halt(error);
      this.requeue(ks);
    } else {
      this.retryLater(ks, entry, error);
    }
  }

  // ---- outcomes -----------------------------------------------------------------------------

  private finishHead(ks: KeyState, entry: Entry): void {
    if (ks.queue[0] !== entry) throw new Error('internal: finished entry is not the head of its key');
    ks.queue.shift();
    this.setBusy(ks, entry, false);
    this.markDone(entry);
    ks.failingSince = null;
    ks.lastError = undefined;
    this.requeue(ks);
    this.checkPressure();
  }

  /** Puts a key back in line (or forgets it) after its head left the busy state. */
  private requeue(ks: KeyState): void {
    this.dropRevoked(ks);
    if (ks.busy || ks.waiting) return;
    if (ks.queue.length === 0) {
      this.keys.delete(ks.key);
      this.ready.delete(ks);
      return;
    }
    this.ready.add(ks);
  }

  private async rejectHead(ks: KeyState, error: CioRejectedError): Promise<void> {
    const entry = ks.queue[0]!;
    this.setBusy(ks, entry, true);
    const ok = await this.writeDeadLetter(entry, {
      reason: 'rejected',
      status: error.status,
      error: error.body || error.message,
      requestItem: entry.item?.json ?? null,
      attempts: entry.attempts,
      firstAttemptAt: entry.firstAttemptAt,
    });
    if (ok) this.finishHead(ks, entry);
    else this.setBusy(ks, entry, false);
    this.notify();
    this.pump();
  }

  /**
   * Dead-letters the refused attributes, then puts the rest of the identify back at the head of its
   * key: the customer's later events still wait for it. Each pass removes at least one attribute.
   */
  private async stripAndResend(ks: KeyState, entry: Entry, stripped: StrippedIdentify, error: CioRejectedError): Promise<void> {
    this.setBusy(ks, entry, true);
    const ok = await this.writeDeadLetter(entry, {
      reason: 'attribute_rejected',
      status: error.status,
      error: error.body || error.message,
      requestItem: JSON.stringify({ attributes: stripped.removed }),
      attempts: entry.attempts,
      firstAttemptAt: entry.firstAttemptAt,
    });
    if (ok) {
      entry.item = stripped.item;
      this.o.logger?.warn({ event_id: entry.rec.event.event_id, attributes: Object.keys(stripped.removed), status: error.status }, 'identify attributes refused by Customer.io: dead-lettered, the rest re-sent');
    }
    this.setBusy(ks, entry, false);
    this.requeue(ks);
    this.notify();
    this.pump();
  }

  private retryLater(ks: KeyState, entry: Entry, error: CioRetryableError): void {
    const now = this.now();
    this.o.metrics?.retried.inc({ status: statusLabel(error.status) });
    ks.failingSince ??= now;
    ks.lastError = error;
    this.setBusy(ks, entry, false);
    if (entry.part.revoking) {
      this.requeue(ks); // dropped: the next owner of the partition retries it
      return;
    }
    const remaining = ks.failingSince + this.o.parkAfterMs - now;
    if (remaining <= 0) {
      void this.park(ks, error);
      return;
    }
    if (this.stopped) {
      this.requeue(ks);
      return;
    }
    const delay = this.backoff(entry.attempts, error.retryAfterMs, remaining);
    ks.waiting = true;
    this.setBlocked(1);
    ks.timer = setTimeout(() => {
      ks.timer = undefined;
      ks.waiting = false;
      this.setBlocked(-1);
      this.requeue(ks);
      this.pump();
    }, delay);
  }

  /** Exponential backoff with equal jitter; Retry-After is a floor, not a suggestion. */
  private backoff(attempts: number, retryAfterMs: number | undefined, remainingMs = Infinity): number {
    const exp = Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** Math.max(0, attempts - 1));
    const jittered = exp / 2 + (this.random() * exp) / 2;
    if (retryAfterMs !== undefined) return retryAfterMs + this.random() * Math.min(this.o.retryBaseMs, retryAfterMs * 0.1 + 1);
    // The last attempt happens at the park deadline rather than after it.
    return Math.max(0, Math.min(jittered, remainingMs));
  }

  /** The key kept failing: its head and everything queued behind it go to the DLQ, in order. */
  private async park(ks: KeyState, error: CioRetryableError): Promise<void> {
    ks.busy = true;
    const snapshot = [...ks.queue];
    this.o.logger?.warn({ key: ks.key, events: snapshot.length, status: error.status }, 'parking a key that kept failing');
    this.o.metrics?.parkedKeys.inc();
    for (const entry of snapshot) {
      if (entry.dropped || ks.queue[0] !== entry) continue;
      entry.busy = true;
      entry.part.busy++;
      const ok = await this.writeDeadLetter(entry, {
        reason: 'parked',
        status: entry.attempts > 0 ? error.status : null,
        error: entry.attempts > 0 ? error.body || error.message : null,
        requestItem: entry.item?.json ?? null,
        attempts: entry.attempts,
        firstAttemptAt: entry.firstAttemptAt,
      });
      entry.busy = false;
      entry.part.busy--;
      this.notify();
      if (!ok) break;
      ks.queue.shift();
      this.markDone(entry);
      this.notify();
    }
    ks.busy = false;
    ks.failingSince = null;
    ks.lastError = undefined;
    this.requeue(ks);
    this.checkPressure();
    this.notify();
    this.pump();
  }

  /** Retries the DLQ write until it succeeds or the dispatcher stops (then the event stays unfinished). */
  private async writeDeadLetter(entry: Entry, info: DeadLetterInfo): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.o.deadLetter(entry.rec, info);
        this.o.metrics?.deadLettered.inc({ status: statusLabel(info.status), reason: info.reason });
        return true;
      } catch (err) {
        this.o.logger?.error({ err, attempt, event_id: entry.rec.event.event_id }, 'dead-letter write failed; retrying');
        if (this.stopped) return false;
        await sleep(Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** Math.min(attempt, 16)));
        if (this.stopped) return false;
      }
    }
  }

  // ---- configuration faults -----------------------------------------------------------------

  private halt(error: CioConfigError): void {
    if (this.halted) return;
    this.halted = { since: this.now(), error, probes: 0, timer: undefined };
    this.o.metrics?.authHalted.set(1);
    this.o.logger?.fatal({ code: error.code, status: error.status }, 'Customer.io refused our configuration: delivery halted, offsets held');
    this.o.onAuthFailure?.(error, { haltedSince: this.halted.since, probes: 0 });
    this.scheduleProbe();
  }

  private probeFailed(error: CioConfigError): void {
    const h = this.halted!;
    h.probes++;
    h.error = error;
    this.o.logger?.fatal({ code: error.code, status: error.status, probes: h.probes, haltedForMs: this.now() - h.since }, 'Customer.io still refuses our configuration');
    this.o.onAuthFailure?.(error, { haltedSince: h.since, probes: h.probes });
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    const h = this.halted;
    if (!h || this.stopped) return;
    if (h.timer) clearTimeout(h.timer);
    h.timer = setTimeout(() => {
      h.timer = undefined;
      void this.probe();
    }, this.probeMs);
  }

  /** One real item (idempotent: deterministic event id) tells whether the fault is fixed. */
  private async probe(): Promise<void> {
    if (!this.halted || this.stopped) return;
    const ks = [...this.ready].find((k) => !k.queue[0]!.invalid);
    if (!ks) {
      this.scheduleProbe();
      return;
    }
    if (this.o.bucket) await this.o.bucket.take().catch(() => undefined);
    if (!this.halted || this.stopped || !this.ready.has(ks)) {
      this.o.bucket?.refund();
      this.scheduleProbe();
      return;
    }
    this.ready.delete(ks);
    await this.runBatch([ks], true);
  }

  private resume(): void {
    const h = this.halted!;
    if (h.timer) clearTimeout(h.timer);
    this.halted = undefined;
    const haltedFor = this.now() - h.since;
    // Time spent halted was not the keys' fault: don't let it count toward parking.
    for (const ks of this.keys.values()) if (ks.failingSince !== null) ks.failingSince += haltedFor;
    this.o.metrics?.authHalted.set(0);
    this.o.logger?.warn({ haltedForMs: haltedFor }, 'Customer.io accepts our configuration again: delivery resumed');
    this.o.onAuthRecovered?.({ haltedForMs: haltedFor });
  }

  // ---- bookkeeping --------------------------------------------------------------------------

  private setBusy(ks: KeyState, entry: Entry, busy: boolean): void {
    ks.busy = busy;
    if (entry.busy === busy) return;
    entry.busy = busy;
    entry.part.busy += busy ? 1 : -1;
    this.o.metrics?.inFlightRequests.inc(busy ? 1 : -1);
    if (!busy) this.notify();
  }

  private setBlocked(delta: number): void {
    this.blockedKeys += delta;
    this.o.metrics?.keysBlocked.set(this.blockedKeys);
  }

  /** Removes queued events of revoking partitions that are not in flight. */
  private dropRevoked(ks: KeyState): void {
    if (this.revokingPartitions === 0 || !ks.queue.some((e) => e.part.revoking && !e.busy)) return;
    const headBefore = ks.queue[0];
    ks.queue = ks.queue.filter((e) => {
      if (!e.part.revoking || e.busy) return true;
      e.dropped = true;
      this.pending--;
      return false;
    });
    if (ks.queue[0] !== headBefore && ks.waiting) {
      // The head that was backing off is gone; the next event starts fresh.
      if (ks.timer) clearTimeout(ks.timer);
      ks.timer = undefined;
      ks.waiting = false;
      this.setBlocked(-1);
      ks.failingSince = null;
    }
    if (!ks.busy && !ks.waiting) {
      if (ks.queue.length === 0) {
        this.keys.delete(ks.key);
        this.ready.delete(ks);
      } else this.ready.add(ks);
    }
    this.notify();
  }

  private markDone(entry: Entry): void {
    entry.done = true;
    this.pending--;
    const p = entry.part;
    while (p.head < p.entries.length && p.entries[p.head]!.done) p.head++;
    if (p.head > 1024 && p.head * 2 > p.entries.length) {
      p.entries = p.entries.slice(p.head);
      p.head = 0;
    }
    this.o.metrics?.pending.set(this.pending);
    this.notify();
  }

  private committable(p: PartitionState): bigint | undefined {
    if (p.head < p.entries.length) return p.entries[p.head]!.offset;
    return p.lastOffset >= 0n ? p.lastOffset + 1n : undefined;
  }

  private checkPressure(): void {
    this.o.metrics?.pending.set(this.pending);
    if (!this.paused && this.pending > this.o.maxInFlightEvents) {
      this.paused = true;
      this.o.onPressure?.(true);
    } else if (this.paused && this.pending <= this.resumeBelow) {
      this.paused = false;
      this.o.onPressure?.(false);
    }
  }

  private waitFor(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ done, resolve }));
  }

  private notify(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.done()) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }
}

function statusLabel(status: number | null): string {
  return status === null ? 'none' : String(status);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
