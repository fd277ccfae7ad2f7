import type { StrippedIdentify } from './attribute-strip.ts';
import type { ItemResult } from './cio-client.ts';
import { deliveredAnswer, noteRefused, rejectedAnswer } from './dispatch/answers.ts';
import { retryDelay } from './dispatch/backoff.ts';
import { ConfigHalt } from './dispatch/config-halt.ts';
import { attributeRejectedInfo, parkedInfo, rejectedInfo, writeDeadLetterWithRetry } from './dispatch/dead-letters.ts';
import { prepareEntry } from './dispatch/intake.ts';
import { KeyQueues, type KeyState } from './dispatch/key-queues.ts';
import { PartitionOffsets } from './dispatch/partition-offsets.ts';
import { Pressure } from './dispatch/pressure.ts';
import type { DeadLetterInfo, DispatcherOptions, Entry, FinalAnswer, PartitionOffset, SinkRecord } from './dispatch/types.ts';
import { Waiters } from './dispatch/waiters.ts';
import { CioConfigError, CioRejectedError, CioRetryableError, DrainingError } from './errors.ts';
import { kindLabel, statusLabel } from './metrics.ts';

export type { DeadLetterInfo, DeadLetterReason, DispatcherOptions, FinalAnswer, PartitionOffset, SinkRecord } from './dispatch/types.ts';

/**
 * Key-ordered, batched, rate-limited delivery with Kafka-safe offset tracking. This class only
 * orchestrates; each concern lives in its own module under dispatch/:
 * - KeyQueues: a FIFO per key (canonical customer id) and the ready line; at most one event of a
 *   key is in flight, so one person's events reach Customer.io in offset order, never in one batch.
 * - PartitionOffsets: per partition, the committable offset is the lowest offset not yet finished
 *   (delivered or dead-lettered): a crash redelivers, never skips.
 * - ConfigHalt: halt-and-probe while Customer.io refuses our configuration; backoff: retry timing;
 *   dead-letters: the DLQ write and its reasons; answers: what a receipt records; Pressure: when
 *   to pause the consumer.
 * A batch gathers the heads of many ready keys; up to `concurrency` batches are in flight. A
 * rate-limit token is taken *before* a batch is formed, so more keys become ready while we wait.
 */
export class KeyOrderedDispatcher {
  private readonly o: DispatcherOptions;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly maxItemBytes: number;
  private readonly pressure: Pressure;
  private readonly keys: KeyQueues;
  private readonly offsets = new PartitionOffsets();
  private readonly halt: ConfigHalt;
  private readonly waiters = new Waiters();
  private pending = 0;
  private inFlightBatches = 0;
  private pumping = false;
  private awaitingToken = false;
  private tokenHeld = false;
  private draining = false;
  private stopped = false;

  constructor(opts: DispatcherOptions) {
    this.o = opts;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.maxItemBytes = opts.maxItemBytes ?? 32 * 1024;
    this.pressure = new Pressure(opts.maxInFlightEvents, opts.resumeBelowEvents ?? Math.floor(opts.maxInFlightEvents / 2), opts.onPressure);
    if (opts.concurrency < 1 || opts.maxBatchItems < 1) throw new RangeError('concurrency and maxBatchItems must be >= 1');
    this.keys = new KeyQueues((blocked) => opts.metrics?.keysBlocked.set(blocked));
    this.halt = new ConfigHalt({ ...opts, probeIntervalMs: opts.authProbeIntervalMs ?? 15_000, probe: () => void this.probe(), now: this.now });
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
    return !this.pressure.isOn();
  }

  /**
   * Records an offset that carries nothing to deliver (a tombstone, or a record already handed
   * elsewhere), so the committable offset can move past it.
   */
  skip(partition: number, offset: string | bigint): void {
    this.offsets.skip(partition, typeof offset === 'bigint' ? offset : BigInt(offset));
  }

  /** Accepted events not yet finished (queued, backing off, or in flight). */
  inFlightCount(): number {
    return this.pending;
  }

  isPaused(): boolean {
    return this.pressure.isOn();
  }

  isHalted(): boolean {
    return this.halt.isHalted();
  }

  /** For each known partition, the offset to commit: the lowest offset not yet finished. */
  committableOffsets(): PartitionOffset[] {
    return this.offsets.committableOffsets();
  }

