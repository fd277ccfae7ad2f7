import type { DiskStore } from './disk/disk-store.ts';

/**
 * A store's entries by id, parsed: what the stores keep instead of a Map, so that the same store
 * code runs in memory or on the local disk store. `due` yields the ids whose expiry time has come,
 * oldest first (a memory table walks its insertion order, which the stores keep in time order).
 */
export interface RecordTable<V> {
  get(id: string): V | undefined;
  has(id: string): boolean;
  set(id: string, value: V): void;
  delete(id: string): void;
  readonly size: number;
  due(now: number, limit?: number): string[];
}

export interface TableOptions<V> {
  /** When the entry expires (epoch ms), or null when it is kept until deleted. */
  expiresAt?: (value: V) => number | null;
  /** Defaults to JSON. */
  encode?: (value: V) => string;
  decode?: (raw: string) => V;
}

/** Where stores get their tables: memory (the default) or the local disk store. */
export interface TableSource {
  readonly onDisk: boolean;
  table<V>(prefix: string, opts?: TableOptions<V>): RecordTable<V>;
  /** A store's own bookkeeping on disk (never in the changelog); null in memory. */
  readonly store: DiskStore | null;
}

class MemoryTable<V> extends Map<string, V> implements RecordTable<V> {
  private readonly expiresAt: ((value: V) => number | null) | undefined;
  constructor(expiresAt: ((value: V) => number | null) | undefined) {
    super();
    this.expiresAt = expiresAt;
  }

  override set(id: string, value: V): this {
    return super.set(id, value);
  }

  override delete(id: string): boolean {
    return super.delete(id);
  }

  due(now: number, limit = Infinity): string[] {
    const out: string[] = [];
    if (this.expiresAt === undefined) return out;
    for (const [id, v] of this) {
      const at = this.expiresAt(v);
      if (out.length >= limit || at === null || at > now) break;
      out.push(id);
    }
    return out;
  }
}

export const MEMORY_TABLES: TableSource = {
  onDisk: false,
  store: null,
  table: <V>(_prefix: string, opts: TableOptions<V> = {}) => new MemoryTable<V>(opts.expiresAt),
};

/** Local keys (never changelog keys) start with `~`. */
const COUNT_PREFIX = '~n:';

/**
 * A table on the local disk store: entries under `<prefix><id>` (the changelog key), with their
 * expiry in the store's index. Reads see the batch's staged writes; `rollback`/`commit` are the
 * store's. The size is a counter kept in the same batches.
 */
class DiskTable<V> implements RecordTable<V> {
  private readonly store: DiskStore;
  private readonly prefix: string;
  private readonly countKey: string;
  private readonly encode: (value: V) => string;
  private readonly decode: (raw: string) => V;
  private readonly expiresAt: ((value: V) => number | null) | undefined;
  private readonly expired: () => readonly string[];
  private count: number;

  constructor(store: DiskStore, prefix: string, opts: TableOptions<V>, expired: () => readonly string[]) {
    this.store = store;
    this.prefix = prefix;
    this.countKey = `${COUNT_PREFIX}${prefix}`;
    this.encode = opts.encode ?? JSON.stringify;
    this.decode = opts.decode ?? ((raw) => JSON.parse(raw) as V);
    this.expiresAt = opts.expiresAt;
    this.expired = expired;
    this.count = Number(store.get(this.countKey) ?? 0);
  }

  get size(): number {
    return this.count;
  }

  get(id: string): V | undefined {
    const raw = this.store.get(this.prefix + id);
    return raw === null ? undefined : this.decode(raw);
  }

  has(id: string): boolean {
    return this.store.get(this.prefix + id) !== null;
  }

  set(id: string, value: V): void {
    const key = this.prefix + id;
    if (this.store.get(key) === null) this.recount(1);
    this.store.put(key, this.encode(value), { expiresAt: this.expiresAt?.(value) ?? null });
  }

  delete(id: string): void {
    const key = this.prefix + id;
    if (this.store.get(key) === null) return;
    this.recount(-1);
    this.store.delete(key);
  }

  /** The store's swept keys of this table still expired now (the sweep ran before; keys may have changed since). */
  due(now: number, limit = Infinity): string[] {
    const out: string[] = [];
    for (const key of this.expired()) {
      if (out.length >= limit) break;
      if (!key.startsWith(this.prefix)) continue;
      const at = this.store.getEntry(key)?.expiresAt ?? null;
      if (at !== null && at <= now) out.push(key.slice(this.prefix.length));
    }
    return out;
  }

  private recount(delta: number): void {
    this.count += delta;
    this.store.put(this.countKey, String(this.count));
  }

  /** After the store dropped its staged batch: the committed count. */
  reload(): void {
    this.count = Number(this.store.get(this.countKey) ?? 0);
  }
}

/**
 * Tables on the local disk store, and the expired keys its last sweep found: `refreshExpired` runs
 * the store's (asynchronous) sweep, and the next `expire` of the stages takes what it found, so
 * expiry on disk lags by one sweep interval.
 */
export class DiskTables implements TableSource {
  readonly onDisk = true;
  readonly store: DiskStore;
  private readonly tables: Array<DiskTable<unknown>> = [];
  private expired: string[] = [];
  private sweeping: Promise<void> | null = null;

  constructor(store: DiskStore) {
    this.store = store;
  }

  table<V>(prefix: string, opts: TableOptions<V> = {}): RecordTable<V> {
    const t = new DiskTable<V>(this.store, prefix, opts, () => this.expired);
    this.tables.push(t as DiskTable<unknown>);
    return t;
  }

  /** The counters follow the store back to its last commit. */
  rollback(): void {
    for (const t of this.tables) t.reload();
  }

  /** Starts a sweep of the expiry index for the next `expire`, unless one is running. */
  refreshExpired(now: number, limit: number): void {
    if (this.sweeping !== null) return;
    this.sweeping = this.store.sweepExpired(now, limit)
      .then((keys) => { this.expired = keys; })
      .catch(() => { this.expired = []; })
      .finally(() => { this.sweeping = null; });
  }

  /** For tests and the start: waits for a sweep to finish. */
  async sweepNow(now: number, limit: number): Promise<void> {
    await this.sweeping;
    this.refreshExpired(now, limit);
    await this.sweeping;
  }
}
