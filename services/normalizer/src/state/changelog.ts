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
  /** Last value written per key in the current batch, in order of first write. */
  private pending = new Map<string, string | null>();
  /** Value each touched key had before the current batch. */
  private undo = new Map<string, string | null>();
  /** Set when the state lives on local disk: every applied record is staged there too. */
  private sink: RecordSink | null = null;
  /** Keeps its entries in disk tables itself (record-table.ts): no mirror, nothing to load at start. */
  persistsItself = false;

  /** The current record value of `key` (null when absent). */
  protected abstract read(key: string): string | null;
  /** Applies a record to memory without logging it. */
  protected abstract load(key: string, value: string | null): void;

  protected write(key: string, value: string | null): void {
    if (!this.undo.has(key)) this.undo.set(key, this.read(key));
    this.pending.set(key, value);
    this.apply(key, value);
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

  /** Starts a batch: forgets the undo log of the previous one (its transaction committed). */
  beginBatch(): void {
    this.pending.clear();
    this.undo.clear();
  }

  /** Changes of the current batch, last write per key. */
  takeChanges(): ChangelogRecord[] {
    const out: ChangelogRecord[] = [];
    for (const [key, value] of this.pending) {
      // Created and deleted inside one batch: nothing to tell the topic.
      if (value === null && this.undo.get(key) === null) continue;
      out.push({ topic: this.topic, key, value });
    }
    this.pending.clear();
    return out;
  }

  /** Puts memory back to where it was before the current batch (its transaction aborted). */
  rollback(): void {
    const entries = [...this.undo].reverse();
    // The disk store drops its staged batch itself; memory is put back here.
    for (const [key, value] of entries) this.load(key, value);
    this.pending.clear();
    this.undo.clear();
  }
}