  /**
   * Partitions taken away: drops their queued-but-unsent events (the next owner reads them again),
   * waits for their requests and dead-letter writes in flight, and answers the final offsets to
   * commit for them before letting go.
   */
  async revoke(partitions: Iterable<number>): Promise<PartitionOffset[]> {
    const states = this.offsets.beginRevoke(partitions);
    if (states.length === 0) return [];
    for (const ks of [...this.keys.all()]) this.dropRevoked(ks);
    this.checkPressure();
    await this.waiters.waitFor(() => states.every((p) => p.busy === 0));
    const out = this.offsets.finishRevoke(states);
    this.pump();
    return out;
  }

  /**
   * Graceful shutdown: accepts nothing new, keeps delivering until everything is finished or the
   * timeout passes, then stops starting requests and waits for those in flight. True if all finished.
   */
  async drain(timeoutMs = 30_000): Promise<boolean> {
    this.draining = true;
    const finished = await this.waiters.waitForWithin(() => this.pending === 0, timeoutMs);
    await this.stop();
    return finished;
  }

  /** Stops sending; waits for requests and dead-letter writes in flight. Queued events stay unfinished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.halt.stop();
    this.keys.stopTimers();
    await this.waiters.waitFor(() => this.inFlightBatches === 0 && this.offsets.allIdle());
  }

  // ---- intake -------------------------------------------------------------------------------
  private accept(rec: SinkRecord): void {
    const offset = typeof rec.offset === 'bigint' ? rec.offset : BigInt(rec.offset);
    const part = this.offsets.state(rec.partition);
    // A revoked partition's stragglers, or a record seen already: the owner reads them again.
    if (!this.offsets.isNew(part, offset)) return;
    // Throws (offset left unseen, so the redelivery is accepted again) on anything but a rejection.
    const entry = prepareEntry(rec, offset, part, this.o.prepare, this.maxItemBytes);
    this.offsets.track(part, entry);
    this.pending++;
    this.keys.enqueue(rec.key, entry);
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
        const { batch, invalid } = this.keys.formBatch(this.o);
        for (const ks of invalid) void this.rejectHead(ks, ks.queue[0]!.invalid!);
        if (batch.length === 0) continue;
        this.tokenHeld = false;
        void this.runBatch(batch, false);
      }
    } finally {
      this.pumping = false;
    }
  }

  private canStart(): boolean {
    return !this.stopped && !this.halt.isHalted() && this.inFlightBatches < this.o.concurrency && this.keys.hasReady();
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

    if (probe) {
      const haltedFor = this.halt.judgeProbe(results);
      // Time spent halted was not the keys' fault: don't let it count toward parking.
      if (haltedFor !== undefined) for (const ks of this.keys.all()) if (ks.failingSince !== null) ks.failingSince += haltedFor;
    }
    for (let i = 0; i < batch.length; i++) this.settle(batch[i]!, entries[i]!, results[i]!);
    this.waiters.notify();
    this.pump();
  }

  private settle(ks: KeyState, entry: Entry, result: ItemResult): void {
    if (result.ok) {
      this.o.metrics?.delivered.inc({ kind: kindLabel(entry.rec.event.kind) });
      this.o.metrics?.lag.observe(Math.max(0, (this.now() - entry.rec.event.occurred_at) / 1000));
      this.finishHead(ks, entry, deliveredAnswer(entry, result.status));
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
      this.halt.halt(error);
      this.requeue(ks);
    } else {
      this.retryLater(ks, entry, error);
    }
  }

  /** One real item (idempotent: deterministic event id) tells whether the fault is fixed. */
  private async probe(): Promise<void> {
    if (!this.halt.isHalted() || this.stopped) return;
    const ks = this.keys.firstSendable();
    if (!ks) {
      this.halt.scheduleProbe();
      return;
    }
    if (this.o.bucket) await this.o.bucket.take().catch(() => undefined);
    if (!this.halt.isHalted() || this.stopped || !this.keys.isReady(ks)) {
      this.o.bucket?.refund();
      this.halt.scheduleProbe();
      return;
    }
    this.keys.take(ks);
    await this.runBatch([ks], true);
  }

  // ---- outcomes -----------------------------------------------------------------------------
  private finishHead(ks: KeyState, entry: Entry, answer: FinalAnswer): void {
    if (ks.queue[0] !== entry) throw new Error('internal: finished entry is not the head of its key');
    ks.queue.shift();
    this.setBusy(ks, entry, false);
    this.markDone(entry, answer);
    ks.failingSince = null;
    ks.lastError = undefined;
    this.requeue(ks);
    this.checkPressure();
  }

