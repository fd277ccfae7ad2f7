import type { Logger } from '@cio-pipeline/core';
import type { DeliveryReceipt } from '@cio-pipeline/core/generated/avro-types';
import type { SinkMetrics } from './metrics.ts';

export interface ReceiptWriterOptions {
  /** Writes one batch of receipts to their topic; resolves once the broker acknowledged it. */
  send: (receipts: DeliveryReceipt[]) => Promise<void>;
  /** How long a receipt may wait for others before a batch goes out. */
  lingerMs: number;
  /** A batch goes out at once when this many are queued. */
  maxBatch: number;
  /** Before retrying after a failed write. */
  retryMs: number;
  logger?: Logger;
  metrics?: SinkMetrics;
}

/**
 * Delivery receipts, batched and produced off the delivery path: `add` only queues (the dispatcher
 * calls it as an event finishes), batches go out one at a time after `lingerMs`, at `maxBatch`, or
 * at once when a flush waits.
 * Never lost silently: the consumer commits an offset only after `flush()` resolved, and `flush()`
 * resolves only once every receipt queued before it was acknowledged, so an event whose receipt was
 * not written is read again after a crash (and its receipt written then; a duplicate is harmless,
 * the trace index keys receipts by event id and outcome).
 */
export class ReceiptWriter {
  private readonly o: ReceiptWriterOptions;
  private queue: DeliveryReceipt[] = [];
  /** Receipts queued since start, and how many of them are acknowledged (always a prefix). */
  private added = 0;
  private acked = 0;
  private sending = false;
  /** flush() calls waiting for `acked` to reach their target. */
  private waiters: Array<{ target: number; resolve: () => void; reject: (err: unknown) => void }> = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: ReceiptWriterOptions) {
    this.o = opts;
  }

  add(receipt: DeliveryReceipt): void {
    this.queue.push(receipt);
    this.added++;
    this.o.metrics?.receiptsBuffered.set(this.queue.length);
    if (this.queue.length >= this.o.maxBatch) this.kick();
    else this.schedule(this.o.lingerMs);
  }

  /** Resolves once every receipt queued before the call is acknowledged; rejects if a write failed. */
  flush(): Promise<void> {
    const target = this.added;
    if (this.acked >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      this.kick();
    });
  }

  /** Flushes what is queued (failures propagate), then refuses new work. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.closed = true;
      if (this.timer) clearTimeout(this.timer);
    }
  }

  get buffered(): number {
    return this.queue.length;
  }

  /** Metrics per batch, not per receipt: a labelled counter's inc costs about as much as a receipt. */
  private count(batch: DeliveryReceipt[]): void {
    const metrics = this.o.metrics;
    if (!metrics) return;
    let delivered = 0;
    for (const r of batch) if (r.outcome === 'delivered') delivered++;
    if (delivered > 0) metrics.receiptsWritten.inc({ outcome: 'delivered' }, delivered);
    if (batch.length > delivered) metrics.receiptsWritten.inc({ outcome: 'rejected' }, batch.length - delivered);
    metrics.receiptsBuffered.set(this.queue.length);
  }

  private schedule(ms: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, ms);
  }

  private kick(): void {
    if (this.sending || this.queue.length === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.sending = true;
    void this.drain().finally(() => {
      this.sending = false;
    });
  }

  /**
   * Sends batches, one at a time, while one is due: a full batch, or one a flush waits for. What is
   * left after a write waits out the linger again rather than going at once: KafkaJS spends about
   * 0.3 ms of CPU per produce request, whatever it carries, so a loop sending whatever came in
   * during the last round trip cost more than the receipts themselves. Never rejects.
   */
  private async drain(): Promise<void> {
    for (let first = true; this.queue.length > 0; first = false) {
      if (!first && this.queue.length < this.o.maxBatch && this.waiters.length === 0) {
        this.schedule(this.o.lingerMs);
        return;
      }
      const batch = this.queue.slice(0, this.o.maxBatch);
      try {
        await this.o.send(batch);
      } catch (err) {
        this.o.logger?.warn({ err, receipts: batch.length }, 'receipt write failed; offsets wait, retrying');
        // Every waiting flush fails (its commit is skipped); the receipts stay queued for the retry.
        for (const w of this.waiters.splice(0)) w.reject(err);
        this.schedule(this.o.retryMs);
        return;
      }
      this.queue.splice(0, batch.length);
      this.acked += batch.length;
      this.count(batch);
      this.waiters = this.waiters.filter((w) => (w.target <= this.acked ? (w.resolve(), false) : true));
    }
  }
}
