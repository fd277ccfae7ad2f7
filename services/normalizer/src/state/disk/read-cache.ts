import type { StoredEntry } from './entry-codec.ts';

/**
 * Committed entries (and known absences, as null) kept decoded for hot keys, least recently used
 * evicted first. A Map iterates in insertion order, so re-inserting on a hit keeps the oldest first.
 * Only committed values enter: staged ones live in the store's batch layers until their commit.
 */
export class ReadCache {
  private readonly entries = new Map<string, StoredEntry | null>();
  private readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached entry, null for a cached absence, undefined when not cached. */
  get(key: string): StoredEntry | null | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit;
  }

  set(key: string, entry: StoredEntry | null): void {
    if (this.capacity === 0) return;
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }
}
