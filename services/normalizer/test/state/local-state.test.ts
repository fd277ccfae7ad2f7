import { describe, expect, it } from 'vitest';
import type { CandidateEvent } from '../../src/stages/candidate.ts';
import { createDiskStoreConfig } from '../../src/state/disk/config.ts';
import { DiskStore } from '../../src/state/disk/disk-store.ts';
import { LOCAL_LAYOUT, LocalState } from '../../src/state/local-state.ts';
import { createStateStage, createStateStores, type StateResult, type StateStage } from '../../src/state/state-stage.ts';
import {
  addToCart, appCheckout, appOrder, arrival, cartsUpdate, chargePaid, config, identify, journey, page, productViewed,
  shopifyCheckout, shopifyOrder, summary,
} from './journey.ts';
import { tempLocalStates } from './temp-local-states.ts';

const { dirs, open, newDir } = tempLocalStates('local-state-test-');

async function diskStage(dir: string, overrides: Parameters<typeof config>[0] = {}): Promise<{ stage: StateStage; local: LocalState }> {
  const local = await LocalState.open(createDiskStoreConfig({ dir }));
  open.push(local);
  const cfg = config(overrides);
  const stage = createStateStage(cfg, createStateStores(cfg, local), local);
  return { stage, local };
}

/** One candidate per unit of work, each committed (as after its Kafka transaction). */
async function run(stage: StateStage, cands: CandidateEvent[]): Promise<StateResult[]> {
  const out: StateResult[] = [];
  for (const c of cands) {
    out.push(stage.apply([c], arrival(c)));
    await stage.commit();
  }
  return out;
}

const byKey = (a: { key: string }, b: { key: string }): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
const emitted = (rs: StateResult[]) => rs.flatMap((r) => r.emit.map((e) => e.event));

