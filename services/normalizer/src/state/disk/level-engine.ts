import { mkdir } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import type { DiskStoreConfig } from './config.ts';
import { DiskStoreError } from './errors.ts';

export type KvOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string };

/**
 * What the disk store needs from an embedded engine: synchronous point reads (the state stages
 * decide synchronously), atomic batches, ordered range scans. LevelDB through classic-level; see
 * docs/state-stores.md for why, and this seam for swapping it.
 */
export interface KvEngine {
  getSync(key: string): string | undefined;
  /** All or nothing, also across a crash: LevelDB's log record of the batch is checksummed. */
  write(ops: readonly KvOp[]): Promise<void>;
  /** Entries with gte <= key < lt in key order, from a snapshot taken when called. */
  entries(range: { gte: string; lt: string }): AsyncIterable<[string, string]>;
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
    cacheSize: cfg.blockCacheBytes, writeBufferSize: cfg.writeBufferBytes, maxOpenFiles: cfg.maxOpenFiles,
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
    // sync: false. The changelog topics are the source of truth: a commit lost to a power cut is
    // read again from them (the offsets committed with it are lost too), so an fsync per chunk buys
    // nothing; a process crash loses nothing either way, the write is in the OS before it resolves.
    write: (ops) => db.batch(ops as KvOp[], { sync: false }),
    entries: (range) => db.iterator(range),
    close: () => db.close(),
  };
}
