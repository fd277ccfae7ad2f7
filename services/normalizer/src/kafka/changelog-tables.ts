import type { Consumer, Kafka, KafkaMessage, Message } from 'kafkajs';
import { ConsumerPositions, measureEnds, type Logger, type PartitionEnd } from '@cio-pipeline/core';
import type { ChangelogRecord, StateTopic } from '../state/changelog.ts';
import type { ChangelogOffsets } from '../state/disk/disk-store.ts';

const WRITER_HEADER = 'writer';

/** Records one batch of the tail held: other instances' (queued), this instance's skipped after decoding, and undecoded. */
export interface TailReads {
  other: number;
  own: number;
  ownUndecoded: number;
}

/** A message, or KafkaJS's stand-in for a whole batch it skipped undecoded (`skipBatches`). */
type StandInOr<M> = M & { skippedRecords?: number };

/**
 * The normalizer's state as global tables: compacted changelog topics written in the same
 * transaction as the output, read by every instance. On start the tables are restored from the
 * beginning; afterwards the same consumer tails them, so links and dedupe keys learned by another
 * instance reach this one. Records this instance wrote are skipped while tailing (already applied).
 * Remote records are queued and applied between transactions, never in the middle of one.
 */
export class ChangelogTables {
  private readonly kafka: Kafka;
  private readonly topicOf: Record<StateTopic, string>;
  private readonly stateOf: Map<string, StateTopic>;
  private readonly instanceId: string;
  private readonly groupId: string;
  private readonly log: Logger;
  private readonly onFatal: ((err: Error) => void) | undefined;
  private readonly fetchBytes: number;
  private consumer: Consumer | null = null;
  private readonly pending: ChangelogRecord[] = [];
  /** Where the changelog consumer fetches next, per partition, including our own writes. */
  private readonly positions = new ConsumerPositions();
  /** Next offset per partition after the last record handed to `apply` or queued for `drainRemote`. */
  private readonly handled = new Map<string, bigint>();
  /**
   * Once restored, the tail reads mostly this instance's own writes, already applied. KafkaJS then
   * skips each of its batches undecoded (scripts/patch-kafkajs.ts, `skipBatches`): each message of
   * a batch carries the writer header (`toMessages`), so its first record names the writer.
   */
  private readonly ownBatches: { header: string; value: Buffer; active: boolean };
  /** Until the restore ends, every record is applied, whoever wrote it; then own batches are skipped. */
  private get restoring(): boolean {
    return !this.ownBatches.active;
  }
  private readonly countTail: ((reads: TailReads) => void) | undefined;

  /**
   * `onFatal`: the tail's consumer crashed for good after the restore (KafkaJS will not restart it).
   * Other instances' changes would stop arriving and every catch-up would fail, so the service must
   * end and be restarted. A crash during the restore fails the restore instead.
   *
   * `fetchBytes`: what one fetch may bring (a quarter of it per partition); KafkaJS holds about two
   * fetches decoded into objects at a time, so this bounds the restore's memory.
   *
   * `countTail`: what each batch the tail read after the restore held (the service's metrics).
   */
  constructor(opts: {
    kafka: Kafka; topics: Record<StateTopic, string>; instanceId: string; groupId: string; logger: Logger;
    onFatal?: (err: Error) => void; fetchBytes?: number; countTail?: (reads: TailReads) => void;
  }) {
    this.kafka = opts.kafka;
    this.topicOf = opts.topics;
    this.stateOf = new Map(Object.entries(opts.topics).map(([state, topic]) => [topic, state as StateTopic]));
    this.instanceId = opts.instanceId;
    this.groupId = `${opts.groupId}-state-${opts.instanceId}`;
    this.log = opts.logger.child({ component: 'changelog-tables' });
    this.onFatal = opts.onFatal;
    this.fetchBytes = opts.fetchBytes ?? 4 * 1024 * 1024;
    this.ownBatches = { header: WRITER_HEADER, value: Buffer.from(this.instanceId), active: false };
    this.countTail = opts.countTail;
  }

