import type { DiskStoreConfig } from './config.ts';
import {
  assertDataKey, assertExpiry, COMMITTED_AT_KEY, decodeEntry, encodeEntry, expiredBefore, EXPIRY_PREFIX, expiryIndexKey, LAYOUT_KEY, OFFSET_PREFIX,
  offsetKey, parseExpiryIndexKey, prefixEnd, type StoredEntry,
} from './entry-codec.ts';
import { DiskStoreError } from './errors.ts';
import { openLevelEngine, type KvEngine } from './level-engine.ts';
import { ReadCache } from './read-cache.ts';
import { saveWrittenKeys, takeWrittenKeys } from './saved-written-keys.ts';
import { WrittenKeys } from './written-keys.ts';

/** Next offset to read per changelog partition, keyed `<topic>:<partition>` as in ChangelogTables. */
export type ChangelogOffsets = ReadonlyMap<string, bigint>;

/** A staged change: the new entry, or null for a deletion (a tombstone in the changelog). */
type Layer = Map<string, StoredEntry | null>;

/**
 * Key-value state on local disk, shaped for a transactional stream processor:
 * - reads are synchronous and see the staged writes first (read-your-writes);
 * - writes are staged in layers, one per unit of work in flight (`beginLayer`), each on top of the
 *   ones before it;
 * - `rollback` discards every staged layer, nothing reached the disk;
 * - `commit` takes the oldest layer out of a rollback's reach at once and writes it, with the
 *   changelog offsets it brings the store to, in one atomic batch, after every layer committed
 *   before it; so after any crash the data and the offsets on disk agree, and a restart reads the
 *   changelogs from those offsets only. The caller need not wait for the write: reads see the
 *   layer until it lands;
 * - entries may carry an expiry; `sweepExpired` yields the expired keys so the caller deletes them
 *   in a batch of its own and writes the tombstones to the changelog in the same transaction.
 * Call `commit` only after the Kafka transaction that carries the same changes committed: the
 * store may lag the changelog (the tail is read again), it must never lead it.
 */
export class DiskStore {
  private readonly engine: KvEngine;
  private readonly dir: string;
  private readonly cache: ReadCache;
  /** Every key on disk (a Bloom filter), so reads of keys never written skip LevelDB; null until built. */
  private written: WrittenKeys | null = null;
  /** Being filled by a scan of the keys on disk (a reopened store), plus the keys committed meanwhile. */
  private building: WrittenKeys | null = null;
  private buildDone: Promise<void> = Promise.resolve();
  /** The filter was the one a clean close saved (no scan needed). */
  readonly writtenKeysSaved: boolean = false;
  /** Staged layers, oldest first; writes go to the newest (a first write creates it). */
  private staged: Layer[] = [];
  /** Layers committed and waiting for the write before them, oldest first: readable until written. */
  private queued: Layer[] = [];
  /** The batch being written: still readable until the engine has it. */
  private inflight: Layer | null = null;
  /** The last write queued; each starts when the one before it has ended. */
  private writes: Promise<void> = Promise.resolve();
  /**
   * The last key read or written and its entry. Stores read the key they are about to write several
   * times in a row (check, undo, load, recount), and each full read costs about 1.5 µs: staged
   * layers, the in-flight layer, the key filter, the read cache, LevelDB. Only put, delete and
   * rollback change what a key reads as.
   */
  private lastKey: string | null = null;
  private lastEntry: StoredEntry | null = null;
  private committedOffsets: Map<string, bigint>;
  private lastCommitAt: number | null;
  /** The layout the last commit stamped (stampLayout); null if it stamped none. */
  private writtenLayout: string | null;
  /** The layout every commit stamps (null: none). */
  private layout: string | null = null;
  /** Expiry index entries found stale by a sweep, deleted with the next commit. */
  private staleIndexKeys = new Set<string>();
  /**
   * Per staged layer, the index entries of the values its puts and deletions replace: written with
   * the layer (so a rewritten cart leaves one index entry, not one per event), dropped with it.
   */
  private replacedIndexKeys = new WeakMap<Layer, string[]>();
  /** Set by a failed commit: the disk is behind the changelog until a restart restores the tail. */
  private failure: DiskStoreError | null = null;
  private closed = false;

  private constructor(engine: KvEngine, cfg: DiskStoreConfig, offsets: Map<string, bigint>, committedAt: number | null, layout: string | null, saved: WrittenKeys | null) {
    this.engine = engine;
    this.writtenLayout = layout;
    this.dir = cfg.dir;
    this.cache = new ReadCache(cfg.readCacheEntries);
    this.committedOffsets = offsets;
    this.lastCommitAt = committedAt;
    if (cfg.writtenKeysFilterBytes > 0) {
      // Every commit writes its time, so a store without one has never written anything.
      if (committedAt === null && offsets.size === 0) this.written = new WrittenKeys(cfg.writtenKeysFilterBytes);
      else if (saved !== null) {
        this.written = saved;
        this.writtenKeysSaved = true;
      }
      else this.buildDone = this.buildWrittenKeys(new WrittenKeys(cfg.writtenKeysFilterBytes));
    }
  }

