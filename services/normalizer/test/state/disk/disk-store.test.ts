import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@cio-pipeline/core';
import { ClassicLevel } from 'classic-level';
import { afterEach, describe, expect, it } from 'vitest';
import { createDiskStoreConfig, diskStoreMemoryBudget, type DiskStoreConfig } from '../../../src/state/disk/config.ts';
import { DiskStore } from '../../../src/state/disk/disk-store.ts';
import { DISK_STORE_ERROR_CODES, DiskStoreError } from '../../../src/state/disk/errors.ts';
import { openLevelEngine, type KvEngine } from '../../../src/state/disk/level-engine.ts';
import { ReadCache } from '../../../src/state/disk/read-cache.ts';

const dirs: string[] = [];
const stores: DiskStore[] = [];

function newConfig(overrides: Partial<DiskStoreConfig> = {}): Readonly<DiskStoreConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'disk-store-test-'));
  dirs.push(dir);
  return createDiskStoreConfig({ dir, ...overrides });
}

async function open(cfg: DiskStoreConfig, openEngine?: (cfg: DiskStoreConfig) => Promise<KvEngine>): Promise<DiskStore> {
  const store = await DiskStore.open(cfg, openEngine);
  stores.push(store);
  return store;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('DiskStore: staged batches', () => {
  it('shows a batch its own writes and deletions before they are committed', async () => {
    const store = await open(newConfig());
    store.put('n:email:a@example.com', 'customer_id:cus_1');
    await store.commit();
    store.put('n:email:b@example.com', 'customer_id:cus_2');
    store.delete('n:email:a@example.com');
    expect(store.get('n:email:b@example.com')).toBe('customer_id:cus_2');
    expect(store.get('n:email:a@example.com')).toBeNull();
    expect(store.stagedSize).toBe(2);
  });

  it('forgets a rolled-back batch and keeps what was committed before it', async () => {
    const cfg = newConfig();
    const store = await open(cfg);
    store.put('d:order:1', '1000');
    await store.commit(new Map([['dedupe:0', 7n]]));
    store.put('d:order:1', '2000');
    store.put('d:order:2', '2000');
    store.rollback();
    expect(store.get('d:order:1')).toBe('1000');
    expect(store.get('d:order:2')).toBeNull();
    expect(store.stagedSize).toBe(0);
    await store.commit();
    await store.close();
    const reopened = await open(cfg);
    expect(reopened.get('d:order:1')).toBe('1000');
    expect(reopened.get('d:order:2')).toBeNull();
    expect(reopened.offsets()).toEqual(new Map([['dedupe:0', 7n]]));
  });

  it('reads a key read just before as it stands after each write, delete and rollback', async () => {
    // The store remembers the last key it read (stores read a key several times in a row).
    const store = await open(newConfig());
    store.put('d:m-1', '100');
    await store.commit();
    expect(store.get('d:m-1')).toBe('100');
    store.put('d:m-1', '200');
    expect(store.get('d:m-1')).toBe('200');
    store.rollback();
    expect(store.get('d:m-1')).toBe('100');
    store.delete('d:m-1');
    expect(store.get('d:m-1')).toBeNull();
    store.rollback();
    expect(store.get(`d:${'m-1'}`)).toBe('100'); // an equal string built elsewhere
    store.beginLayer();
    store.put('d:m-2', 'x');
    expect(store.get('d:m-2')).toBe('x');
    store.rollback();
    expect(store.get('d:m-2')).toBeNull();
  });

  it('persists data and the offsets of each changelog partition together, and reopens with both', async () => {
    const cfg = newConfig();
    const store = await open(cfg);
    store.put('n:email:a@example.com', 'customer_id:cus_1');
    await store.commit(new Map([['identity:0', 10n], ['identity:1', 4n]]));
    store.put('n:email:b@example.com', 'customer_id:cus_2');
    await store.commit(new Map([['identity:1', 9n], ['dedupe:2', 3n]]));
    expect(store.committedAt).not.toBeNull();
    await store.close();

    const reopened = await open(cfg);
    expect(reopened.get('n:email:a@example.com')).toBe('customer_id:cus_1');
    expect(reopened.get('n:email:b@example.com')).toBe('customer_id:cus_2');
    expect(reopened.offsets()).toEqual(new Map([['identity:0', 10n], ['identity:1', 9n], ['dedupe:2', 3n]]));
    expect(reopened.committedAt).toBe(store.committedAt);
  });

  it('keeps a batch readable while its commit is being written; a second commit is written after it, a rollback touches neither', async () => {
    const cfg = newConfig();
    const store = await open(cfg);
    store.put('n:anonymous_id:x', 'customer_id:cus_1');
    const first = store.commit(new Map([['identity:0', 1n]]));
    expect(store.get('n:anonymous_id:x')).toBe('customer_id:cus_1');
    store.put('n:anonymous_id:y', 'customer_id:cus_2');
    store.put('n:anonymous_id:x', 'customer_id:cus_3');
    const second = store.commit(new Map([['identity:0', 2n]]));
    // Committed layers are out of a rollback's reach at once: their transactions hold them.
    store.put('n:anonymous_id:z', 'customer_id:cus_4');
    store.rollback();
    expect([store.get('n:anonymous_id:x'), store.get('n:anonymous_id:y'), store.get('n:anonymous_id:z')]).toEqual(['customer_id:cus_3', 'customer_id:cus_2', null]);
    await first;
    expect(store.offsets().get('identity:0')).toBe(1n);
    await second;
    expect(store.offsets().get('identity:0')).toBe(2n);
    const third = store.commit(new Map([['identity:0', 3n]]));
    store.put('n:anonymous_id:w', 'customer_id:cus_5');
    const fourth = store.commit(new Map([['identity:0', 4n]]));
    // A close writes what was committed before it.
    await store.close();
    await Promise.all([third, fourth]);
    const reopened = await open(cfg);
    expect(reopened.offsets().get('identity:0')).toBe(4n);
    expect(['x', 'y', 'z', 'w'].map((k) => reopened.get(`n:anonymous_id:${k}`))).toEqual(['customer_id:cus_3', 'customer_id:cus_2', null, 'customer_id:cus_5']);
  });

  it('serves a committed value changed after it was cached, not the cached one', async () => {
    const store = await open(newConfig({ readCacheEntries: 10 }));
    store.put('p:cus_1', '{"orders":1}');
    await store.commit();
    expect(store.get('p:cus_1')).toBe('{"orders":1}');
    store.put('p:cus_1', '{"orders":2}');
    await store.commit();
    store.delete('p:cus_1');
    store.rollback();
    expect(store.get('p:cus_1')).toBe('{"orders":2}');
  });

  it('scans committed entries of one prefix in key order, with their expiry', async () => {
    const store = await open(newConfig());
    store.put('h:2', 'held-2', { expiresAt: 2_000 });
    store.put('h:1', 'held-1');
    store.put('hx', 'other prefix');
    store.put('h:\u{1F600}', 'astral');
    store.put('n:email:a', 'customer_id:cus_1');
    await store.commit();
    store.put('h:3', 'staged only');
    const seen: Array<[string, unknown]> = [];
    for await (const entry of store.scan('h:')) seen.push(entry);
    expect(seen).toEqual([
      ['h:1', { value: 'held-1', expiresAt: null }], ['h:2', { value: 'held-2', expiresAt: 2_000 }], ['h:\u{1F600}', { value: 'astral', expiresAt: null }],
    ]);
  });

  it('stores any string value, empty or containing the separator, with or without expiry', async () => {
    const cfg = newConfig();
    const store = await open(cfg);
    store.put('p:a', '{"note":"a|b|c"}', { expiresAt: 42 });
    store.put('p:b', '');
    store.put('p:c', '|');
    await store.commit();
    await store.close();
    const reopened = await open(cfg);
    expect(reopened.getEntry('p:a')).toEqual({ value: '{"note":"a|b|c"}', expiresAt: 42 });
    expect(reopened.getEntry('p:b')).toEqual({ value: '', expiresAt: null });
    expect(reopened.get('p:c')).toBe('|');
  });

  it('refuses keys in its reserved namespace and expiries that are not timestamps', async () => {
    const store = await open(newConfig());
    expect(() => store.put('\u0000o:identity:0', '5')).toThrow(expect.objectContaining({ code: 'DISK_STORE_BAD_ENTRY' }));
    expect(() => store.delete('')).toThrow(expect.objectContaining({ code: 'DISK_STORE_BAD_ENTRY' }));
    expect(() => store.put('c:token', 'x', { expiresAt: 1.5 })).toThrow(expect.objectContaining({ code: 'DISK_STORE_BAD_ENTRY' }));
    expect(() => store.put('c:token', 'x', { expiresAt: -1 })).toThrow(expect.objectContaining({ code: 'DISK_STORE_BAD_ENTRY' }));
  });
});

describe('DiskStore: expiry', () => {
  it('reports committed keys past their expiry, oldest first, up to the limit; never keys without one', async () => {
    const store = await open(newConfig());
    store.put('n:cart_token:t3', 'customer_id:cus_1', { expiresAt: 3_000 });
    store.put('n:cart_token:t1', 'customer_id:cus_1', { expiresAt: 1_000 });
    store.put('n:cart_token:t2', 'customer_id:cus_2', { expiresAt: 2_000 });
    store.put('n:email:a@example.com', 'customer_id:cus_1');
    store.put('n:cart_token:later', 'customer_id:cus_2', { expiresAt: 9_000 });
    // Staged only: not reported until committed.
    expect(await store.sweepExpired(5_000)).toEqual([]);
    await store.commit();
    expect(await store.sweepExpired(5_000)).toEqual(['n:cart_token:t1', 'n:cart_token:t2', 'n:cart_token:t3']);
    expect(await store.sweepExpired(5_000, 2)).toEqual(['n:cart_token:t1', 'n:cart_token:t2']);
    expect(await store.sweepExpired(2_000)).toEqual(['n:cart_token:t1', 'n:cart_token:t2']);
    expect(store.getEntry('n:cart_token:t1')).toEqual({ value: 'customer_id:cus_1', expiresAt: 1_000 });
    // The index orders 15-digit times; a later `now` (or the largest expiry itself) still sees all.
    store.put('n:cart_token:last', 'customer_id:cus_3', { expiresAt: 999_999_999_999_999 });
    await store.commit();
    expect(await store.sweepExpired(Number.MAX_SAFE_INTEGER)).toHaveLength(5);
    expect(await store.sweepExpired(999_999_999_999_999)).toHaveLength(5);
  });

  it('stops reporting a key once it is deleted, renewed or made permanent', async () => {
    const cfg = newConfig();
    const store = await open(cfg);
    for (const k of ['a', 'b', 'c', 'd']) store.put(`h:${k}`, 'held', { expiresAt: 1_000 });
    await store.commit();
    for (const key of await store.sweepExpired(2_000)) if (key === 'h:a') store.delete(key);
    store.put('h:b', 'held', { expiresAt: 10_000 });
    store.put('h:c', 'identified');
    // A key with a change staged is left for the next sweep.
    expect(await store.sweepExpired(2_000)).toEqual(['h:d']);
    await store.commit();
    expect(await store.sweepExpired(2_000)).toEqual(['h:d']);
    expect(await store.sweepExpired(20_000)).toEqual(['h:d', 'h:b']);
    // The stale index entries the sweeps found were deleted with the next commit, and stay deleted.
    await store.commit();
    await store.close();
    const reopened = await open(cfg);
    expect(await reopened.sweepExpired(20_000)).toEqual(['h:d', 'h:b']);
    expect(reopened.get('h:c')).toBe('identified');
  });

  it('reports a key whose expiry was rewritten to the same moment exactly once', async () => {
    const store = await open(newConfig());
    store.put('c:tok', 'v1', { expiresAt: 500 });
    await store.commit();
    store.put('c:tok', 'v2', { expiresAt: 700 });
    await store.commit();
    store.put('c:tok', 'v3', { expiresAt: 500 });
    await store.commit();
    expect(await store.sweepExpired(1_000)).toEqual(['c:tok']);
    await store.commit();
    expect(await store.sweepExpired(1_000)).toEqual(['c:tok']);
  });

  it('keeps one index entry per key however often its expiry is rewritten, and a rolled-back rewrite keeps the one before', async () => {
    const cfg = newConfig();
    const store = await open(cfg);
    // As the tables write: read the key (to count it), then put or delete it.
    const rewrite = (key: string, expiresAt: number | null): void => {
      store.get(key);
      if (expiresAt === null) store.delete(key);
      else store.put(key, `until ${expiresAt}`, { expiresAt });
    };
    for (let t = 1; t <= 50; t++) {
      rewrite('c:cart', 1_000 + t);
      await store.commit();
    }
    // Several rewrites in one unit, back to an expiry time it had in this unit.
    rewrite('c:cart', 2_000);
    rewrite('c:cart', 3_000);
    rewrite('c:cart', 2_000);
    rewrite('c:gone', 5_000);
    await store.commit();
    rewrite('c:gone', null);
    await store.commit();
    // A unit that rolls back takes its index deletions with it.
    rewrite('c:cart', 9_000);
    store.rollback();
    await store.commit();
    expect(await store.sweepExpired(2_500)).toEqual(['c:cart']);
    await store.close();
    stores.splice(stores.indexOf(store), 1);

    const db = new ClassicLevel<string, string>(cfg.dir);
    const index = await db.keys({ gte: '\u0000x:', lt: '\u0000x;' }).all();
    await db.close();
    expect(index).toEqual([`\u0000x:${'2000'.padStart(15, '0')}:c:cart`]);
  });
});

describe('DiskStore: failures', () => {
  it('names another process holding the directory', async () => {
    const cfg = newConfig();
    await open(cfg);
    await expect(DiskStore.open(cfg)).rejects.toMatchObject({ code: 'DISK_STORE_LOCKED', retryable: false });
  });

  it('refuses a directory it cannot create', async () => {
    const cfg = newConfig();
    const file = join(cfg.dir, 'a-file');
    writeFileSync(file, '');
    await expect(DiskStore.open({ ...cfg, dir: join(file, 'state') })).rejects.toMatchObject({ code: 'DISK_STORE_OPEN_FAILED' });
  });

  it('refuses further use after a failed commit, and a reopen finds the last good commit', async () => {
    const cfg = newConfig();
    let failNext = false;
    const flaky = async (c: DiskStoreConfig): Promise<KvEngine> => {
      const real = await openLevelEngine(c);
      return { ...real, write: (fill) => (failNext ? Promise.reject(new Error('EIO: disk gone')) : real.write(fill)) };
    };
    const store = await open(cfg, flaky);
    store.put('n:email:a@example.com', 'customer_id:cus_1');
    await store.commit(new Map([['identity:0', 1n]]));
    store.put('n:email:b@example.com', 'customer_id:cus_2');
    failNext = true;
    await expect(store.commit(new Map([['identity:0', 2n]]))).rejects.toMatchObject({ code: 'DISK_STORE_WRITE_FAILED' });
    expect(() => store.get('n:email:a@example.com')).toThrow(expect.objectContaining({ code: 'DISK_STORE_UNUSABLE' }));
    await store.close();
    const reopened = await open(cfg);
    expect(reopened.get('n:email:b@example.com')).toBeNull();
    expect(reopened.offsets()).toEqual(new Map([['identity:0', 1n]]));
  });

  it('refuses use after close', async () => {
    const store = await open(newConfig());
    await store.close();
    expect(() => store.put('a', 'b')).toThrow(expect.objectContaining({ code: 'DISK_STORE_UNUSABLE' }));
  });

  it('gives every error code the store prefix', () => {
    for (const code of DISK_STORE_ERROR_CODES) expect(code).toMatch(/^DISK_STORE_[A-Z_]+$/);
    expect(new DiskStoreError('DISK_STORE_CORRUPT', 'x')).toBeInstanceOf(Error);
  });
});

describe('DiskStore: bounded memory', () => {
  it('holds at most readCacheEntries decoded entries however many keys it reads', async () => {
    const store = await open(newConfig({ readCacheEntries: 100 }));
    for (let i = 0; i < 1_000; i++) store.put(`d:k${i}`, String(i));
    await store.commit();
    for (let i = 0; i < 1_000; i++) expect(store.get(`d:k${i}`)).toBe(String(i));
    for (let i = 0; i < 1_000; i++) expect(store.get(`d:missing${i}`)).toBeNull();
    expect(store.cachedEntries).toBeGreaterThan(0);
    expect(store.cachedEntries).toBeLessThanOrEqual(100);
  });

  it('keeps recently used entries and drops the least recently used generation', () => {
    const cache = new ReadCache(4);
    cache.set('a', { value: '1', expiresAt: null });
    cache.set('b', null);
    cache.set('c', { value: '3', expiresAt: null });
    // a and b are the old generation now; a hit moves a to the young one.
    expect(cache.get('a')).toEqual({ value: '1', expiresAt: null });
    cache.set('d', { value: '4', expiresAt: null });
    cache.set('e', { value: '5', expiresAt: null });
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toEqual({ value: '1', expiresAt: null });
    expect(cache.get('e')).toEqual({ value: '5', expiresAt: null });
    expect(cache.size).toBeLessThanOrEqual(4);
    const none = new ReadCache(0);
    none.set('a', null);
    expect(none.get('a')).toBeUndefined();
  });

  it('takes a commit\'s entries for cached keys only, whichever side it walks', () => {
    const e = (value: string) => ({ value, expiresAt: null });
    for (const layerSize of [2, 50]) {
      // 8 entries cached, in both generations; the layer is smaller than the cache, then larger.
      const cache = new ReadCache(10);
      for (const k of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) cache.set(k, e(`old-${k}`));
      const layer = new Map<string, { value: string; expiresAt: null } | null>([['a', e('new-a')], ['g', null]]);
      for (let i = 0; layer.size < layerSize; i++) layer.set(`uncached${i}`, e('x'));
      cache.refreshFrom(layer);
      expect(cache.get('a'), `layer of ${layerSize}`).toEqual(e('new-a')); // old generation, updated
      expect(cache.get('g'), `layer of ${layerSize}`).toBeNull(); // young generation, deleted: a known absence
      expect(cache.get('b'), `layer of ${layerSize}`).toEqual(e('old-b')); // not written: unchanged
      expect(cache.get('uncached0'), `layer of ${layerSize}`).toBeUndefined(); // not cached: stays out
      expect(cache.size).toBeLessThanOrEqual(10);
    }
  });

  it('validates its configuration at once and states its memory budget', () => {
    expect(() => createDiskStoreConfig({ dir: '', blockCacheBytes: 10, readCacheEntries: -1 })).toThrow(ConfigError);
    try {
      createDiskStoreConfig({ dir: '', blockCacheBytes: 10, readCacheEntries: -1 });
    } catch (err) {
      expect((err as ConfigError).problems).toHaveLength(3);
    }
    const cfg = createDiskStoreConfig({ dir: '/tmp/x' });
    expect(diskStoreMemoryBudget(cfg)).toBeLessThan(256 * 1024 * 1024);
  });
});