  /**
   * Reads every changelog to its end as measured now, handing each fetched batch's records to
   * `apply`; then keeps tailing in the background. The end is reached when the consumer's fetch
   * position is at each partition's last stable offset (ConsumerPositions), never because the read
   * went quiet: a garbage-collection pause or a slow fetch must not end a restore on a partial graph.
   * Fails (EndNotReachedError) when that takes longer than `timeoutMs`.
   *
   * `from` (a local store's offsets): each named partition is read from there instead of from the
   * beginning, so only the tail is read. `apply` gets, with each batch, the position it brings its
   * partition to, for the local store to record with the records.
   */
  async restore(
    apply: (records: ChangelogRecord[], positions: ChangelogOffsets) => void | Promise<void>,
    opts: { timeoutMs: number; from?: ChangelogOffsets },
  ): Promise<{ records: number; ms: number }> {
    const started = Date.now();
    const ends = await this.measureEnds();
    let records = 0;
    const consumer = this.kafka.consumer({ groupId: this.groupId, readUncommitted: false, maxBytesPerPartition: Math.ceil(this.fetchBytes / 4), maxBytes: this.fetchBytes, maxWaitTimeInMs: 500, skipBatches: this.ownBatches });
    this.consumer = consumer;
    this.positions.follow(consumer);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (this.consumer !== consumer) {
        // Stopped meanwhile: KafkaJS arms its restart right after this event; a disconnect cancels it.
        if (payload.restart) setImmediate(() => void consumer.disconnect().catch(() => undefined));
        return;
      }
      if (payload.restart || this.restoring) return;
      this.log.error({ err: payload.error }, 'changelog tail crashed for good');
      this.onFatal?.(payload.error);
    });
    // A local store's partitions resume where it stopped: every join seeks to the positions (ConsumerPositions).
    for (const [key, offset] of opts.from ?? []) {
      const { topic, partition } = splitPartitionKey(key);
      if (!this.stateOf.has(topic)) continue;
      this.positions.advance(topic, partition, offset);
      this.handled.set(key, offset);
    }
    const reached = this.positions.reach(ends, 'state restore', { timeoutMs: opts.timeoutMs });
    reached.catch(() => undefined); // awaited below; a failure meanwhile is not an unhandled rejection
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.stateOf.keys()], fromBeginning: true });
    consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (this.consumer !== consumer) return; // stopped
        const state = this.stateOf.get(batch.topic)!;
        const fresh: ChangelogRecord[] = [];
        const tail: TailReads = { other: 0, own: 0, ownUndecoded: 0 };
        for (const m of batch.messages as StandInOr<KafkaMessage>[]) {
          // Batches fetched once ownBatches is active come as one stand-in with a null key.
          if (m.skippedRecords !== undefined) {
            tail.ownUndecoded += m.skippedRecords;
            continue;
          }
          // While tailing, our own records are skipped before their bytes become strings.
          if (!this.restoring && m.headers?.[WRITER_HEADER]?.toString() === this.instanceId) {
            tail.own++;
            continue;
          }
          const record = toRecord(state, m);
          if (record === null) continue;
          if (this.restoring) fresh.push(record);
          else {
            this.pending.push(record);
            tail.other++;
          }
        }
        if (!this.restoring) this.countTail?.(tail);
        const key = `${batch.topic}:${batch.partition}`;
        const next = BigInt(batch.lastOffset()) + 1n;
        if (fresh.length > 0) {
          await apply(fresh, new Map([[key, next]]));
          records += fresh.length;
        }
        // After the records are applied or queued: a drain never names a position past its records.
        if (next > (this.handled.get(key) ?? -1n)) this.handled.set(key, next);
      },
    }).catch((err: unknown) => {
      // Joining or subscribing failed: fail the restore (start-up retries) rather than leave an
      // unhandled rejection that would end the process without a word.
      this.positions.fail(err as Error);
    });
    await reached;
    this.ownBatches.active = true; // the restore is over
    const ms = Date.now() - started;
    this.log.info({ records, ms }, 'state restored from changelogs');
    return { records, ms };
  }

  /**
   * Waits until the tail has read every changelog up to everything written when it was called, and
   * every transaction then open has ended. Called before the first chunk of a newly assigned
   * partition: the instance that owned it may have written links and dedupe keys this one has not
   * read yet, and deciding without them could emit a duplicate or forget a link.
   *
   * The end is the high watermark, not the last stable offset: read_committed, the tail gets past
   * it only once every transaction with records below it has committed or aborted. The stable
   * offset can stop short of a unit whose commit was answered but whose markers are not written
   * yet (its input offsets may already count as done), of the last owner's sweep still in flight,
   * and of anything behind a transaction left open (docs/platform.md, KafkaJS 8). Fails
   * (EndNotReachedError) after `timeoutMs`; the chunk is then re-delivered.
   */
  async waitCaughtUp(timeoutMs: number): Promise<void> {
    const ends = await this.measureEnds({ written: true });
    await this.positions.reach(ends, 'state catch-up', { timeoutMs });
  }

  /** Last stable offsets; with `written`, high watermarks. */
  private async measureEnds(opts: { written?: boolean } = {}): Promise<Map<string, PartitionEnd>> {
    const admin = this.kafka.admin({ readUncommitted: opts.written === true });
    await admin.connect();
    try {
      return await measureEnds(admin, [...this.stateOf.keys()]);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /**
   * Why a local store's offsets cannot be resumed from, or null when they can: a partition's log
   * starts after the stored offset or ends before it (the topic was truncated or recreated). A
   * store older than `maxAgeMs` (below the topics' delete.retention.ms) may have missed tombstones
   * that compaction has removed since.
   */
  async staleReason(from: ChangelogOffsets, committedAt: number | null, maxAgeMs: number): Promise<string | null> {
    if (from.size === 0) return null;
    if (committedAt === null || Date.now() - committedAt > maxAgeMs) return `last committed ${committedAt === null ? 'never' : new Date(committedAt).toISOString()}, older than ${maxAgeMs} ms`;
    const ends = await this.measureEnds();
    for (const [key, offset] of from) {
      const end = ends.get(key);
      const { topic } = splitPartitionKey(key);
      if (!this.stateOf.has(topic)) continue;
      if (end === undefined ? offset > 0n : offset < end.low || offset > end.end) {
        return `${key}: stored offset ${offset} outside the log (${end === undefined ? 'empty' : `${end.low} to ${end.end}`})`;
      }
    }
    return null;
  }

  /**
   * Per changelog partition, the next offset after every record handed over so far (applied by the
   * restore or returned by `drainRemote`); own records the tail skipped count as handed over, since
   * they were applied locally when their transaction committed. Take it before `drainRemote`.
   */
  handledPositions(): ChangelogOffsets {
    return new Map(this.handled);
  }

  /** Records other instances wrote, read and not yet taken by `drainRemote`. */
  get remotePending(): number {
    return this.pending.length;
  }

  /** Applies records other instances wrote since the last call. */
  drainRemote(): ChangelogRecord[] {
    return this.pending.splice(0, this.pending.length);
  }

  /** Kafka messages for a batch of changes, grouped by changelog topic. */
  toMessages(changes: readonly ChangelogRecord[]): Array<{ topic: string; messages: Message[] }> {
    const byTopic = new Map<string, Message[]>();
    for (const c of changes) {
      const topic = this.topicOf[c.topic];
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push({ key: c.key, value: c.value, headers: { [WRITER_HEADER]: this.instanceId } });
    }
    return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
  }

  async stop(): Promise<void> {
    // A restore or catch-up still waiting fails now rather than at its budget.
    this.positions.fail(new Error('changelog tables stopped'));
    const consumer = this.consumer;
    this.consumer = null;
    if (!consumer) return;
    await consumer.disconnect().catch(() => undefined);
    // The restore group never commits; delete it so brokers do not accumulate one per start.
    const admin = this.kafka.admin();
    await admin.connect().then(() => admin.deleteGroups([this.groupId])).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}

function splitPartitionKey(key: string): { topic: string; partition: number } {
  const i = key.lastIndexOf(':');
  return { topic: key.slice(0, i), partition: Number(key.slice(i + 1)) };
}

function toRecord(topic: StateTopic, m: { key: Buffer | null; value: Buffer | null }): ChangelogRecord | null {
  if (m.key === null) return null;
  return { topic, key: m.key.toString('utf8'), value: m.value === null ? null : m.value.toString('utf8') };
}