  /**
   * Fills `filter` with every data key on disk in the background, then uses it. Keys committed
   * during the scan are added by `commit` (the scan's snapshot may predate them).
   */
  private async buildWrittenKeys(filter: WrittenKeys): Promise<void> {
    this.building = filter;
    try {
      // Data keys are every key not under the reserved NUL prefix.
      for await (const keys of this.engine.keyBatches({ gte: '\u0001' }, 1_000)) {
        if (this.closed) return;
        for (const key of keys) filter.add(key);
      }
      if (!this.closed) this.written = filter;
    } catch {
      // Reads go to LevelDB as before: the filter only saves work.
    } finally {
      this.building = null;
    }
  }

  /** Whether reads of keys never written skip LevelDB yet ('building' while a reopened store scans its keys). */
  get writtenKeys(): 'off' | 'building' | 'ready' {
    return this.written !== null ? 'ready' : this.building !== null ? 'building' : 'off';
  }

  /** Resolves when the background scan of a reopened store's keys has finished (for tests and benchmarks). */
  writtenKeysBuilt(): Promise<void> {
    return this.buildDone;
  }

  /** Opens (or creates) the store in `cfg.dir` and reads its committed offsets. */
  static async open(cfg: DiskStoreConfig, openEngine: (cfg: DiskStoreConfig) => Promise<KvEngine> = openLevelEngine): Promise<DiskStore> {
    const engine = await openEngine(cfg);
    const offsets = new Map<string, bigint>();
    for await (const [k, v] of engine.entries({ gte: OFFSET_PREFIX, lt: prefixEnd(OFFSET_PREFIX) })) {
      offsets.set(k.slice(OFFSET_PREFIX.length), BigInt(v));
    }
    const stored = engine.getSync(COMMITTED_AT_KEY);
    const committedAt = stored === undefined ? null : Number(stored);
    const layout = stampedLayout(engine.getSync(LAYOUT_KEY), committedAt);
    const saved = cfg.writtenKeysFilterBytes > 0 && committedAt !== null
      ? await takeWrittenKeys(cfg.dir, cfg.writtenKeysFilterBytes, { committedAt, offsets })
      : null;
    return new DiskStore(engine, cfg, offsets, committedAt, layout, saved);
  }

  /**
   * Names the meaning of the values this process writes; the next commit records it. A store whose
   * `storedLayout` differs was written by code that encoded its values otherwise.
   */
  stampLayout(layout: string): void {
    this.layout = layout;
  }

  /**
   * The layout the last commit stamped; null when it stamped none (written by code that does not
   * stamp, such as an older version run after a newer one: its commit leaves the stamp of the
   * commit before it, which names another commit time, so it does not count).
   */
  get storedLayout(): string | null {
    return this.writtenLayout;
  }

  /** The value of `key` as this batch sees it, null when absent. */
  get(key: string): string | null {
    return this.getEntry(key)?.value ?? null;
  }

  getEntry(key: string): StoredEntry | null {
    this.assertUsable();
    if (key === this.lastKey) return this.lastEntry;
    const entry = this.lookUp(key);
    this.lastKey = key;
    this.lastEntry = entry;
    return entry;
  }

  private lookUp(key: string): StoredEntry | null {
    for (let i = this.staged.length - 1; i >= 0; i--) {
      const staged = this.staged[i]!.get(key);
      if (staged !== undefined) return staged;
    }
    for (let i = this.queued.length - 1; i >= 0; i--) {
      const queued = this.queued[i]!.get(key);
      if (queued !== undefined) return queued;
    }
    // A write adds its keys to the filter as it starts, so a key the filter has never seen is
    // neither in the in-flight layer nor on disk: one probe instead of three (a cold restore's
    // layers are maps of a fetch's worth of keys, each probe a cache miss).
    if (this.written !== null && !this.written.mayContain(key)) return null;
    const inflight = this.inflight?.get(key);
    if (inflight !== undefined) return inflight;
    return this.stored(key);
  }

  /** Stages `key` -> `value`, visible to this batch's reads at once, to disk at `commit`. */
  put(key: string, value: string, opts?: { expiresAt?: number | null }): void {
    this.assertUsable();
    assertDataKey(key);
    const expiresAt = opts?.expiresAt ?? null;
    assertExpiry(expiresAt);
    const entry = { value, expiresAt };
    const layer = this.newestLayer();
    this.dropReplacedIndex(layer, key, expiresAt);
    layer.set(key, entry);
    this.lastKey = key;
    this.lastEntry = entry;
  }

