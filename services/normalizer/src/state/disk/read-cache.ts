import type { StoredEntry } from './entry-codec.ts';

/**
 * Committed entries (and known absences, as null) kept decoded for hot keys. Two generations
 * approximate LRU: hits in the old generation move to the young one, and when the young one is
 * full it becomes the old one and the old one is dropped whole. Every step is O(1); evicting the
 * oldest key of a single Map one at a time is not, since V8 skips the deleted slots at its head on
 * every `keys().next()`. At most `capacity` entries are held.
 * Only committed values enter: staged ones live in the store's batch layers until their commit.
 */
export class ReadCache {
  private young = new Map<string, StoredEntry | null>();
  private old = new Map<string, StoredEntry | null>();
  private readonly generationSize: number;

  constructor(capacity: number) {
    this.generationSize = Math.floor(capacity / 2);
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  /** The cached entry, null for a cached absence, undefined when not cached. */
  get(key: string): StoredEntry | null | undefined {
    const hit = this.young.get(key);
    if (hit !== undefined) return hit;
    const aged = this.old.get(key);
    if (aged === undefined) return undefined;
    this.old.delete(key);
    this.put(key, aged);
    return aged;
  }

  /** Replaces the entry of a cached key (a commit changed it); keys not cached stay out. */
  refresh(key: string, entry: StoredEntry | null): void {
    if (this.young.has(key)) this.young.set(key, entry);
    else if (this.old.has(key)) this.old.set(key, entry);
  }

  set(key: string, entry: StoredEntry | null): void {
    if (this.generationSize === 0) return;
    this.old.delete(key);
    this.put(key, entry);
  }

  private put(key: string, entry: StoredEntry | null): void {
    if (!this.young.has(key) && this.young.size >= this.generationSize) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, entry);
  }
}
