/** The compacted state topics the normalizer writes in the same transaction as its output. */
export type StateTopic = 'identity' | 'dedupe' | 'journey';

/** One change to a store: the new value of `key`, or null (tombstone) when the key is gone. */
export interface ChangelogRecord {
  topic: StateTopic;
  key: string;
  value: Buffer | string | null;
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

  /** The current record value of `key` (null when absent). */
  protected abstract read(key: string): string | null;
  /** Applies a record to memory without logging it. */
  protected abstract load(key: string, value: string | null): void;

  protected write(key: string, value: string | null): void {
    if (!this.undo.has(key)) this.undo.set(key, this.read(key));
    this.pending.set(key, value);
    this.load(key, value);
  }

  owns(record: ChangelogRecord): boolean {
    if (record.topic !== this.topic) return false;
    for (const p of this.prefixes) if (record.key.startsWith(p)) return true;
    return false;
  }

  /** Replays changelog records (any topic; records of other stores are ignored). */
  restore(records: Iterable<ChangelogRecord>): void {
    for (const r of records) if (this.owns(r)) this.load(r.key, recordValue(r.value));
  }

  /** Applies one record if it is this store's (restore without the per-call overhead). */
  restoreOne(record: ChangelogRecord): boolean {
    if (!this.owns(record)) return false;
    this.load(record.key, recordValue(record.value));
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
    for (const [key, value] of entries) this.load(key, value);
    this.pending.clear();
    this.undo.clear();
  }
}
