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

  /**
   * A commit wrote `layer`: cached keys take their new entries, keys not cached stay out. Walks the
   * smaller side: a unit's few hundred keys against the cache, or, in a restore (batches of
   * thousands of keys, a cache the written-keys filter keeps nearly empty), the cache against them.
   */
  refreshFrom(layer: ReadonlyMap<string, StoredEntry | null>): void {
    if (this.size === 0) return;
    if (layer.size <= this.size) {
      layer.forEach((entry, key) => {
        if (this.young.has(key)) this.young.set(key, entry);
        else if (this.old.has(key)) this.old.set(key, entry);
      });
      return;
    }
    for (const generation of [this.young, this.old]) {
      for (const key of generation.keys()) {
        // Values are entries or null (a deletion), never undefined: undefined is "not written".
        const entry = layer.get(key);
        if (entry !== undefined) generation.set(key, entry);
      }
    }
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