  /** Stages the deletion of `key`. */
  delete(key: string): void {
    this.assertUsable();
    assertDataKey(key);
    const layer = this.newestLayer();
    this.dropReplacedIndex(layer, key, null);
    layer.set(key, null);
    this.lastKey = key;
    this.lastEntry = null;
  }

  /**
   * The value `key` had was indexed under its expiry time: that index entry goes with `layer`.
   * Known only when the caller read the key just before (the tables do, to count): a blind write
   * leaves the old entry to a sweep, which finds it stale when its time comes.
   */
  private dropReplacedIndex(layer: Layer, key: string, expiresAt: number | null): void {
    if (this.lastKey !== key) return;
    const old = this.lastEntry?.expiresAt ?? null;
    if (old === null || old === expiresAt) return;
    const keys = this.replacedIndexKeys.get(layer);
    if (keys === undefined) this.replacedIndexKeys.set(layer, [expiryIndexKey(old, key)]);
    else keys.push(expiryIndexKey(old, key));
  }

  /** Starts a layer for the next unit of work: `commit` writes layers one at a time, oldest first. */
  beginLayer(): void {
    this.staged.push(new Map());
  }

  private newestLayer(): Layer {
    const newest = this.staged.at(-1);
    if (newest !== undefined) return newest;
    const layer: Layer = new Map();
    this.staged.push(layer);
    return layer;
  }

  /** A change of `key` is staged, queued or being written: the disk does not have it yet. */
  private isPending(key: string): boolean {
    for (const layer of this.staged) if (layer.has(key)) return true;
    for (const layer of this.queued) if (layer.has(key)) return true;
    return this.inflight?.has(key) === true;
  }

  /** Keys written or deleted and not yet committed or rolled back, over every layer. */
  get stagedSize(): number {
    let n = 0;
    for (const layer of this.staged) n += layer.size;
    return n;
  }

  /** Committed entries held decoded in memory (bounded by `readCacheEntries`), for metrics. */
  get cachedEntries(): number {
    return this.cache.size;
  }

  /** Forgets every staged layer: the oldest one's transaction aborted, and the later ones depend on it. */
  rollback(): void {
    this.staged = [];
    this.lastKey = null;
  }

  /**
   * The oldest staged layer's transaction committed: takes it out of a rollback's reach now, and
   * writes it with `offsets` atomically once every layer committed before it is written (offsets
   * not named keep their value). Resolves when it is on disk; reads see it meanwhile. A failed
   * write leaves the store unusable, the layers queued behind it unwritten: the disk is behind
   * the changelog, and only a restart (which reads the tail from the offsets on disk) makes it
   * whole again.
   */
  commit(offsets: ChangelogOffsets = new Map()): Promise<void> {
    try {
      this.assertUsable();
    } catch (err) {
      return Promise.reject(err);
    }
    const layer = this.staged.shift() ?? new Map<string, StoredEntry | null>();
    this.queued.push(layer);
    // Nothing before it: written now, so the batch is filled before the caller goes on.
    const write = this.queued.length === 1 && this.inflight === null ? this.write(offsets) : this.writes.then(() => this.write(offsets));
    this.writes = write.catch(() => undefined);
    return write;
  }

  /** Writes the oldest queued layer. */
  private async write(offsets: ChangelogOffsets): Promise<void> {
    const layer = this.queued.shift()!;
    if (this.failure !== null) throw this.failure;
    if (layer.size === 0 && offsets.size === 0 && this.staleIndexKeys.size === 0) return;
    this.inflight = layer;
    const layout = this.layout;
    const staleIndexKeys = this.staleIndexKeys;
    this.staleIndexKeys = new Set();
    const at = Date.now();
    try {
      await this.engine.write((batch) => {
        // Stale and replaced index deletions first: a put of the same key and expiry later in the
        // batch wins (a value rewritten back to an earlier expiry time keeps its entry).
        for (const key of staleIndexKeys) batch.del(key);
        for (const key of this.replacedIndexKeys.get(layer) ?? []) batch.del(key);
        // Reads see the inflight layer until the write lands, so the cache may take the new values now
        // (only keys already cached: a restore's millions of writes would otherwise churn the cache).
        this.cache.refreshFrom(layer);
        // forEach, not for-of: an iterator makes a [key, entry] array per entry, and a restore
        // writes millions (7% of its allocations).
        layer.forEach((entry, key) => {
          if (entry === null) {
            batch.del(key);
            return;
          }
          batch.put(key, encodeEntry(entry));
          this.written?.add(key);
          this.building?.add(key);
          if (entry.expiresAt !== null) batch.put(expiryIndexKey(entry.expiresAt, key), '');
        });
        for (const [partition, offset] of offsets) batch.put(offsetKey(partition), offset.toString());
        batch.put(COMMITTED_AT_KEY, String(at));
        if (layout !== null) batch.put(LAYOUT_KEY, `${layout}\n${at}`);
      });
    } catch (err) {
      this.failure = new DiskStoreError('DISK_STORE_WRITE_FAILED', `state commit failed: ${(err as Error).message}`, { cause: err });
      this.inflight = null;
      throw this.failure;
    }
    for (const [partition, offset] of offsets) this.committedOffsets.set(partition, offset);
    this.lastCommitAt = at;
    this.writtenLayout = layout;
    this.inflight = null;
  }

