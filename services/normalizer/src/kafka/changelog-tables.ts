import type { Consumer, Kafka, Message } from 'kafkajs';
import { ConsumerPositions, measureEnds, type Logger, type PartitionEnd } from '@cio-pipeline/core';
import type { ChangelogRecord, StateTopic } from '../state/changelog.ts';

const WRITER_HEADER = 'writer';

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
  private consumer: Consumer | null = null;
  private restoring = true;
  private readonly pending: ChangelogRecord[] = [];
  /** Where the changelog consumer fetches next, per partition, including our own writes. */
  private readonly positions = new ConsumerPositions();

  /**
   * `onFatal`: the tail's consumer crashed for good after the restore (KafkaJS will not restart it).
   * Other instances' changes would stop arriving and every catch-up would fail, so the service must
   * end and be restarted. A crash during the restore fails the restore instead.
   */
  constructor(opts: { kafka: Kafka; topics: Record<StateTopic, string>; instanceId: string; groupId: string; logger: Logger; onFatal?: (err: Error) => void }) {
    this.kafka = opts.kafka;
    this.topicOf = opts.topics;
    this.stateOf = new Map(Object.entries(opts.topics).map(([state, topic]) => [topic, state as StateTopic]));
    this.instanceId = opts.instanceId;
    this.groupId = `${opts.groupId}-state-${opts.instanceId}`;
    this.log = opts.logger.child({ component: 'changelog-tables' });
    this.onFatal = opts.onFatal;
  }

  /**
   * Reads every changelog to its end as measured now, handing each fetched batch's records to
   * `apply`; then keeps tailing in the background. The end is reached when the consumer's fetch
   * position is at each partition's last stable offset (ConsumerPositions), never because the read
   * went quiet: a garbage-collection pause or a slow fetch must not end a restore on a partial graph.
   * Fails (EndNotReachedError) when that takes longer than `timeoutMs`.
   */
  async restore(apply: (records: ChangelogRecord[]) => void | Promise<void>, opts: { timeoutMs: number }): Promise<{ records: number; ms: number }> {
    const started = Date.now();
    const ends = await this.measureEnds();
    let records = 0;
    const consumer = this.kafka.consumer({ groupId: this.groupId, readUncommitted: false, maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 16 * 1024 * 1024, maxWaitTimeInMs: 500 });
    this.consumer = consumer;
    this.positions.follow(consumer);
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || this.restoring || this.consumer !== consumer) return;
      this.log.error({ err: payload.error }, 'changelog tail crashed for good');
      this.onFatal?.(payload.error);
    });
    const reached = this.positions.reach(ends, 'state restore', { timeoutMs: opts.timeoutMs });
    reached.catch(() => undefined); // awaited below; a failure meanwhile is not an unhandled rejection
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.stateOf.keys()], fromBeginning: true });
    consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const state = this.stateOf.get(batch.topic)!;
        const fresh: ChangelogRecord[] = [];
        for (const m of batch.messages) {
          const record = toRecord(state, m);
          if (record === null) continue;
          if (this.restoring) fresh.push(record);
          else if (m.headers?.[WRITER_HEADER]?.toString() !== this.instanceId) this.pending.push(record);
        }
        if (fresh.length > 0) {
          await apply(fresh);
          records += fresh.length;
        }
      },
    }).catch((err: unknown) => {
      // Joining or subscribing failed: fail the restore (start-up retries) rather than leave an
      // unhandled rejection that would end the process without a word.
      this.positions.fail(err as Error);
    });
    await reached;
    this.restoring = false;
    const ms = Date.now() - started;
    this.log.info({ records, ms }, 'state restored from changelogs');
    return { records, ms };
  }

  /**
   * Waits until the tail has read every changelog up to its end as measured now. Called before the
   * first chunk of a newly assigned partition: the instance that owned it may have written links
   * and dedupe keys this one has not read yet, and deciding without them could emit a duplicate or
   * forget a link. Fails (EndNotReachedError) after `timeoutMs`; the chunk is then re-delivered.
   */
  async waitCaughtUp(timeoutMs: number): Promise<void> {
    const ends = await this.measureEnds();
    await this.positions.reach(ends, 'state catch-up', { timeoutMs });
  }

  private async measureEnds(): Promise<Map<string, PartitionEnd>> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      return await measureEnds(admin, [...this.stateOf.keys()]);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
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

function toRecord(topic: StateTopic, m: { key: Buffer | null; value: Buffer | null }): ChangelogRecord | null {
  if (m.key === null) return null;
  return { topic, key: m.key.toString('utf8'), value: m.value === null ? null : m.value.toString('utf8') };
}
