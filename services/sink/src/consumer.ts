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
  /** Every group join, with this member's partitions of the topic (e.g. to take a rate share). */
  onAssignment?: (partitions: number[]) => void;
  logger?: Logger;
  metrics?: SinkMetrics;
}

export class SinkConsumer {
  private readonly o: SinkConsumerOptions;
  private commitTimer: NodeJS.Timeout | undefined;
  private committed = new Map<number, string>();
  private assigned = new Set<number>();
  private paused = false;
  private committing: Promise<void> | undefined;

  constructor(opts: SinkConsumerOptions) {
    this.o = opts;
  }

  async start(): Promise<void> {
    const { consumer, topic } = this.o;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
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
    this.commitTimer = setInterval(() => void this.commit(), this.o.commitIntervalMs);
  }

  /** Wire this to the dispatcher's onPressure: pause every partition while memory is over the bound. */
  handlePressure(paused: boolean): void {
    this.paused = paused;
    this.o.metrics?.partitionsPaused.set(paused ? 1 : 0);
    const topics = [{ topic: this.o.topic }];
    if (paused) {
      this.o.logger?.info({ inFlight: this.o.dispatcher.inFlightCount() }, 'pausing consumption: too many events in flight');
      this.o.consumer.pause(topics);
    } else {
      this.o.logger?.info('resuming consumption');
      this.o.consumer.resume(topics);
    }
  }

  /** Graceful stop: deliver what can be delivered within the timeout, commit, disconnect. */
  async stop(drainTimeoutMs = 20_000): Promise<void> {
    if (this.commitTimer) clearInterval(this.commitTimer);
    this.o.consumer.pause([{ topic: this.o.topic }]);
    await this.o.dispatcher.drain(drainTimeoutMs);
    await this.commit();
    await this.o.consumer.disconnect();
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
      await this.o.consumer.commitOffsets(changed.map((o) => ({ topic: this.o.topic, partition: o.partition, offset: o.offset })));
      for (const o of changed) this.committed.set(o.partition, o.offset);
    } catch (err) {
      // Typically a rebalance in progress: the next commit (or the next owner) catches up.
      this.o.logger?.warn({ err, offsets: changed }, 'offset commit failed');
    }
  }
}
