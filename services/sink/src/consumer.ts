import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Logger } from '@cio-pipeline/core';
import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import type { KeyOrderedDispatcher, PartitionOffset, SinkRecord } from './key-ordered-dispatcher.ts';
import type { SinkMetrics } from './metrics.ts';

/**
 * The Kafka side of the sink: reads events.canonical with kafkajs eachBatch, hands every record to
 * the dispatcher, and commits only what the dispatcher says is finished. Auto-commit is off:
 * kafkajs' resolveOffset moves the fetch position, never the committed offset.
 */

export interface SinkConsumerOptions {
  /** A kafkajs consumer (from `kafka.consumer({ groupId, readUncommitted: false })`), not yet connected. */
  consumer: Consumer;
  topic: string;
  dispatcher: KeyOrderedDispatcher;
  /** Record value -> canonical event (schema-registry framed Avro). Throws to retry the batch. */
  decode: (value: Buffer) => Promise<CanonicalEvent>;
  /**
   * A value that can never be decoded (not a transient registry problem): return true once it is
   * safely recorded elsewhere, and its offset is skipped. Default: rethrow, so kafkajs retries.
   */
  onUndecodable?: (message: KafkaMessage, partition: number, error: unknown) => Promise<boolean>;
  commitIntervalMs: number;
  /**
   * Awaited after the offsets to commit are read and before they are committed: the receipts of
   * the events finished up to them must be written first. A rejection skips this commit.
   */
  beforeCommit?: () => Promise<void>;
  /**
   * A new consumer like the first, for when KafkaJS gives up on one (CRASH with restart=false: a
   * non-retriable error). Without it, a crashed consumer stays down.
   */
  recreate?: () => Consumer;
  /** First delay before starting a replacement consumer; doubles per failed start, up to 8x. */
  restartDelayMs?: number;
  /** Every group join, with this member's partitions of the topic (e.g. to take a rate share). */
  onAssignment?: (partitions: number[]) => void;
  logger?: Logger;
  metrics?: SinkMetrics;
}

export class SinkConsumer {
  private readonly o: SinkConsumerOptions;
  /** The consumer in use; replaced after a crash KafkaJS does not restart itself. */
  private consumer: Consumer;
  private crashed = false;
  /** In the group: false until the first join, and after a crash until the consumer rejoins. */
  private joined = false;
  private stopped = false;
  /** Replacement consumers started after crashes. */
  restarts = 0;
  private commitTimer: NodeJS.Timeout | undefined;
  private committed = new Map<number, string>();
  private assigned = new Set<number>();
  private paused = false;
  private committing: Promise<void> | undefined;

  constructor(opts: SinkConsumerOptions) {
    this.o = opts;
    this.consumer = opts.consumer;
  }

  async start(): Promise<void> {
    await this.run(this.consumer);
    this.commitTimer = setInterval(() => void this.commit(), this.o.commitIntervalMs);
  }

  /** False while the consumer is down after a crash and not yet replaced. */
  isRunning(): boolean {
    return !this.crashed && !this.stopped;
  }

  /** Running and in the group, so partitions are being delivered: what /readyz reports. */
  isJoined(): boolean {
    return this.joined && this.isRunning();
  }

