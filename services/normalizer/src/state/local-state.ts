import { rm } from 'node:fs/promises';
import type { ChangelogStore, RecordSink } from './changelog.ts';
import type { DiskStoreConfig } from './disk/config.ts';
import { DiskStore, type ChangelogOffsets } from './disk/disk-store.ts';
import { DiskIdentityIndex } from './identity-index.ts';
import { DiskTables } from './record-table.ts';

/**
 * What the values this process keeps on disk mean. Bump it when an encoding of a local value
 * changes: a store written under another layout is restored from the changelogs, not read.
 * 2: identity flags carried in `n:` values and counted per cluster; member lists length-prefixed,
 *    customer ids first (cluster-value.ts).
 */
export const LOCAL_LAYOUT = 'local/2';

/** Separates the layout from the expiry settings in a stamp (`local/2 expiry identity=…`). */
const EXPIRY_PART = ' expiry ';

export interface LocalStateOptions {
  /**
   * The windows the disk tables compute their entries' expiry times from (`expirySettings` in
   * state-stores.ts). Each entry's expiry time is written with it, so a store written under other
   * settings would expire by the old ones: it is restored from the changelogs instead, as memory
   * would be. Unnamed (tests and benchmarks that do not restart the service), it is not compared.
   */
  expiry?: string;
}

const INDEX_SWEEP_MS = 60_000;
const INDEX_SWEEP_LIMIT = 10_000;

/**
 * The state stage's stores on local disk (NORMALIZER_STATE_DIR). The stores that grow with
 * shoppers (identity, dedupe, guards, rollups, order ids and ledger) keep their entries in disk
 * tables (`tables`, `identityIndex`) and read them from there; held events stay in memory (bounded
 * by maxHeldEvents) and are mirrored: every record they apply is staged in the DiskStore too, and
 * read back at start (`load`). Either way every change is staged in the DiskStore; the stage writes
 * the batch only after the Kafka transaction carrying the same records committed (`commit`, with
 * the changelog positions the store has read to), and drops it on a rollback. The changelog
 * topics stay the source of truth: the disk may lag them (a restart reads the tail from the stored
 * offsets), it never leads them.
 */
export class LocalState implements RecordSink {
  readonly store: DiskStore;
  readonly tables: DiskTables;
  private readonly cfg: Readonly<DiskStoreConfig>;
  private readonly opts: Readonly<LocalStateOptions>;
  /** The stamp this process writes: the layout, and the expiry settings when named. */
  private readonly layout: string;
  private readonly indexes: DiskIdentityIndex[] = [];
  private lastIndexSweep = 0;

  private constructor(store: DiskStore, cfg: Readonly<DiskStoreConfig>, opts: Readonly<LocalStateOptions>, layout: string) {
    this.store = store;
    this.cfg = cfg;
    this.opts = opts;
    this.layout = layout;
    this.tables = new DiskTables(store);
  }

  identityIndex(): DiskIdentityIndex {
    const index = new DiskIdentityIndex(this.store);
    this.indexes.push(index);
    return index;
  }

  static async open(cfg: Readonly<DiskStoreConfig>, opts: Readonly<LocalStateOptions> = {}): Promise<LocalState> {
    const store = await DiskStore.open(cfg);
    const layout = opts.expiry === undefined ? LOCAL_LAYOUT : `${LOCAL_LAYOUT}${EXPIRY_PART}${opts.expiry}`;
    store.stampLayout(layout);
    return new LocalState(store, cfg, opts, layout);
  }

  /**
   * Why the values on disk cannot be used by this process (null: they can, or there are none):
   * encoded under another layout, or given expiry times under other expiry settings.
   */
  layoutMismatch(): string | null {
    const stored = this.store.storedLayout;
    if (this.store.committedAt === null || stored === this.layout) return null;
    const cut = stored?.indexOf(EXPIRY_PART) ?? -1;
    const storedLayout = stored === null ? 'local/1' : cut < 0 ? stored : stored.slice(0, cut);
    if (storedLayout !== LOCAL_LAYOUT) return `written under layout ${storedLayout}, this version reads ${LOCAL_LAYOUT}`;
    if (this.opts.expiry === undefined) return null;
    const storedExpiry = cut < 0 ? 'unnamed' : stored!.slice(cut + EXPIRY_PART.length);
    return `written with other expiry settings (${storedExpiry}; now ${this.opts.expiry}): its entries' expiry times follow those`;
  }

  record(key: string, value: string | null): void {
    if (value === null) this.store.delete(key);
    else this.store.put(key, value);
  }

  /** From now on the stores mirror what they apply into this store. */
  attach(stores: Iterable<ChangelogStore>): void {
    for (const s of stores) if (!s.persistsItself) s.attachSink(this);
  }

  /** Rebuilds the memory of mirrored stores (held events) from the local store (no Kafka read); returns the entries read. */
  async load(stores: Iterable<ChangelogStore>): Promise<number> {
    let n = 0;
    for (const s of stores) {
      if (s.persistsItself) continue;
      const entries: Array<[string, string]> = [];
      for (const prefix of s.ownedPrefixes()) for await (const [k, e] of this.store.scan(prefix)) entries.push([k, e.value]);
      s.restoreLocal(entries);
      n += entries.length;
    }
    return n;
  }

  /** Offsets the stored state reflects: where the changelog tail resumes. Empty for a new store. */
  offsets(): ChangelogOffsets {
    return this.store.offsets();
  }

  /** A unit of work starts: its changes go to a layer of their own, committed or dropped as one. */
  beginLayer(): void {
    this.store.beginLayer();
  }

  /** A unit of work is decided: its layer takes the counters as they stand now. */
  seal(): void {
    for (const i of this.indexes) i.saveCounts();
  }

  /** Writes the oldest layer (and restored records staged since the last commit). */
  async commit(positions?: ChangelogOffsets): Promise<void> {
    // Counters changed by restored records; a unit's layer got its own from `seal`.
    this.seal();
    await this.store.commit(positions);
    // Remote tombstones leave expiry index entries behind, and only the sweep's owner calls
    // expire(): every instance sweeps the index now and then, which removes them with a commit.
    const now = Date.now();
    if (positions !== undefined && positions.size > 0 && now - this.lastIndexSweep >= INDEX_SWEEP_MS) {
      this.lastIndexSweep = now;
      this.tables.refreshExpired(now, INDEX_SWEEP_LIMIT);
    }
  }

  rollback(): void {
    this.store.rollback();
    this.tables.rollback();
    for (const i of this.indexes) i.rollback();
  }

  /** Sweeps the expiry index in the background for the next `expire` (expiry on disk lags a sweep). */
  refreshExpired(now: number, limit: number): void {
    this.tables.refreshExpired(now, limit);
  }

  close(): Promise<{ keyFilterSaveError: Error | null }> {
    return this.store.close();
  }

  /**
   * Deletes the store and opens an empty one: the changelogs no longer hold what the stored
   * offsets point at (truncated, recreated, or compacted past tombstones the store never saw).
   */
  async discard(): Promise<LocalState> {
    await this.store.close();
    await rm(this.cfg.dir, { recursive: true, force: true });
    return LocalState.open(this.cfg, this.opts);
  }
}
