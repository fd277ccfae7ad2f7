import { ConfigError } from '@cio-pipeline/core';

/**
 * Where the state lives on local disk and how much memory it may use. Memory is the sum of the
 * bounded parts below (plus LevelDB's index blocks and bloom filters of open files, about 10 bits
 * per key for the filters), never a function of the number of shoppers.
 */
export interface DiskStoreConfig {
  /** Directory of the store; one per instance (LevelDB locks it). */
  dir: string;
  /** LevelDB's LRU cache of uncompressed blocks. */
  blockCacheBytes: number;
  /** LevelDB's memtable: writes buffered before they become a sorted file (two can exist at once). */
  writeBufferBytes: number;
  /** Table files LevelDB keeps open, each with its index block and bloom filter in memory. */
  maxOpenFiles: number;
  /**
   * Committed entries kept decoded in JS for hot keys. Off by default: LevelDB's block cache already
   * serves hot keys, and under uniform reads the JS cache cost more per miss than it saved per hit
   * (docs/state-stores.md); turn it on when traffic is skewed to a few shoppers.
   */
  readCacheEntries: number;
  /**
   * The store remembers in a Bloom filter of this size which keys it has written (written-keys.ts),
   * so reads of keys it has never written (most of a cold restore's, every new shopper's) skip
   * LevelDB. 0 turns it off. A reopened store scans its keys into it in the
   * background, unless a clean close saved it beside the store (saved-written-keys.ts).
   */
  writtenKeysFilterBytes: number;
  /** Snappy-compress table blocks: half the disk, but every read of a block not cached decompresses it. */
  compression: boolean;
}

const MB = 1024 * 1024;

export const DISK_STORE_DEFAULTS = {
  blockCacheBytes: 64 * MB,
  // LevelDB's default is 4 MB. 32 MB: a cold restore from Kafka at 1.14x the rate for 19% less CPU
  // (docs/state-stores.md); a start replays up to this much log (0.05 to 0.1 s more).
  writeBufferBytes: 32 * MB,
  maxOpenFiles: 1000,
  readCacheEntries: 0,
  // 8 bits a key for 67M keys (50M identity links and their clusters): about 2% of misses still read.
  writtenKeysFilterBytes: 64 * MB,
  compression: true,
} satisfies Omit<DiskStoreConfig, 'dir'>;

/** Builds a validated, frozen config, every problem reported at once. */
export function createDiskStoreConfig(settings: Partial<DiskStoreConfig> & { dir: string }): Readonly<DiskStoreConfig> {
  const cfg: DiskStoreConfig = { ...DISK_STORE_DEFAULTS, ...settings };
  const problems: string[] = [];
  if (typeof cfg.dir !== 'string' || cfg.dir.trim() === '') problems.push('state.disk.dir must be a directory path');
  const minimum = { blockCacheBytes: MB, writeBufferBytes: MB, maxOpenFiles: 16, readCacheEntries: 0, writtenKeysFilterBytes: 0 } as const;
  for (const k of Object.keys(minimum) as Array<keyof typeof minimum>) {
    if (!Number.isSafeInteger(cfg[k]) || cfg[k] < minimum[k]) problems.push(`state.disk.${k} must be an integer >= ${minimum[k]}, got ${cfg[k]}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(cfg);
}

/**
 * A rough upper bound of the memory the store holds besides the process itself, for sizing a
 * container: block cache, two memtables, open files' index and filter blocks (~64 KB each at
 * LevelDB's 2 MB files), the JS read cache (~300 bytes an entry with its key) and the written-keys
 * filter.
 */
export function diskStoreMemoryBudget(cfg: DiskStoreConfig): number {
  return cfg.blockCacheBytes + 2 * cfg.writeBufferBytes + cfg.maxOpenFiles * 64 * 1024 + cfg.readCacheEntries * 300 + cfg.writtenKeysFilterBytes;
}
