import type { Admin, Consumer, Kafka, Message } from 'kafkajs';
import type { Logger } from '@cio-pipeline/core';
import type { ChangelogRecord, StateTopic } from './state/changelog.ts';

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
  private consumer: Consumer | null = null;
  private restoring = true;
  private readonly pending: ChangelogRecord[] = [];
  /** Next offset to read per changelog partition (`topic:partition`), including our own writes. */
  private readonly positions = new Map<string, bigint>();
  private lastRecordAt = 0;

  constructor(opts: { kafka: Kafka; topics: Record<StateTopic, string>; instanceId: string; groupId: string; logger: Logger }) {
    this.kafka = opts.kafka;
    this.topicOf = opts.topics;
    this.stateOf = new Map(Object.entries(opts.topics).map(([state, topic]) => [topic, state as StateTopic]));
    this.instanceId = opts.instanceId;
    this.groupId = `${opts.groupId}-state-${opts.instanceId}`;
    this.log = opts.logger.child({ component: 'changelog-tables' });
  }

  /** Reads every changelog to its end, applying each record; then keeps tailing in the background. */
  async restore(apply: (record: ChangelogRecord) => void): Promise<{ records: number; ms: number }> {
    const started = Date.now();
    const admin = this.kafka.admin();
    await admin.connect();
    const ends = new Map<string, bigint>();
    for (const topic of this.stateOf.keys()) {
      for (const p of await fetchTopicOffsets(admin, topic)) {
        if (BigInt(p.high) > BigInt(p.low)) ends.set(`${topic}:${p.partition}`, BigInt(p.high));
      }
    }
    await admin.disconnect();

    let records = 0;
    // The quiet period counts from the group join, not from here: a join slower than 2 s (a broker's
    // group.initial.rebalance.delay.ms is 3 s by default) would otherwise end the restore before the
    // first fetch, and the service would start with its state forgotten.
    let lastBatchAt: number | null = null;
    const consumer = this.kafka.consumer({ groupId: this.groupId, readUncommitted: false, maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 16 * 1024 * 1024, maxWaitTimeInMs: 500 });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      lastBatchAt ??= Date.now();
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.stateOf.keys()], fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      const check = (): boolean => {
        // Caught up when every non-empty partition has been read to its end as measured at start
        // (the last offset is usually a transaction marker, hence the +2), or nothing arrived for 2 s
        // after joining (markers of aborted transactions, or a crashed writer's open transaction,
        // can hide the exact end).
        if (ends.size === 0 || (lastBatchAt !== null && Date.now() - lastBatchAt > 2000)) {
          resolve();
          return true;
        }
        return false;
      };
      const timer = setInterval(() => { if (check()) clearInterval(timer); }, 200);
      consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          lastBatchAt = Date.now();
          const state = this.stateOf.get(batch.topic)!;
          for (const m of batch.messages) {
            const record = toRecord(state, m);
            if (record === null) continue;
            if (this.restoring) {
              apply(record);
              records++;
            } else if (m.headers?.[WRITER_HEADER]?.toString() !== this.instanceId) {
              this.pending.push(record);
            }
          }
          const key = `${batch.topic}:${batch.partition}`;
          this.positions.set(key, BigInt(batch.lastOffset()) + 1n);
          this.lastRecordAt = Date.now();
          const end = ends.get(key);
          if (this.restoring && end !== undefined && BigInt(batch.lastOffset()) + 2n >= end) ends.delete(key);
        },
      }).catch((err: unknown) => {
        // Joining or subscribing failed: fail the restore (start-up retries) rather than leave an
        // unhandled rejection that would end the process without a word.
        clearInterval(timer);
        reject(err as Error);
      });
    });
    await done;
    this.restoring = false;
    const ms = Date.now() - started;
    this.log.info({ records, ms }, 'state restored from changelogs');
    return { records, ms };
  }

  /**
   * Waits until the tail has read every changelog up to its current end. Called before the first
   * chunk of a newly assigned partition: the instance that owned it may have written links and
   * dedupe keys this one has not read yet, and deciding without them could emit a duplicate or
   * forget a link. Bounded: a tail that goes quiet (end hidden by transaction markers) counts as
   * caught up after `quietMs`, and the wait never exceeds `timeoutMs`.
   */
  async waitCaughtUp(timeoutMs = 15_000, quietMs = 1_000): Promise<boolean> {
    const started = Date.now();
    const admin = this.kafka.admin();
    const ends = new Map<string, bigint>();
    try {
      await admin.connect();
      for (const topic of this.stateOf.keys()) {
        for (const p of await fetchTopicOffsets(admin, topic)) {
          if (BigInt(p.high) > BigInt(p.low)) ends.set(`${topic}:${p.partition}`, BigInt(p.high));
        }
      }
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    // Changelogs are written in transactions: the last offset is a commit marker no consumer sees.
    const caughtUp = () => [...ends].every(([key, end]) => (this.positions.get(key) ?? 0n) + 1n >= end);
    while (Date.now() - started < timeoutMs) {
      if (caughtUp()) return true;
      if (Date.now() - Math.max(this.lastRecordAt, started) > quietMs) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.log.warn({ timeoutMs }, 'changelog tail did not catch up in time; processing anyway');
    return false;
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

/**
 * KafkaJS's admin.fetchTopicOffsets gives up at once on a retriable error such as "not the leader
 * for that topic-partition", which a busy broker answers for a moment after the topics were created
 * (the normalizer creates them just before restoring); a start must not fail on that.
 */
export async function fetchTopicOffsets(admin: Admin, topic: string): ReturnType<Admin['fetchTopicOffsets']> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      if (attempt >= 20 || (err as { retriable?: boolean }).retriable !== true) throw err;
      await new Promise((r) => setTimeout(r, Math.min(100 * attempt, 1000)));
    }
  }
}

function toRecord(topic: StateTopic, m: { key: Buffer | null; value: Buffer | null }): ChangelogRecord | null {
  if (m.key === null) return null;
  return { topic, key: m.key.toString('utf8'), value: m.value === null ? null : m.value.toString('utf8') };
}
