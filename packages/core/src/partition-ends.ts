import type { Admin, Consumer } from 'kafkajs';
import { PipelineError } from './errors.ts';

/** `topic:partition`. */
export type PartitionKey = string;

export function partitionKey(topic: string, partition: number): PartitionKey {
  return `${topic}:${partition}`;
}

/** Where a partition starts and where a reader that started now must get to. */
export interface PartitionEnd {
  topic: string;
  partition: number;
  low: bigint;
  /** Exclusive: the reader is done once its next fetch offset is at or past it. */
  end: bigint;
}

export type PartitionEnds = ReadonlyMap<PartitionKey, PartitionEnd>;

/** A reader did not get to the end it measured at start within its budget. */
export class EndNotReachedError extends PipelineError {
  constructor(what: string, reason: string, behind: ReadonlyArray<{ partition: PartitionKey; position: bigint | null; end: bigint }>) {
    const where = behind.map((b) => `${b.partition} at ${b.position ?? 'nothing read'} of ${b.end}`).join(', ');
    super('END_NOT_REACHED', `${what}: ${reason}; behind: ${where}`, {
      details: { behind: behind.map((b) => ({ partition: b.partition, position: b.position?.toString() ?? null, end: b.end.toString() })) },
    });
  }
}

/**
 * KafkaJS's admin.fetchTopicOffsets gives up at once on a retriable error such as "not the leader
 * for that topic-partition", which a busy broker answers for a moment after a topic was created.
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

/**
 * The end of every non-empty partition of `topics`, measured now. KafkaJS's admin lists offsets
 * read_committed, so `high` is the last stable offset: the high watermark, or the first offset of
 * the oldest transaction still open (a read_committed consumer cannot read past it, and whatever
 * that transaction commits later is news, not part of what was there at start).
 */
export async function measureEnds(admin: Admin, topics: readonly string[]): Promise<Map<PartitionKey, PartitionEnd>> {
  const ends = new Map<PartitionKey, PartitionEnd>();
  for (const topic of topics) {
    for (const p of await fetchTopicOffsets(admin, topic)) {
      const low = BigInt(p.low);
      const end = BigInt(p.high);
      if (end > low) ends.set(partitionKey(topic, p.partition), { topic, partition: p.partition, low, end });
    }
  }
  return ends;
}

interface Waiter {
  ends: PartitionEnds;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Seeks every partition `consumer` is assigned at each join to `positionOf` it (partitions without
 * one start where KafkaJS starts them). KafkaJS starts each join afresh: a restart after a crash, or
 * a rejoin after a pause longer than the session timeout, is a new group member that has forgotten
 * every seek, and a reader that never commits offsets would read from the beginning (or the end)
 * again.
 */
export function seekOnEveryJoin(consumer: Consumer, positionOf: (topic: string, partition: number) => bigint | undefined): void {
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
      for (const partition of partitions) {
        const next = positionOf(topic, partition);
        if (next !== undefined) consumer.seek({ topic, partition, offset: next.toString() });
      }
    }
  });
}

/**
 * Where a consumer fetches next, per partition, as KafkaJS's END_BATCH_PROCESS event tells it.
 * That event also fires for fetches whose records were all filtered out (transaction markers,
 * records of aborted transactions), which never reach eachBatch; so the position moves past the
 * markers at a partition's end and "position >= end" is an exact test, where counting the records
 * handed over is not. The event fires after eachBatch returned: every record before the position
 * has been handled. Positions only move forward, and every join of a followed consumer resumes at
 * them (seekOnEveryJoin): a KafkaJS restart re-reads only the batch that failed. A position set with
 * `advance` before the first join is where that partition's read starts.
 */
export class ConsumerPositions {
  private readonly next = new Map<PartitionKey, bigint>();
  private readonly waiters = new Set<Waiter>();
  private failure: Error | null = null;

  /** Follows `consumer`'s batches and resumes it there at every join; a crash it will not restart from fails every wait. */
  follow(consumer: Consumer): void {
    seekOnEveryJoin(consumer, (topic, partition) => this.position(topic, partition));
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      this.advance(payload.topic, payload.partition, BigInt(payload.lastOffset) + 1n);
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.fail(payload.error);
    });
  }

  advance(topic: string, partition: number, next: bigint): void {
    const key = partitionKey(topic, partition);
    if (next <= (this.next.get(key) ?? -1n)) return;
    this.next.set(key, next);
    for (const w of [...this.waiters]) if (this.behind(w.ends).length === 0) w.resolve();
  }

  position(topic: string, partition: number): bigint | undefined {
    return this.next.get(partitionKey(topic, partition));
  }

  /** Partitions of `ends` not yet read to their end. */
  behind(ends: PartitionEnds): Array<{ partition: PartitionKey; position: bigint | null; end: bigint }> {
    const out = [];
    for (const [key, { end }] of ends) {
      const position = this.next.get(key) ?? null;
      if (position === null || position < end) out.push({ partition: key, position, end });
    }
    return out;
  }

  /** The reader cannot go on (its consumer failed): every wait, present and future, fails with `err`. */
  fail(err: Error): void {
    this.failure ??= err;
    for (const w of [...this.waiters]) w.reject(err);
  }

  /**
   * Resolves once every partition of `ends` has been read to its end. Fails with
   * EndNotReachedError after `timeoutMs` in all, or when no position moved for `stallMs`; never
   * counts a quiet reader as done.
   */
  reach(ends: PartitionEnds, what: string, limits: { timeoutMs?: number; stallMs?: number }): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.behind(ends).length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const started = Date.now();
      let lastProgress = started;
      let lastBehind = this.progressOf(ends);
      const timer = setInterval(() => {
        const now = Date.now();
        const progress = this.progressOf(ends);
        if (progress !== lastBehind) {
          lastBehind = progress;
          lastProgress = now;
        }
        if (limits.timeoutMs !== undefined && now - started >= limits.timeoutMs) {
          waiter.reject(new EndNotReachedError(what, `not read to its end within ${limits.timeoutMs} ms`, this.behind(ends)));
        } else if (limits.stallMs !== undefined && now - lastProgress >= limits.stallMs) {
          waiter.reject(new EndNotReachedError(what, `no progress for ${limits.stallMs} ms`, this.behind(ends)));
        }
      }, 100);
      const settle = (): void => {
        clearInterval(timer);
        this.waiters.delete(waiter);
      };
      const waiter: Waiter = {
        ends,
        resolve: () => { settle(); resolve(); },
        reject: (err) => { settle(); reject(err); },
      };
      this.waiters.add(waiter);
    });
  }

  /** A number that grows whenever any partition of `ends` moves. */
  private progressOf(ends: PartitionEnds): bigint {
    let sum = 0n;
    for (const key of ends.keys()) sum += this.next.get(key) ?? 0n;
    return sum;
  }
}