  /**
   * Committed entries whose key starts with `prefix`, in key order (staged changes not included). For
   * rebuilding small in-memory indexes at start (held events) from the disk instead of the topics.
   */
  async *scan(prefix: string): AsyncGenerator<[string, StoredEntry]> {
    this.assertUsable();
    assertDataKey(prefix);
    for await (const [key, raw] of this.engine.entries({ gte: prefix, lt: prefixEnd(prefix) })) yield [key, decodeEntry(key, raw)];
  }

  /** Committed offsets: where a restart resumes each changelog partition. */
  offsets(): ChangelogOffsets {
    return new Map(this.committedOffsets);
  }

  /** When the last commit was written (null for a new store): a store older than the changelog's
   * delete.retention.ms may have missed tombstones and must be restored from the beginning. */
  get committedAt(): number | null {
    return this.lastCommitAt;
  }

  /**
   * Up to `limit` committed keys whose expiry is at or before `now`, oldest first. Nothing is deleted:
   * the caller stages the deletions (and writes the changelog tombstones) and commits them. Keys
   * with a change staged or being committed are left for the next sweep, which reports them again
   * if they are still expired. Index entries left behind by rewrites and deletions are cleaned up
   * with the next commit.
   */
  async sweepExpired(now: number, limit = 10_000): Promise<string[]> {
    this.assertUsable();
    const expired: string[] = [];
    // Bounded work per sweep even when most index entries are stale.
    let budget = limit * 4;
    for await (const [indexKey] of this.engine.entries({ gte: EXPIRY_PREFIX, lt: expiredBefore(now) })) {
      if (expired.length >= limit || budget-- <= 0) break;
      const { expiresAt, key } = parseExpiryIndexKey(indexKey);
      if (this.isPending(key)) continue;
      const entry = this.committed(key);
      if (entry === null || entry.expiresAt !== expiresAt) this.staleIndexKeys.add(indexKey);
      else expired.push(key);
    }
    return expired;
  }

  /**
   * Closes the engine after the commits queued are written; staged changes are dropped (never committed).
   * Saves the written-keys filter for the next open; a failed save is returned (the close itself
   * succeeds: the next open scans the keys instead).
   */
  async close(): Promise<{ keyFilterSaveError: Error | null }> {
    if (this.closed) return { keyFilterSaveError: null };
    this.closed = true;
    this.staged = [];
    this.lastKey = null;
    await this.writes;
    let keyFilterSaveError: Error | null = null;
    // Nothing commits any more: the filter holds every key on disk, so the next open may reuse it.
    if (this.written !== null && this.failure === null && this.lastCommitAt !== null) {
      keyFilterSaveError = await saveWrittenKeys(this.dir, this.written, { committedAt: this.lastCommitAt, offsets: this.committedOffsets })
        .then(() => null, (err: unknown) => err as Error);
    }
    // A key scan still running stops at its next key, or when the engine closes its iterator.
    await this.engine.close();
    return { keyFilterSaveError };
  }

  private committed(key: string): StoredEntry | null {
    if (this.written !== null && !this.written.mayContain(key)) return null;
    return this.stored(key);
  }

  /** The entry on disk, through the read cache. */
  private stored(key: string): StoredEntry | null {
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const raw = this.engine.getSync(key);
    const entry = raw === undefined ? null : decodeEntry(key, raw);
    this.cache.set(key, entry);
    return entry;
  }

  private assertUsable(): void {
    if (this.closed) throw new DiskStoreError('DISK_STORE_UNUSABLE', 'the state store is closed');
    if (this.failure !== null) {
      throw new DiskStoreError('DISK_STORE_UNUSABLE', 'the state store failed to commit earlier; restart to restore it from the changelogs', { cause: this.failure });
    }
  }
}

/** The layout a stamp names, if the commit that wrote it is the last one (`<layout>\n<commit time>`). */
function stampedLayout(stamp: string | undefined, committedAt: number | null): string | null {
  if (stamp === undefined || committedAt === null) return null;
  const newline = stamp.lastIndexOf('\n');
  return newline > 0 && Number(stamp.slice(newline + 1)) === committedAt ? stamp.slice(0, newline) : null;
}
