import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDiskStoreConfig, type DiskStoreConfig } from '../../../src/state/disk/config.ts';
import { DiskStore } from '../../../src/state/disk/disk-store.ts';
import { openLevelEngine, type KvEngine } from '../../../src/state/disk/level-engine.ts';
import { WrittenKeys } from '../../../src/state/disk/written-keys.ts';

const FILTER_FILE = 'written-keys.filter';

const dirs: string[] = [];
const stores: DiskStore[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function newConfig(overrides: Partial<DiskStoreConfig> = {}): Readonly<DiskStoreConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'written-keys-test-'));
  dirs.push(dir);
  return createDiskStoreConfig({ dir, ...overrides });
}

/** The real engine, counting the point reads that reach LevelDB; `scanGate` holds the key scan before its end. */
function counting(scanGate?: Promise<void>): { reads: string[]; open: (cfg: DiskStoreConfig) => Promise<KvEngine> } {
  const reads: string[] = [];
  return {
    reads,
    open: async (cfg) => {
      const real = await openLevelEngine(cfg);
      return {
        ...real,
        getSync: (key) => { reads.push(key); return real.getSync(key); },
        keyBatches: (range, size) => (async function* gated() {
          const all: string[][] = [];
          for await (const keys of real.keyBatches(range, size)) all.push(keys);
          await scanGate;
          yield* all;
        })(),
      };
    },
  };
}

/** Closes `store` and removes the filter its close saved: the directory as a crash leaves it. */
async function closeAsIfCrashed(store: DiskStore, cfg: DiskStoreConfig): Promise<void> {
  await store.close();
  rmSync(join(cfg.dir, FILTER_FILE));
}

async function open(cfg: DiskStoreConfig, engine: (cfg: DiskStoreConfig) => Promise<KvEngine>): Promise<DiskStore> {
  const store = await DiskStore.open(cfg, engine);
  stores.push(store);
  return store;
}

describe('WrittenKeys', () => {
  it('never forgets a key it was given, and wrongly says "maybe" for few others', () => {
    // 64 KB for 65,536 keys: 8 bits a key, as the 64 MB default for 67M keys.
    const filter = new WrittenKeys(64 * 1024);
    expect(filter.byteLength).toBe(64 * 1024);
    for (let i = 0; i < 65_536; i++) filter.add(`n:email:shopper${i}@example.com`);
    for (let i = 0; i < 65_536; i++) expect(filter.mayContain(`n:email:shopper${i}@example.com`)).toBe(true);
    let wrong = 0;
    for (let i = 0; i < 100_000; i++) if (filter.mayContain(`n:anonymous_id:device-${i}`)) wrong++;
    // Theory at 8 bits and 6 probes: 2.2%.
    expect(wrong / 100_000).toBeLessThan(0.04);
  });

  it('rounds its size down to a power of two, with a floor', () => {
    expect(new WrittenKeys(100_000).byteLength).toBe(65_536);
    expect(new WrittenKeys(1).byteLength).toBe(64);
  });
});

describe('DiskStore: reads of keys never written skip LevelDB', () => {
  it('in a store that opened empty, from its first commit on', async () => {
    const engine = counting();
    const store = await open(newConfig(), engine.open);
    expect(store.writtenKeys).toBe('ready');
    store.put('n:email:a@example.com', 'customer_id:cus_1');
    store.put('d:gone', '1');
    await store.commit(new Map([['identity:0', 2n]]));
    store.delete('d:gone');
    await store.commit();
    engine.reads.length = 0;
    for (let i = 0; i < 1_000; i++) expect(store.get(`n:email:new${i}@example.com`)).toBeNull();
    expect(engine.reads.length).toBeLessThan(50);
    expect(store.get('n:email:a@example.com')).toBe('customer_id:cus_1');
    // Deleted keys stay "maybe": read, and absent.
    expect(store.get('d:gone')).toBeNull();
    expect(engine.reads).toContain('d:gone');
  });

  it('in a reopened store once the background scan of its keys is done, keys committed during the scan included', async () => {
    const cfg = newConfig();
    const first = await open(cfg, openLevelEngine);
    for (let i = 0; i < 500; i++) first.put(`n:email:old${i}@example.com`, `customer_id:cus_${i}`);
    await first.commit(new Map([['identity:0', 500n]]));
    await closeAsIfCrashed(first, cfg);

    let release!: () => void;
    const engine = counting(new Promise<void>((r) => { release = r; }));
    const store = await open(cfg, engine.open);
    expect(store.writtenKeys).toBe('building');
    engine.reads.length = 0;
    // Before the scan ends every read goes to LevelDB.
    expect(store.get('n:email:never@example.com')).toBeNull();
    expect(engine.reads).toEqual(['n:email:never@example.com']);
    // Committed after the scan's snapshot: the scan cannot see it, the commit adds it.
    store.put('n:email:during@example.com', 'customer_id:cus_during');
    await store.commit(new Map([['identity:0', 501n]]));
    release();
    await store.writtenKeysBuilt();
    expect(store.writtenKeys).toBe('ready');

    engine.reads.length = 0;
    for (let i = 0; i < 500; i++) expect(store.get(`n:email:old${i}@example.com`)).toBe(`customer_id:cus_${i}`);
    expect(store.get('n:email:during@example.com')).toBe('customer_id:cus_during');
    expect(engine.reads).toHaveLength(501);
    engine.reads.length = 0;
    for (let i = 0; i < 1_000; i++) expect(store.get(`n:email:new${i}@example.com`)).toBeNull();
    expect(engine.reads.length).toBeLessThan(50);
  });

  it('is off with a size of 0: every read goes to LevelDB', async () => {
    const engine = counting();
    const store = await open(newConfig({ writtenKeysFilterBytes: 0 }), engine.open);
    expect(store.writtenKeys).toBe('off');
    engine.reads.length = 0;
    for (let i = 0; i < 10; i++) store.get(`n:email:new${i}@example.com`);
    expect(engine.reads).toHaveLength(10);
  });

  it('closes cleanly while the scan is still running', async () => {
    const cfg = newConfig();
    const first = await open(cfg, openLevelEngine);
    first.put('d:a', '1');
    await first.commit();
    await closeAsIfCrashed(first, cfg);
    const store = await open(cfg, counting(new Promise<void>(() => undefined)).open);
    expect(store.writtenKeys).toBe('building');
    // The gated scan never ends by itself: close must not wait for it.
    await expect(Promise.race([store.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), 2_000))])).resolves.toBe('closed');
  });
});

