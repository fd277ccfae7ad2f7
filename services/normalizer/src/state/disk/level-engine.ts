import { mkdir } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import type { DiskStoreConfig } from './config.ts';
import { DiskStoreError } from './errors.ts';

/** Where a batch's changes go as they are listed (no array of op objects in between). */
export interface KvBatchWriter {
  put(key: string, value: string): void;
  del(key: string): void;
}

/**
 * What the disk store needs from an embedded engine: synchronous point reads (the state stages
 * decide synchronously), atomic batches, ordered range scans. LevelDB through classic-level; see
 * docs/state-stores.md for why, and this seam for swapping it.
 */
export interface KvEngine {
  getSync(key: string): string | undefined;
  /**
   * One batch, with what `fill` lists. All or nothing, also across a crash: LevelDB's log record of
   * the batch is checksummed.
   */
  write(fill: (batch: KvBatchWriter) => void): Promise<void>;
  /** Entries with gte <= key < lt in key order, from a snapshot taken when called. */
  entries(range: { gte: string; lt: string }): AsyncIterable<[string, string]>;
  /** Keys from `gte` on (to the end of the store) in key order, in arrays of up to `size`, from a snapshot taken when called. */
  keyBatches(range: { gte: string }, size: number): AsyncIterable<string[]>;
  close(): Promise<void>;
}

export async function openLevelEngine(cfg: DiskStoreConfig): Promise<KvEngine> {
  try {
    // Create it ourselves, so a path that cannot be a directory fails with the OS's reason.
    await mkdir(cfg.dir, { recursive: true });
  } catch (err) {
    throw new DiskStoreError('DISK_STORE_OPEN_FAILED', `cannot create the state directory ${cfg.dir}: ${(err as Error).message}`, { cause: err });
  }
  const db = new ClassicLevel<string, string>(cfg.dir, {
    keyEncoding: 'utf8', valueEncoding: 'utf8',
    cacheSize: cfg.blockCacheBytes, writeBufferSize: cfg.writeBufferBytes, maxOpenFiles: cfg.maxOpenFiles, compression: cfg.compression,
  });
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new DiskStoreError('DISK_STORE_LOCKED', `the state directory ${cfg.dir} is in use by another process`, { cause: err });
    }
    throw new DiskStoreError('DISK_STORE_OPEN_FAILED', `cannot open the state store in ${cfg.dir}: ${(err as Error).message}`, { cause: err });
  }
  return {
    getSync: (key) => db.getSync(key),
    write: (fill) => writeBatch(db, fill),
    entries: (range) => db.iterator(range),
    keyBatches: (range, size) => keyBatches(db, range, size),
    close: () => db.close(),
  };
}

/** A key no one writes: its deletion is the one public op that makes a batch of raw puts count. */
const NOOP_KEY = '\u0000m:noop';

/**
 * One atomic batch, built op by op (a chained batch): handing classic-level an array of op objects
 * costs the event loop 2.7 µs an op against 1.0 (docs/state-stores.md).
 *
 * Puts go to the batch's `_put`, abstract-level's interface for stores (classic-level hands it
 * straight to LevelDB's native batch), not its public `put`. The public one validates, looks up
 * encodings and builds an op object for hooks and events this store uses none of: 12% of a
 * restore's allocations, and 0.90-0.96 of its CPU without it. Our keys and values are strings in
 * utf8, the encoding the public path would give them. abstract-level skips the native write of a
 * batch with no public op, so one is added.
 *
 * sync: false. The changelog topics are the source of truth: a commit lost to a power cut is read
 * again from them (the offsets committed with it are lost too), so an fsync per chunk buys nothing;
 * a process crash loses nothing either way, the write is in the OS before it resolves.
 */
async function writeBatch(db: ClassicLevel<string, string>, fill: (batch: KvBatchWriter) => void): Promise<void> {
  const batch = db.batch();
  const raw = batch as unknown as { _put(key: string, value: string): void };
  let rawPuts = 0;
  try {
    fill({
      put: (key, value) => {
        raw._put(key, value);
        rawPuts++;
      },
      del: (key) => { batch.del(key); },
    });
    if (rawPuts > 0 && batch.length === 0) batch.del(NOOP_KEY);
  } catch (err) {
    await batch.close();
    throw err;
  }
  await batch.write({ sync: false });
}

/** Whole arrays per call: a `for await` over single keys costs about 4 µs a key, an array about 0.2. */
async function* keyBatches(db: ClassicLevel<string, string>, range: { gte: string }, size: number): AsyncGenerator<string[]> {
  const it = db.keys(range);
  try {
    for (;;) {
      const keys = await it.nextv(size);
      if (keys.length === 0) return;
      yield keys;
    }
  } finally {
    await it.close();
  }
}