  /** Puts a key back in line (or forgets it) after its head left the busy state. */
  private requeue(ks: KeyState): void {
    this.dropRevoked(ks);
    this.keys.release(ks);
  }

  private async rejectHead(ks: KeyState, error: CioRejectedError): Promise<void> {
    const entry = ks.queue[0]!;
    this.setBusy(ks, entry, true);
    const info = rejectedInfo(entry, error);
    if (await this.writeDeadLetter(entry, info)) this.finishHead(ks, entry, rejectedAnswer(info));
    else this.setBusy(ks, entry, false);
    this.waiters.notify();
    this.pump();
  }

  /**
   * Dead-letters the refused attributes, then puts the rest of the identify back at the head of its
   * key: the customer's later events still wait for it. Each pass removes at least one attribute.
   */
  private async stripAndResend(ks: KeyState, entry: Entry, stripped: StrippedIdentify, error: CioRejectedError): Promise<void> {
    this.setBusy(ks, entry, true);
    const ok = await this.writeDeadLetter(entry, attributeRejectedInfo(entry, error, stripped.removed));
    if (ok) {
      entry.item = stripped.item;
      noteRefused(entry, error, stripped.removed);
      this.o.logger?.warn({ event_id: entry.rec.event.event_id, attributes: Object.keys(stripped.removed), status: error.status }, 'identify attributes refused by Customer.io: dead-lettered, the rest re-sent');
    }
    this.setBusy(ks, entry, false);
    this.requeue(ks);
    this.waiters.notify();
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
    const delay = retryDelay(this.o, entry.attempts, error.retryAfterMs, remaining, this.random);
    this.keys.backOff(ks, delay, () => this.pump());
  }

  /** The key kept failing: its head and everything queued behind it go to the DLQ, in order. */
  private async park(ks: KeyState, error: CioRetryableError): Promise<void> {
    ks.busy = true;
    const snapshot = [...ks.queue];
    this.o.logger?.warn({ key: ks.key, events: snapshot.length, status: error.status }, 'parking a key that kept failing');
    this.o.metrics?.parkedKeys.inc();
    for (const entry of snapshot) {
      if (entry.dropped || ks.queue[0] !== entry) continue;
      this.setEntryBusy(entry, true);
      const info = parkedInfo(entry, error);
      const ok = await this.writeDeadLetter(entry, info);
      this.setEntryBusy(entry, false);
      if (!ok) break;
      ks.queue.shift();
      this.markDone(entry, rejectedAnswer(info));
    }
    ks.busy = false;
    ks.failingSince = null;
    ks.lastError = undefined;
    this.requeue(ks);
    this.checkPressure();
    this.waiters.notify();
    this.pump();
  }

  /** Retries the DLQ write until it succeeds or the dispatcher stops (then the event stays unfinished). */
  private writeDeadLetter(entry: Entry, info: DeadLetterInfo): Promise<boolean> {
    return writeDeadLetterWithRetry(this.o, entry.rec, info, () => this.stopped);
  }

  // ---- bookkeeping --------------------------------------------------------------------------
  private setBusy(ks: KeyState, entry: Entry, busy: boolean): void {
    ks.busy = busy;
    this.setEntryBusy(entry, busy);
  }

  /** An event entering or leaving a request or a dead-letter write: the in-flight gauge follows. */
  private setEntryBusy(entry: Entry, busy: boolean): void {
    if (entry.busy === busy) return;
    entry.busy = busy;
    entry.part.busy += busy ? 1 : -1;
    this.o.metrics?.inFlightRequests.inc(busy ? 1 : -1);
    if (!busy) this.waiters.notify();
  }

  /** Removes queued events of revoking partitions that are not in flight. */
  private dropRevoked(ks: KeyState): void {
    if (!this.offsets.anyRevoking) return;
    const removed = this.keys.remove(ks, (e) => e.part.revoking);
    if (removed.length === 0) return;
    this.pending -= removed.length;
    this.waiters.notify();
  }

  private markDone(entry: Entry, answer: FinalAnswer): void {
    this.o.onFinished?.(entry.rec, answer); // before the offset moves: the receipt is queued first
    this.offsets.complete(entry.part, entry);
    this.pending--;
    this.o.metrics?.pending.set(this.pending);
    this.waiters.notify();
  }

  private checkPressure(): void {
    this.o.metrics?.pending.set(this.pending);
    this.pressure.update(this.pending);
  }
}