describe('DiskStore: the filter saved at a clean close', () => {
  it('reports a save that failed from close, and the next open scans', async () => {
    const cfg = newConfig({ writtenKeysFilterBytes: 64 * 1024 });
    const first = await open(cfg, openLevelEngine);
    first.put('n:email:a@example.com', 'customer_id:cus_a');
    await first.commit(new Map([['identity:0', 1n]]));
    mkdirSync(join(cfg.dir, `${FILTER_FILE}.tmp`)); // the temporary file cannot be created
    const closed = await first.close();
    expect(closed.keyFilterSaveError?.message).toMatch(/EISDIR/);
    const second = await open(cfg, openLevelEngine);
    expect([second.writtenKeys, second.writtenKeysSaved]).toEqual(['building', false]);
    await second.writtenKeysBuilt();
    expect(second.get('n:email:a@example.com')).toBe('customer_id:cus_a');
  });

  it('is the next open\'s filter at once, without a scan', async () => {
    const cfg = newConfig({ writtenKeysFilterBytes: 64 * 1024 });
    const first = await open(cfg, openLevelEngine);
    for (let i = 0; i < 500; i++) first.put(`n:email:old${i}@example.com`, `customer_id:cus_${i}`);
    await first.commit(new Map([['identity:0', 500n]]));
    await first.close();
    expect(existsSync(join(cfg.dir, FILTER_FILE))).toBe(true);

    const engine = counting(new Promise<void>(() => undefined)); // a scan would never end
    const store = await open(cfg, engine.open);
    expect(store.writtenKeys).toBe('ready');
    expect(store.writtenKeysSaved).toBe(true);
    // Taken: a crash from here on, after commits the file does not know, leaves no file to trust.
    expect(existsSync(join(cfg.dir, FILTER_FILE))).toBe(false);
    engine.reads.length = 0;
    for (let i = 0; i < 1_000; i++) expect(store.get(`n:email:new${i}@example.com`)).toBeNull();
    expect(engine.reads.length).toBeLessThan(50);
    for (let i = 0; i < 500; i++) expect(store.get(`n:email:old${i}@example.com`)).toBe(`customer_id:cus_${i}`);
  });

  it('is not used once the store has committed since it was saved, nor when torn: the open scans instead', async () => {
    const cfg = newConfig({ writtenKeysFilterBytes: 64 * 1024 });
    const path = join(cfg.dir, FILTER_FILE);
    const first = await open(cfg, openLevelEngine);
    first.put('n:email:a@example.com', 'customer_id:cus_a');
    await first.commit(new Map([['identity:0', 1n]]));
    await first.close();
    const older = readFileSync(path);

    // A later run commits a key and closes; then the older file comes back (a run that saved, a
    // version that does not know the file and committed after it: either way it lacks the key).
    const second = await open(cfg, openLevelEngine);
    second.put('n:email:b@example.com', 'customer_id:cus_b');
    await second.commit(new Map([['identity:0', 2n]]));
    await second.close();
    writeFileSync(path, older);
    const third = await open(cfg, openLevelEngine);
    expect(third.writtenKeys).toBe('building');
    await third.writtenKeysBuilt();
    expect(third.get('n:email:b@example.com')).toBe('customer_id:cus_b');
    await third.close();

    // The file of this very state, cut short.
    writeFileSync(path, readFileSync(path).subarray(0, 1_000));
    const fourth = await open(cfg, openLevelEngine);
    expect(fourth.writtenKeys).toBe('building');
    await fourth.writtenKeysBuilt();
    expect(fourth.get('n:email:a@example.com')).toBe('customer_id:cus_a');
    expect(fourth.get('n:email:b@example.com')).toBe('customer_id:cus_b');
  });
});