describe('state on local disk', () => {
  const permutations: CandidateEvent[][] = [
    journey,
    [page, productViewed, addToCart, identify, appCheckout, shopifyOrder, appOrder, shopifyCheckout, shopifyOrder, chargePaid],
    [shopifyOrder, page, addToCart, identify, appCheckout, appOrder, chargePaid, shopifyCheckout],
    [addToCart, identify, appOrder, cartsUpdate, shopifyOrder, appOrder, chargePaid],
  ];

  for (const [i, order] of permutations.entries()) {
    it(`permutation ${i}: decides as in memory, and a stage reopened from disk after any cut decides as one that never stopped`, async () => {
      const memory = createStateStage(config());
      const whole = order.map((c) => memory.apply([c], arrival(c)));
      const onDisk = await diskStage(newDir());
      const sameRun = await run(onDisk.stage, order);
      expect(sameRun.map((r) => summary(r))).toEqual(whole.map((r) => summary(r)));
      expect(sameRun.map((r) => r.changes)).toEqual(whole.map((r) => r.changes));
      expect(onDisk.stage.stats()).toEqual(memory.stats());

      for (let cut = 1; cut < order.length; cut++) {
        const dir = newDir();
        const first = await diskStage(dir);
        const before = await run(first.stage, order.slice(0, cut));
        await first.local.close();
        const reopened = await diskStage(dir);
        // Held events come back from the disk; the other stores read it directly.
        await reopened.local.load(Object.values(reopened.stage.stores));
        const after = await run(reopened.stage, order.slice(cut));
        expect(summary({ emit: [...before, ...after].flatMap((r) => r.emit) }), `cut ${cut}`).toEqual(summary({ emit: whole.flatMap((r) => r.emit) }));
        expect(emitted([...before, ...after]), `cut ${cut}`).toEqual(emitted(whole));
        expect([...before, ...after].flatMap((r) => r.drops), `cut ${cut}`).toEqual(whole.flatMap((r) => r.drops));
        expect(reopened.stage.stats(), `cut ${cut}`).toEqual(memory.stats());
      }
    });
  }

  it('a rolled-back unit never reaches the disk; the committed ones do, with their changelog positions', async () => {
    const dir = newDir();
    const first = await diskStage(dir);
    first.stage.apply([page, addToCart], arrival(addToCart));
    await first.stage.commit(new Map([['identity:0', 7n]]));
    const before = first.stage.stats();
    const r1 = first.stage.apply([identify, shopifyOrder], arrival(shopifyOrder));
    expect(r1.changes.length).toBeGreaterThan(0);
    first.stage.rollback();
    await first.stage.commit();
    expect(first.stage.stats()).toEqual(before);
    await first.local.close();

    const reopened = await diskStage(dir);
    expect(reopened.local.offsets()).toEqual(new Map([['identity:0', 7n]]));
    await reopened.local.load(Object.values(reopened.stage.stores));
    expect(reopened.stage.stats()).toEqual(before);
    // Decided afresh, the redelivered unit changes exactly what it changed the first time.
    const r2 = reopened.stage.apply([identify, shopifyOrder], arrival(shopifyOrder));
    expect(summary(r2)).toEqual(summary(r1));
    expect(r2.changes).toEqual(r1.changes);
  });

  it('units committed while earlier writes are still on their way reach the disk in order; a rollback meanwhile takes only the open unit', async () => {
    const dir = newDir();
    const memory = createStateStage(config());
    const { stage, local } = await diskStage(dir);
    const units = [[page, addToCart], [identify], [shopifyOrder]];
    for (const u of units.slice(0, 2)) memory.apply(u, arrival(u.at(-1)!));
    const expected = memory.stats();
    const r1 = stage.apply(units[0]!, arrival(addToCart));
    const r2 = stage.apply(units[1]!, arrival(identify));
    // Unit 1's write starts at once; unit 2's waits for it. Neither is awaited before unit 3 fails.
    const first = stage.commit(new Map([['identity:0', 1n]]));
    const second = stage.commit(new Map([['identity:0', 2n]]));
    stage.apply(units[2]!, arrival(shopifyOrder));
    stage.rollback();
    expect(stage.stats()).toEqual(expected);
    expect(stage.stores.identity.resolve({ anonymous_id: 'anon-7f3c2a' }).canonical).toBe('cus_48213');
    await Promise.all([first, second]);
    expect(r1.changes.length + r2.changes.length).toBeGreaterThan(0);
    await local.close();
    open.splice(open.indexOf(local), 1);

    const reopened = await diskStage(dir);
    expect(reopened.local.offsets()).toEqual(new Map([['identity:0', 2n]]));
    await reopened.local.load(Object.values(reopened.stage.stores));
    expect(reopened.stage.stats()).toEqual(expected);
    expect(reopened.stage.stores.identity.resolve({ anonymous_id: 'anon-7f3c2a' }).canonical).toBe('cus_48213');
  });

  it('records restored from the changelog persist with the positions they bring the store to', async () => {
    const memory = createStateStage(config());
    const changes = journey.flatMap((c) => memory.apply([c], arrival(c)).changes);
    const dir = newDir();
    const first = await diskStage(dir);
    first.stage.restore(changes);
    await first.stage.commit(new Map([['identity:0', BigInt(changes.length)]]));
    expect(first.stage.stats()).toEqual(memory.stats());
    await first.local.close();
    const reopened = await diskStage(dir);
    await reopened.local.load(Object.values(reopened.stage.stores));
    expect(reopened.stage.stats()).toEqual(memory.stats());
    expect(reopened.local.offsets().get('identity:0')).toBe(BigInt(changes.length));
  });

  // Units of work in flight (kafka/transactional-processor.ts): the second is applied before the first committed.
  it.each(['memory', 'disk'] as const)('in %s, units applied on top of each other commit oldest first, and a rollback takes every open one', async (where) => {
    const open = async (): Promise<StateStage> => (where === 'memory' ? createStateStage(config()) : (await diskStage(newDir())).stage);
    const reference = createStateStage(config());
    const first = reference.apply([identify], arrival(identify));
    void reference.commit();
    const afterFirst = reference.stats();
    const second = reference.apply([shopifyOrder], arrival(shopifyOrder));
    void reference.commit();
    const afterBoth = reference.stats();

    // The first commits, the second rolls back: the state is the first's.
    const a = await open();
    expect(summary(a.apply([identify], arrival(identify)))).toEqual(summary(first));
    expect(summary(a.apply([shopifyOrder], arrival(shopifyOrder)))).toEqual(summary(second));
    await a.commit();
    a.rollback();
    expect(a.stats()).toEqual(afterFirst);
    // Decided afresh on the first's state, the second decides as it did.
    const again = a.apply([shopifyOrder], arrival(shopifyOrder));
    expect(summary(again)).toEqual(summary(second));
    expect(again.changes.toSorted(byKey)).toEqual(second.changes.toSorted(byKey));
    await a.commit();
    expect(a.stats()).toEqual(afterBoth);

    // Neither committed: the rollback takes both.
    const b = await open();
    b.apply([identify], arrival(identify));
    b.apply([shopifyOrder], arrival(shopifyOrder));
    b.rollback();
    expect(b.stats()).toEqual(createStateStage(config()).stats());
    expect(b.stores.identity.resolve({ email: identify.identifiers.email! })).toEqual(createStateStage(config()).stores.identity.resolve({ email: identify.identifiers.email! }));
  });

  it('on disk, each commit writes only the oldest unit\'s changes: a reopened store holds the committed units', async () => {
    const dir = newDir();
    const { stage, local } = await diskStage(dir);
    stage.apply([identify], arrival(identify));
    stage.apply([shopifyOrder], arrival(shopifyOrder));
    await stage.commit();
    await local.close();
    const reopened = await diskStage(dir);
    const reference = createStateStage(config());
    reference.apply([identify], arrival(identify));
    expect(reopened.stage.stats()).toEqual(reference.stats());
    expect(reopened.stage.stores.identity.resolve({ email: identify.identifiers.email! }).canonical).toBe(identify.identifiers.customer_id);
    // The order was never committed: deciding it now emits it, as the reference does.
    expect(summary(reopened.stage.apply([shopifyOrder], arrival(shopifyOrder)))).toEqual(summary(reference.apply([shopifyOrder], arrival(shopifyOrder))));
  });

  it('expires dedupe keys, guards and cart tokens from the disk index, as tombstones; people\'s links stay', async () => {
    const DAY = 86_400_000;
    const overrides = { dedupeWindowMs: DAY, guardWindowMs: DAY, identityTtlMs: DAY };
    const { stage, local } = await diskStage(newDir(), overrides);
    const memory = createStateStage(config(overrides));
    for (const c of [identify, shopifyOrder]) {
      for (const s of [stage, memory]) s.apply([c], arrival(c));
      await stage.commit();
    }
    expect(stage.stats()).toEqual(memory.stats());
    const later = arrival(shopifyOrder) + 2 * DAY;
    // The first sweep finds the expired keys in the background; the next one deletes them.
    stage.expire(later);
    await stage.commit();
    await local.tables.sweepNow(later, 10_000);
    const onDisk = stage.expire(later);
    await stage.commit();
    const inMemory = memory.expire(later);
    expect(onDisk.changes.toSorted(byKey)).toEqual(inMemory.changes.toSorted(byKey));
    expect(onDisk.changes).toContainEqual({ topic: 'dedupe', key: `d:${shopifyOrder.dedupeKey}`, value: null });
    expect(onDisk.changes.some((c) => c.key.startsWith('n:cart_token:') && c.value === null)).toBe(true);
    expect(stage.stats()).toEqual(memory.stats());
    expect(stage.stores.identity.resolve({ email: identify.identifiers.email! }).canonical).toBe(identify.identifiers.customer_id);
  });

  it('with the identity TTL at 0 (never), restored seen times are never due, so the other tables still expire', async () => {
    const DAY = 86_400_000;
    const t0 = Date.parse('2026-11-01T00:00:00Z');
    const limit = 3;
    // Seen times in the changelog from when a TTL was set, more of them than one sweep takes.
    const seen = Array.from({ length: 2 * limit }, (_, i) => [
      { topic: 'identity' as const, key: `n:cart_token:c${i}`, value: `cart_token:c${i}` },
      { topic: 'identity' as const, key: `t:cart_token:c${i}`, value: String(t0) },
    ]).flat();
    const dedupe = { topic: 'dedupe' as const, key: 'd:app:evt-1', value: `${t0 + 3_600_000};0` };
    const overrides = { identityTtlMs: 0, identityExpiryPerSweep: limit, dedupeWindowMs: DAY };
    const { stage, local } = await diskStage(newDir(), overrides);
    stage.restore([...seen, dedupe]);
    await stage.commit(new Map([['identity:0', BigInt(seen.length)], ['dedupe:0', 1n]]));
    const memory = createStateStage(config(overrides));
    memory.restore([...seen, dedupe]);

    const later = t0 + 10 * DAY;
    const onDisk: StateResult['changes'] = [];
    for (let sweep = 0; sweep < 3; sweep++) {
      await local.tables.sweepNow(later, limit);
      onDisk.push(...stage.expire(later).changes);
      await stage.commit();
    }
    expect(onDisk).toEqual(memory.expire(later).changes);
    expect(onDisk).toEqual([{ topic: 'dedupe', key: 'd:app:evt-1', value: null }]);
    expect(local.store.get('d:app:evt-1')).toBeNull();
    expect(local.store.get('n:cart_token:c0')).toBe('cart_token:c0');
  });

  it('a store written under other expiry settings is reported, since its entries keep the expiry times they were written with', async () => {
    const dir = newDir();
    const write = async (expiry: string | undefined) => {
      const local = await LocalState.open(createDiskStoreConfig({ dir }), expiry === undefined ? {} : { expiry });
      open.push(local);
      const mismatch = local.layoutMismatch();
      local.store.put('d:app:evt-1', '1');
      await local.commit(new Map([['dedupe:0', 1n]]));
      await local.close();
      open.splice(open.indexOf(local), 1);
      return mismatch;
    };
    expect(await write('identity=86400000 dedupe=86400000 guard=86400000')).toBeNull();
    expect(await write('identity=86400000 dedupe=86400000 guard=86400000')).toBeNull();
    expect(await write('identity=2592000000 dedupe=86400000 guard=86400000'))
      .toBe('written with other expiry settings (identity=86400000 dedupe=86400000 guard=86400000; now identity=2592000000 dedupe=86400000 guard=86400000): its entries\' expiry times follow those');
    // A store from before the settings were stamped restores once; one opened without naming them compares none.
    expect(await write(undefined)).toBeNull();
    expect(await write('identity=0 dedupe=86400000 guard=86400000')).toMatch(/other expiry settings \(unnamed; now identity=0 /);

    const reopened = await LocalState.open(createDiskStoreConfig({ dir }), { expiry: 'identity=1 dedupe=1 guard=1' });
    open.push(reopened);
    expect(reopened.layoutMismatch()).toMatch(/other expiry settings/);
    const fresh = await reopened.discard();
    open.splice(open.indexOf(reopened), 1, fresh);
    expect(fresh.store.committedAt).toBeNull();
    fresh.store.put('d:app:evt-2', '1');
    await fresh.commit(new Map([['dedupe:0', 2n]]));
    expect(fresh.store.storedLayout).toBe(`${LOCAL_LAYOUT} expiry identity=1 dedupe=1 guard=1`);
  });

  it('names the layout its values are written under; a store written under another is reported, an empty one is not', async () => {
    const dir = newDir();
    const { stage, local } = await diskStage(dir);
    expect(local.layoutMismatch()).toBeNull();
    stage.apply([identify], arrival(identify));
    await stage.commit(new Map([['identity:0', 3n]]));
    await local.close();
    open.splice(open.indexOf(local), 1);

    const reopened = await LocalState.open(createDiskStoreConfig({ dir }));
    open.push(reopened);
    expect(reopened.store.storedLayout).toBe(LOCAL_LAYOUT);
    expect(reopened.layoutMismatch()).toBeNull();
    await reopened.close();
    open.splice(open.indexOf(reopened), 1);

    // A version before layouts were named: its commits wrote none.
    const older = await DiskStore.open(createDiskStoreConfig({ dir: newDir() }));
    older.put('n:email:m@x.io', 'email:m@x.io');
    await older.commit(new Map([['identity:0', 1n]]));
    const olderDir = dirs.at(-1)!;
    await older.close();
    const upgraded = await LocalState.open(createDiskStoreConfig({ dir: olderDir }));
    open.push(upgraded);
    expect(upgraded.layoutMismatch()).toMatch(/written under layout local\/1, this version reads local\/2/);
    const fresh = await upgraded.discard();
    open.splice(open.indexOf(upgraded), 1, fresh);
    expect(fresh.layoutMismatch()).toBeNull();
    expect(fresh.store.committedAt).toBeNull();

    // This version's store, then an older version run on it (a rolled-back deploy): its commit
    // leaves this version's stamp behind, which must not vouch for what it wrote.
    const downgraded = await DiskStore.open(createDiskStoreConfig({ dir }));
    expect(downgraded.storedLayout).toBe(LOCAL_LAYOUT);
    await new Promise((r) => setTimeout(r, 5));
    downgraded.put('n:email:m@x.io', 'email:m@x.io');
    await downgraded.commit(new Map([['identity:0', 4n]]));
    await downgraded.close();
    const upgradedAgain = await LocalState.open(createDiskStoreConfig({ dir }));
    open.push(upgradedAgain);
    expect(upgradedAgain.layoutMismatch()).toMatch(/written under layout local\/1/);
  });
});