  private async run(consumer: Consumer): Promise<void> {
    const { topic } = this.o;
    consumer.on(consumer.events.CRASH, (e) => {
      this.o.logger?.error({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed');
      this.joined = false;
      // restart=true: KafkaJS restarts the runner itself after its retry time.
      if (!e.payload.restart) void this.replace(consumer);
    });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.joined = true;
      const mine = e.payload.memberAssignment[topic] ?? [];
      this.o.onAssignment?.(mine);
      const now = new Set(mine);
      const lost = [...this.assigned].filter((p) => !now.has(p));
      this.assigned = now;
      if (lost.length > 0) void this.revoke(lost);
      if (this.paused) consumer.pause([{ topic }]);
    });
    // Before the group rebalances, commit what is finished while we still may.
    consumer.on(consumer.events.REBALANCING, () => {
      void this.commit();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  /**
   * Starts a new consumer in place of one KafkaJS gave up on. The dispatcher keeps its state: records
   * fetched again from the committed offsets are recognised and not sent twice.
   */
  private async replace(crashed: Consumer): Promise<void> {
    if (this.stopped || crashed !== this.consumer) return;
    this.crashed = true;
    if (!this.o.recreate) return;
    await crashed.disconnect().catch(() => undefined);
    const base = this.o.restartDelayMs ?? 1_000;
    for (let attempt = 0; !this.stopped; attempt++) {
      await new Promise((r) => setTimeout(r, base * 2 ** Math.min(attempt, 3)));
      if (this.stopped) return;
      const next = this.o.recreate();
      this.consumer = next;
      try {
        await this.run(next);
        this.restarts++;
        this.crashed = false;
        if (this.paused) next.pause([{ topic: this.o.topic }]);
        this.o.logger?.warn({ restarts: this.restarts }, 'consumer replaced after a crash');
        return;
      } catch (err) {
        this.o.logger?.error({ err, attempt }, 'replacement consumer failed to start; trying again');
        await next.disconnect().catch(() => undefined);
      }
    }
  }

  /** Wire this to the dispatcher's onPressure: pause every partition while memory is over the bound. */
  handlePressure(paused: boolean): void {
    this.paused = paused;
    this.o.metrics?.partitionsPaused.set(paused ? 1 : 0);
    const topics = [{ topic: this.o.topic }];
    if (paused) {
      this.o.logger?.info({ inFlight: this.o.dispatcher.inFlightCount() }, 'pausing consumption: too many events in flight');
      this.consumer.pause(topics);
    } else {
      this.o.logger?.info('resuming consumption');
      this.consumer.resume(topics);
    }
  }

  /** Graceful stop: deliver what can be delivered within the timeout, commit, disconnect. */
  async stop(drainTimeoutMs = 20_000): Promise<void> {
    this.stopped = true;
    if (this.commitTimer) clearInterval(this.commitTimer);
    this.consumer.pause([{ topic: this.o.topic }]);
    await this.o.dispatcher.drain(drainTimeoutMs);
    await this.commit();
    await this.consumer.disconnect();
  }

  async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const records: SinkRecord[] = [];
    const partition = batch.partition;
    this.assigned.add(partition);
    let last: string | undefined;
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      if (message.value === null) {
        this.flush(records);
        this.o.dispatcher.skip(partition, message.offset); // tombstone: nothing to send
        last = message.offset;
        continue;
      }
      let event: CanonicalEvent;
      try {
        event = await this.o.decode(message.value);
      } catch (err) {
        if (!this.o.onUndecodable || !(await this.o.onUndecodable(message, partition, err))) throw err;
        this.flush(records);
        this.o.dispatcher.skip(partition, message.offset);
        last = message.offset;
        continue;
      }
      records.push({
        topic: batch.topic,
        partition,
        offset: message.offset,
        key: message.key?.toString('utf8') || event.customer_id || event.anonymous_id || event.event_id,
        event,
        raw: message.value,
      });
      last = message.offset;
    }
    this.flush(records);
    if (last !== undefined) resolveOffset(last);
    await heartbeat();
  }

  /** Commits each partition's committable offset when it moved. Never overlaps itself. */
  async commit(): Promise<void> {
    if (this.committing) return this.committing;
    this.committing = this.doCommit(this.o.dispatcher.committableOffsets()).finally(() => {
      this.committing = undefined;
    });
    return this.committing;
  }

  private flush(records: SinkRecord[]): void {
    if (records.length === 0) return;
    this.o.dispatcher.push(records.splice(0));
  }

  private async revoke(partitions: number[]): Promise<void> {
    // The dispatcher drops their queued work (the next owner redelivers it) and finishes what is in
    // flight; the offsets it answers can no longer be committed by us once the group moved on.
    const final = await this.o.dispatcher.revoke(partitions);
    await this.doCommit(final).catch(() => undefined);
    for (const p of partitions) this.committed.delete(p);
  }

  private async doCommit(offsets: PartitionOffset[]): Promise<void> {
    const changed = offsets.filter((o) => this.committed.get(o.partition) !== o.offset);
    if (changed.length === 0) return;
    try {
      await this.o.beforeCommit?.();
      await this.consumer.commitOffsets(changed.map((o) => ({ topic: this.o.topic, partition: o.partition, offset: o.offset })));
      for (const o of changed) this.committed.set(o.partition, o.offset);
    } catch (err) {
      // Typically a rebalance in progress, or receipts not yet written: the next commit catches up.
      this.o.logger?.warn({ err, offsets: changed }, 'offset commit failed');
    }
  }
}
