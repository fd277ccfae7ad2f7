/** The compacted state topics the normalizer writes in the same transaction as its output. */
export type StateTopic = 'identity' | 'dedupe' | 'journey';

/** One change to a store: the new value of `key`, or null (tombstone) when the key is gone. */
export interface ChangelogRecord {
  topic: StateTopic;
  key: string;
  value: Buffer | string | null;
}

/** Where a store's records go besides its own memory: the local disk store (disk-state.ts). */
export interface RecordSink {
  record(key: string, value: string | null): void;
}

export function recordValue(value: Buffer | string | null): string | null {
  if (value === null) return null;
  return typeof value === 'string' ? value : value.toString('utf8');
}

/**
 * Base of every store: the in-memory state is a pure function of its key -> value records, so
 * restoring is replaying records (`load` without logging), and rolling back an aborted transaction
 * is loading the values the touched keys had before the batch. Subclasses keep whatever indexes they
 * like, as long as `read`/`load` agree with them.
 */
export abstract class ChangelogStore {
  abstract readonly topic: StateTopic;
  /** Key prefixes this store owns inside its topic (stores can share a topic). */
  protected abstract readonly prefixes: readonly string[];
  /**
   * One per batch applied and not yet committed, oldest first: several units of work can be in
   * flight, each on top of the ones before it (kafka/transactional-processor.ts).
   */
  private segments: Segment[] = [];
  /** Set when the state lives on local disk: every applied record is staged there too. */
  private sink: RecordSink | null = null;
  /** Keeps its entries in disk tables itself (record-table.ts): no mirror, nothing to load at start. */
  persistsItself = false;

  /** The current record value of `key` (null when absent). */
  protected abstract read(key: string): string | null;
  /** Applies a record to memory without logging it. */
  protected abstract load(key: string, value: string | null): void;

  protected write(key: string, value: string | null): void {
    const segment = this.segments.at(-1) ?? this.openSegment();
    if (!segment.undo.has(key)) segment.undo.set(key, this.read(key));
    segment.pending.set(key, value);
    this.apply(key, value);
  }

  private openSegment(): Segment {
    const segment: Segment = { pending: new Map(), undo: new Map() };
    this.segments.push(segment);
    return segment;
  }

  private apply(key: string, value: string | null): void {
    this.load(key, value);
    this.sink?.record(key, value);
  }

  /** Mirrors every record applied from now on into `sink` (the local disk store). */
  attachSink(sink: RecordSink): void {
    this.sink = sink;
  }

  /** The key prefixes this store owns (to scan them from the local store). */
  ownedPrefixes(): readonly string[] {
    return this.prefixes;
  }

  /**
   * Loads records read back from the local store (key order, not changelog order), without
   * mirroring them again. Stores whose expiry walks their maps in time order sort them first.
   */
  restoreLocal(entries: Array<[key: string, value: string]>): void {
    if (entries.length === 0 || this.localTime(entries[0]![0], entries[0]![1]) === null) {
      for (const [k, v] of entries) this.load(k, v);
      return;
    }
    const keyed = entries.map(([k, v]) => ({ k, v, t: this.localTime(k, v) ?? 0 }));
    keyed.sort((x, y) => x.t - y.t);
    for (const { k, v } of keyed) this.load(k, v);
  }

  /** The time a record's place in the store's expiry order follows (default: order does not matter). */
  protected localTime(_key: string, _value: string): number | null {
    return null;
  }

  owns(record: ChangelogRecord): boolean {
    if (record.topic !== this.topic) return false;
    for (const p of this.prefixes) if (record.key.startsWith(p)) return true;
    return false;
  }

  /** Replays changelog records (any topic; records of other stores are ignored). */
  restore(records: Iterable<ChangelogRecord>): void {
    for (const r of records) if (this.owns(r)) this.apply(r.key, recordValue(r.value));
  }

  /** Applies one record if it is this store's (restore without the per-call overhead). */
  restoreOne(record: ChangelogRecord): boolean {
    if (!this.owns(record)) return false;
    this.apply(record.key, recordValue(record.value));
    return true;
  }

  /** Starts a batch on top of those not yet committed. */
  beginBatch(): void {
    this.openSegment();
  }

  /** Batches applied and not yet committed or rolled back. */
  get openBatches(): number {
    return this.segments.length;
  }

  /** Changes of the current batch, last write per key. */
  takeChanges(): ChangelogRecord[] {
    const out: ChangelogRecord[] = [];
    const segment = this.segments.at(-1);
    if (segment === undefined) return out;
    for (const [key, value] of segment.pending) {
      // Created and deleted inside one batch: nothing to tell the topic.
      if (value === null && segment.undo.get(key) === null) continue;
      out.push({ topic: this.topic, key, value });
    }
    segment.pending.clear();
    return out;
  }

  /** The oldest open batch's transaction committed: forgets its undo log. */
  commitOldest(): void {
    this.segments.shift();
  }

  /**
   * Puts memory back to where it was before the oldest open batch: its transaction aborted, and
   * every later one was applied on top of it, so they abort too. Newest first, each key to the
   * value it had before that batch.
   */
  rollback(): void {
    // A store on disk keeps a batch nowhere but in the disk store's staged layers, which the local
    // state drops itself: replaying the undo log would only stage writes to be dropped, and throws
    // once a failed write has made the disk store refuse use. Memory is put back here.
    if (!this.persistsItself) {
      for (const segment of this.segments.toReversed()) {
        for (const [key, value] of [...segment.undo].reverse()) this.load(key, value);
      }
    }
    this.segments = [];
  }
}

interface Segment {
  /** Last value written per key in this batch, in order of first write. */
  pending: Map<string, string | null>;
  /** Value each touched key had before this batch. */
  undo: Map<string, string | null>;
}
