import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { IdentifierSet } from '../../src/stages/candidate.ts';
import type { ChangelogRecord } from '../../src/state/changelog.ts';
import { createDiskStoreConfig } from '../../src/state/disk/config.ts';
import { IdentityGraph, presentNodes } from '../../src/state/identity-graph.ts';
import { LocalState } from '../../src/state/local-state.ts';
import { createStateStage } from '../../src/state/state-stage.ts';
import { arrival, candidate, config, CUS, EMAIL, identify, SHOPIFY_ID, shopifyOrder, summary } from './journey.ts';

const ctx = { event_id: 'e1', source: 'app', occurred_at: 0 };

function graph(rule: 'keep_first' | 'latest_wins' = 'keep_first', maxIdentifiers?: number): IdentityGraph {
  return new IdentityGraph({ conflictRule: rule, fallbackIdentifiers: ['email', 'shopify_customer_id'], maxIdentifiers });
}

describe('identity graph', () => {
  it('links the identify, the Shopify order and the Recharge charge into one cluster', () => {
    const g = graph();
    g.learn({ anonymous_id: 'a1', customer_id: 'c1', email: 'm@x.io' }, ctx);
    g.learn({ shopify_customer_id: 's1', email: 'm@x.io', cart_token: 'k1' }, ctx);
    g.learn({ subscription_customer_id: 'r1', email: 'm@x.io', shopify_customer_id: 's1' }, ctx);
    for (const ids of [{ anonymous_id: 'a1' }, { cart_token: 'k1' }, { subscription_customer_id: 'r1' }, { shopify_customer_id: 's1' }]) {
      expect(g.resolve(ids).canonical).toBe('c1');
    }
    expect(g.clusterCount).toBe(1);
  });

  it('uses the fallback policy while there is no customer_id, and none with an empty policy (hold)', () => {
    const g = graph();
    g.learn({ shopify_customer_id: 's1', email: 'm@x.io' }, ctx);
    expect(g.resolve({ shopify_customer_id: 's1' })).toMatchObject({ canonical: 'm@x.io', via: 'fallback' });
    const shopifyFirst = new IdentityGraph({ conflictRule: 'keep_first', fallbackIdentifiers: ['shopify_customer_id'] });
    expect(shopifyFirst.resolve({ email: 'm@x.io', shopify_customer_id: 's1' }).canonical).toBe('shopify:s1');
    const hold = new IdentityGraph({ conflictRule: 'keep_first', fallbackIdentifiers: [] });
    expect(hold.resolve({ email: 'm@x.io', anonymous_id: 'a1' })).toMatchObject({ canonical: null, holdNode: 'anonymous_id:a1' });
  });

  it('keep_first: an email claimed by a second customer stays with the first, reported as a conflict', () => {
    const g = graph();
    g.learn({ customer_id: 'c1', email: 'm@x.io' }, ctx);
    const conflicts = g.learn({ customer_id: 'c2', email: 'm@x.io', anonymous_id: 'a2' }, ctx);
    expect(conflicts).toEqual([expect.objectContaining({
      identifier_type: 'email', identifier: 'm@x.io', existing_customer_id: 'c1', claimed_customer_id: 'c2', rule: 'keep_first', resolution: 'kept_existing',
    })]);
    expect(g.resolve({ email: 'm@x.io' }).canonical).toBe('c1');
    expect(g.resolve({ anonymous_id: 'a2' }).canonical).toBe('c2'); // the uncontested part of the claim links
    expect(g.clusterOf('customer_id:c1')).not.toBe(g.clusterOf('customer_id:c2'));
  });

  it('latest_wins: the contested identifier moves to the new claimant, still reported, never fused', () => {
    const g = graph('latest_wins');
    g.learn({ customer_id: 'c1', email: 'm@x.io', anonymous_id: 'a1' }, ctx);
    const conflicts = g.learn({ customer_id: 'c2', anonymous_id: 'a1' }, ctx);
    expect(conflicts).toEqual([expect.objectContaining({ identifier_type: 'anonymous_id', identifier: 'a1', resolution: 'moved_to_claimant' })]);
    expect(g.resolve({ anonymous_id: 'a1' }).canonical).toBe('c2');
    expect(g.resolve({ email: 'm@x.io' }).canonical).toBe('c1');
  });

  it('a person at the identifier limit: a new identifier is not linked, and the refusal is reported', () => {
    const g = graph('keep_first', 3);
    expect(g.learn({ customer_id: 'c1', email: 'm@x.io', anonymous_id: 'a1' }, ctx)).toEqual([]);
    const refused = g.learn({ customer_id: 'c1', anonymous_id: 'a2' }, { event_id: 'e2', source: 'app', occurred_at: 5 });
    expect(refused).toEqual([{
      identifier_type: 'anonymous_id', identifier: 'a2', existing_customer_id: null, claimed_customer_id: 'c1',
      rule: 'identifier_limit', resolution: 'not_linked', limit: 3, identifiers: 3, event_id: 'e2', source: 'app', occurred_at: 5,
    }]);
    expect(g.clusterOf('anonymous_id:a2')).toBeUndefined();
    expect(g.clusterOf('customer_id:c1')!.members).toHaveLength(3);
    // The event still speaks for its person; the identifier alone leads nowhere.
    expect(g.resolve({ customer_id: 'c1', anonymous_id: 'a2' }).canonical).toBe('c1');
    expect(g.resolve({ anonymous_id: 'a2' }).canonical).toBeNull();
    // Known identifiers of the person go on resolving, and learning them again refuses nothing.
    expect(g.learn({ customer_id: 'c1', email: 'm@x.io', anonymous_id: 'a1' }, ctx)).toEqual([]);
  });

  it('a person at the identifier limit does not absorb another cluster, and the other keeps its links', () => {
    const g = graph('keep_first', 3);
    g.learn({ customer_id: 'c1', email: 'm@x.io' }, ctx);
    g.learn({ anonymous_id: 'a5', cart_token: 'k5' }, ctx);
    const refused = g.learn({ customer_id: 'c1', anonymous_id: 'a5' }, ctx);
    expect(refused).toEqual([expect.objectContaining({ identifier_type: 'anonymous_id', identifier: 'a5', existing_customer_id: null, claimed_customer_id: 'c1', rule: 'identifier_limit', identifiers: 2 })]);
    expect(g.clusterOf('anonymous_id:a5')!.members.sort()).toEqual(['anonymous_id:a5', 'cart_token:k5']);
    expect(g.clusterOf('customer_id:c1')!.members.sort()).toEqual(['customer_id:c1', 'email:m@x.io']);
    // Room for one: a lone identifier still joins.
    expect(g.learn({ customer_id: 'c1', anonymous_id: 'a6' }, ctx)).toEqual([]);
    expect(g.resolve({ anonymous_id: 'a6' }).canonical).toBe('c1');
  });

  it('a person already past the limit (learned before it, or the limit lowered) keeps every identifier and gains none', () => {
    const before = graph('keep_first');
    before.beginBatch();
    before.learn({ customer_id: 'c1', email: 'm@x.io', anonymous_id: 'a1', cart_token: 'k1' }, ctx);
    const g = graph('keep_first', 2);
    g.restore(before.takeChanges());
    for (const ids of [{ email: 'm@x.io' }, { anonymous_id: 'a1' }, { cart_token: 'k1' }]) expect(g.resolve(ids).canonical).toBe('c1');
    expect(g.learn({ customer_id: 'c1', anonymous_id: 'a2' }, ctx)).toEqual([expect.objectContaining({ identifier: 'a2', rule: 'identifier_limit', limit: 2, identifiers: 4 })]);
    // An identifier that leaves (expiry) makes no room while the person is still past the limit.
    g.forget('cart_token:k1');
    expect(g.learn({ customer_id: 'c1', anonymous_id: 'a2' }, ctx)).toHaveLength(1);
    expect(g.clusterOf('customer_id:c1')!.members).toHaveLength(3);
  });

  it('latest_wins does not move a contested identifier to a claimant at the limit: it stays, with both reasons reported', () => {
    const g = graph('latest_wins', 2);
    g.learn({ customer_id: 'c1', anonymous_id: 'a1' }, ctx);
    g.learn({ customer_id: 'c2', email: 'n@x.io' }, ctx);
    const out = g.learn({ customer_id: 'c2', anonymous_id: 'a1' }, ctx);
    expect(out.map((c) => [c.rule, c.resolution, c.existing_customer_id, c.claimed_customer_id])).toEqual([
      ['latest_wins', 'kept_existing', 'c1', 'c2'],
      ['identifier_limit', 'not_linked', 'c1', 'c2'],
    ]);
    expect(g.resolve({ anonymous_id: 'a1' }).canonical).toBe('c1');
  });

  it('a Shopify order whose ids point at two customers goes with the strongest identifier', () => {
    const g = graph();
    g.learn({ customer_id: 'c1', shopify_customer_id: 's1' }, ctx);
    g.learn({ customer_id: 'c2', email: 'shared@x.io' }, ctx);
    const conflicts = g.learn({ shopify_customer_id: 's1', email: 'shared@x.io', cart_token: 'k9' }, ctx);
    expect(conflicts.map((c) => [c.identifier, c.existing_customer_id, c.claimed_customer_id])).toEqual([['shared@x.io', 'c2', 'c1']]);
    expect(g.resolve({ cart_token: 'k9' }).canonical).toBe('c1');
  });

  it('the canonical id does not depend on arrival order when the cluster has a customer_id', () => {
    const links: IdentifierSet[] = [
      { anonymous_id: 'a1' , cart_token: 'k1' },
      { anonymous_id: 'a1', customer_id: 'c1', email: 'm@x.io', shopify_customer_id: 's1' },
      { shopify_customer_id: 's1', email: 'm@x.io', cart_token: 'k1', checkout_token: 't1' },
      { subscription_customer_id: 'r1', email: 'm@x.io', shopify_customer_id: 's1' },
      { email: 'm@x.io', anonymous_id: 'a2' },
    ];
    fc.assert(fc.property(fc.shuffledSubarray(links, { minLength: links.length, maxLength: links.length }), (order) => {
      const g = graph();
      for (const l of order) g.learn(l, ctx);
      for (const n of links.flatMap(presentNodes)) expect(g.clusterOf(n)?.customers).toEqual(['c1']);
    }));
  });

  it('restores from its compacted changelog to the same clusters, whatever was learned', () => {
    const id = fc.constantFrom('customer_id', 'email', 'shopify_customer_id', 'anonymous_id', 'cart_token');
    const link = fc.array(fc.tuple(id, fc.integer({ min: 0, max: 6 })), { minLength: 1, maxLength: 4 })
      .map((pairs) => Object.fromEntries(pairs.map(([t, v]) => [t, `${t[0]}${v}`])) as IdentifierSet);
    fc.assert(fc.property(fc.array(link, { maxLength: 25 }), fc.constantFrom('keep_first' as const, 'latest_wins' as const), (links, rule) => {
      const g = graph(rule);
      const changes: ChangelogRecord[] = [];
      for (const l of links) {
        g.beginBatch();
        g.learn(l, ctx);
        changes.push(...g.takeChanges());
      }
      const r = graph(rule);
      r.restore(compact(changes));
      for (const n of links.flatMap(presentNodes)) {
        expect(r.clusterOf(n)?.customers).toEqual(g.clusterOf(n)?.customers);
        expect(new Set(r.clusterOf(n)?.members)).toEqual(new Set(g.clusterOf(n)?.members));
      }
      expect(r.clusterCount).toBe(g.clusterCount);
    }));
  });
});

describe('conflicts through the state stage', () => {
  it('reports a second customer claiming Maya\'s email and does not merge the profiles', () => {
    const stage = createStateStage(config());
    stage.apply([identify, shopifyOrder], arrival(shopifyOrder));
    const impostor = {
      ...identify,
      dedupeKey: 'app:m-0100',
      identifiers: { customer_id: 'cus_99999', email: EMAIL, anonymous_id: 'anon-other' },
      event: { ...identify.event, event_id: 'imp', source_event_id: 'm-0100', anonymous_id: 'anon-other', attributes: {} },
    };
    const r = stage.apply([impostor], arrival(shopifyOrder) + 1000);
    expect(r.conflicts).toHaveLength(1);
    expect(r.conflicts[0]).toMatchObject({ identifier_type: 'email', existing_customer_id: CUS, claimed_customer_id: 'cus_99999' });
    expect(r.emit.some((e) => e.event.kind === 'merge')).toBe(false);
    expect(summary(r)).toEqual(['cus_99999 identify:identify app:m-0100']);
    expect(stage.stores.identity.resolve({ email: EMAIL }).canonical).toBe(CUS);
    expect(stage.stores.identity.resolve({ shopify_customer_id: SHOPIFY_ID }).canonical).toBe(CUS);
  });

  it('a person at the identifier limit: events held under the refused anonymous id go out under the person the refusing event names', () => {
    const stage = createStateStage(config({ maxIdentifiersPerPerson: 2 }));
    const cart = candidate({ name: 'added_to_cart', at: '2026-11-20T18:41:00.000Z', source: 'app', sourceId: 'cap-cart', ids: { anonymous_id: 'anon-cap' }, policy: 'hold', commerce: { sku: 'SKU-1', quantity: 1, price: 24, currency: 'USD' } });
    const known = candidate({ name: 'identify', kind: 'identify', at: '2026-11-20T18:42:00.000Z', source: 'app', sourceId: 'cap-id-1', ids: { customer_id: 'cus_cap', email: 'cap@x.io' }, links: true, policy: 'forward' });
    const claim = candidate({ name: 'identify', kind: 'identify', at: '2026-11-20T18:43:00.000Z', source: 'app', sourceId: 'cap-id-2', ids: { customer_id: 'cus_cap', anonymous_id: 'anon-cap' }, links: true, policy: 'forward' });
    expect(stage.apply([cart, known], arrival(known)).emit.map((e) => e.event.name)).toEqual(['identify']);
    const r = stage.apply([claim], arrival(claim));
    expect(r.conflicts).toEqual([expect.objectContaining({ identifier: 'anon-cap', rule: 'identifier_limit', resolution: 'not_linked' })]);
    expect(summary(r)).toEqual(['cus_cap identify:identify app:cap-id-2', 'cus_cap event:added_to_cart app:cap-cart']);
    expect(stage.stores.identity.resolve({ anonymous_id: 'anon-cap' }).canonical).toBeNull();
  });

  it('a shared device: the second customer\'s events do not carry the first one\'s anonymous id', () => {
    const stage = createStateStage(config());
    stage.apply([identify], arrival(identify));
    const partner = {
      ...identify, dedupeKey: 'app:m-0200',
      identifiers: { customer_id: 'cus_777', anonymous_id: identify.identifiers.anonymous_id! },
      event: { ...identify.event, event_id: 'p', source_event_id: 'm-0200', attributes: {} },
    };
    const r = stage.apply([partner], arrival(identify) + 1);
    expect(r.conflicts).toEqual([expect.objectContaining({ identifier_type: 'anonymous_id', existing_customer_id: CUS, claimed_customer_id: 'cus_777' })]);
    expect(r.emit[0]!.event).toMatchObject({ customer_id: 'cus_777', anonymous_id: null });
  });
});

function compact(records: ChangelogRecord[]): ChangelogRecord[] {
  const last = new Map<string, ChangelogRecord>();
  for (const r of records) {
    last.delete(r.key);
    last.set(r.key, r);
  }
  return [...last.values()].filter((r) => r.value !== null);
}

/** A graph and how its batches commit and roll back: in memory, or on a local disk store. */
interface Harness {
  g: IdentityGraph;
  begin(): void;
  commit(): Promise<void>;
  rollback(): void;
}

function memoryHarness(rule: 'keep_first' | 'latest_wins', maxIdentifiers?: number): Harness {
  const g = graph(rule, maxIdentifiers);
  return { g, begin: () => g.beginBatch(), commit: async () => g.commitOldest(), rollback: () => g.rollback() };
}

const diskDirs: string[] = [];
const diskStores: LocalState[] = [];
afterEach(async () => {
  for (const l of diskStores.splice(0)) await l.close();
  for (const d of diskDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function diskHarness(rule: 'keep_first' | 'latest_wins', maxIdentifiers?: number): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'identity-disk-'));
  diskDirs.push(dir);
  const local = await LocalState.open(createDiskStoreConfig({ dir }));
  diskStores.push(local);
  const g = new IdentityGraph({ conflictRule: rule, fallbackIdentifiers: ['email', 'shopify_customer_id'], maxIdentifiers }, local.identityIndex());
  return {
    g,
    begin: () => {
      g.beginBatch();
      local.beginLayer();
    },
    commit: async () => {
      g.commitOldest();
      await local.commit();
    },
    rollback: () => {
      g.rollback();
      local.rollback();
    },
  };
}

/** What a cluster's members hold, counted the slow way: the figure `flagged` must equal. */
function scanned(g: IdentityGraph, members: readonly string[]): number {
  let n = 0;
  for (const m of members) n += Number(g.index.hasFlag(`fb:${m}`)) + Number(g.index.hasFlag(`fa:${m}`));
  return n;
}

/** Every node's cluster (members as a set) and flags, as the graph answers them. */
function picture(g: IdentityGraph, nodes: readonly string[]) {
  return nodes.map((n) => {
    const c = g.clusterOf(n);
    return { n, label: c?.id, members: c === undefined ? [] : [...c.members].sort(), customers: c?.customers, fb: g.index.hasFlag(`fb:${n}`), fa: g.index.hasFlag(`fa:${n}`) };
  });
}

// Identifiers carry whatever a client sends: separators, digits and colons must not split a member.
const NODES = ['email:m@x.io', 'email:3:n|x@x.io', 'anonymous_id:a1', 'anonymous_id:a\u001f2', 'shopify_customer_id:s1', 'customer_id:c1', 'customer_id:c2', 'cart_token:k\u00011'];
const ID_SETS: IdentifierSet[] = [
  { anonymous_id: 'a1', email: 'm@x.io' }, { anonymous_id: 'a\u001f2', shopify_customer_id: 's1' }, { email: 'm@x.io', customer_id: 'c1' },
  { email: '3:n|x@x.io', shopify_customer_id: 's1' }, { customer_id: 'c2', anonymous_id: 'a\u001f2' }, { cart_token: 'k\u00011', email: '3:n|x@x.io' }, { anonymous_id: 'a1', cart_token: 'k\u00011' },
];
const OP = fc.oneof(
  fc.record({ kind: fc.constant('learn' as const), i: fc.nat(ID_SETS.length - 1) }),
  fc.record({ kind: fc.constantFrom('fallback' as const, 'forwarded' as const, 'clearFallback' as const, 'clearForwarded' as const, 'forget' as const), i: fc.nat(NODES.length - 1) }),
  fc.record({ kind: fc.constantFrom('rollback' as const, 'commit' as const), i: fc.constant(0) }),
);

for (const [where, open] of [['memory', memoryHarness], ['disk', diskHarness]] as const) {
  describe(`identity graph: flag counts per cluster (${where})`, () => {
    it('keep flagged equal to the members\' flags through links, merges, flags, forgetting, rollbacks and a restore in any order', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(OP, { maxLength: 40 }), async (ops) => {
          const h = await open('latest_wins');
          const { g } = h;
          const log: ChangelogRecord[] = [];
          h.begin();
          for (const { kind, i } of ops) {
            const node = NODES[i]!;
            if (kind === 'learn') g.learn(ID_SETS[i]!, ctx);
            else if (kind === 'fallback') g.markFallbackUsed(node);
            else if (kind === 'forwarded') g.markAnonymousForwarded(node);
            else if (kind === 'clearFallback') g.clearFallback(node);
            else if (kind === 'clearForwarded') g.clearAnonymousForwarded(node);
            else if (kind === 'forget') g.forget(node);
            else if (kind === 'rollback') {
              h.rollback();
              h.begin();
            } else {
              log.push(...g.takeChanges());
              await h.commit();
              h.begin();
            }
            for (const n of NODES) {
              const c = g.clusterOf(n);
              if (c !== undefined) expect(c.flagged, `${kind} ${node}: ${c.id}`).toBe(scanned(g, c.members));
            }
          }
          log.push(...g.takeChanges());
          // The same records restored flags first (as compaction can order them): the same graph.
          const restored = await open('latest_wins');
          restored.begin();
          restored.g.restore([...log.filter((r) => !r.key.startsWith('n:')), ...log.filter((r) => r.key.startsWith('n:'))]);
          for (const n of NODES) {
            const c = restored.g.clusterOf(n);
            if (c !== undefined) expect(c.flagged).toBe(scanned(restored.g, c.members));
          }
          expect(picture(restored.g, NODES)).toEqual(picture(g, NODES));
          expect([restored.g.nodeCount, restored.g.clusterCount]).toEqual([g.nodeCount, g.clusterCount]);
          for (const l of diskStores.splice(0)) await l.close();
        }),
        { numRuns: where === 'disk' ? 60 : 300 },
      );
    });

    if (where === 'disk') {
      it('decides as the graph in memory on the same operations, hostile identifiers and the identifier limit included', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(OP, { maxLength: 40 }), fc.constantFrom('keep_first' as const, 'latest_wins' as const), fc.integer({ min: 2, max: 9 }), async (ops, rule, limit) => {
            const hs = [memoryHarness(rule, limit), await diskHarness(rule, limit)];
            for (const h of hs) h.begin();
            for (const { kind, i } of ops) {
              const reported: unknown[] = [];
              for (const h of hs) {
                const { g } = h;
                if (kind === 'learn') reported.push(g.learn(ID_SETS[i]!, ctx));
                else if (kind === 'fallback') g.markFallbackUsed(NODES[i]!);
                else if (kind === 'forwarded') g.markAnonymousForwarded(NODES[i]!);
                else if (kind === 'clearFallback') g.clearFallback(NODES[i]!);
                else if (kind === 'clearForwarded') g.clearAnonymousForwarded(NODES[i]!);
                else if (kind === 'forget') g.forget(NODES[i]!);
                else if (kind === 'rollback') {
                  h.rollback();
                  h.begin();
                } else {
                  await h.commit();
                  h.begin();
                }
              }
              const [memory, disk] = hs.map((h) => h.g);
              if (kind === 'learn') expect(reported[1], 'conflicts and refusals').toEqual(reported[0]);
              expect(picture(disk!, NODES), `${kind} ${i}`).toEqual(picture(memory!, NODES));
              for (const n of NODES) expect(memory!.clusterOf(n)?.members.length ?? 0).toBeLessThanOrEqual(limit);
              expect([disk!.nodeCount, disk!.clusterCount]).toEqual([memory!.nodeCount, memory!.clusterCount]);
              for (const n of NODES) expect(disk!.resolve({ anonymous_id: n })).toEqual(memory!.resolve({ anonymous_id: n }));
            }
            for (const l of diskStores.splice(0)) await l.close();
          }),
          { numRuns: 60 },
        );
      });
    }
  });
}

describe('identity graph: flag counts per cluster (memory)', () => {
  it('finds merges and attachments to make without scanning a cluster whose members hold no flag', () => {
    const g = graph();
    g.learn({ anonymous_id: 'a1', email: 'm@x.io' }, ctx);
    g.markAnonymousForwarded('anonymous_id:a1');
    g.markFallbackUsed('email:m@x.io');
    g.learn({ email: 'm@x.io', customer_id: 'c1' }, ctx);
    const c = g.clusterOf('customer_id:c1')!;
    expect(c.flagged).toBe(2);
    expect(g.pendingMerges(c, 'c1')).toEqual(['email:m@x.io']);
    expect(g.pendingAttachments(c)).toEqual(['anonymous_id:a1']);
    g.clearFallback('email:m@x.io');
    g.clearAnonymousForwarded('anonymous_id:a1');
    expect(c.flagged).toBe(0);
    const lookups = vi.spyOn(g.index, 'hasFlag');
    expect(g.pendingMerges(c, 'c1')).toEqual([]);
    expect(g.pendingAttachments(c)).toEqual([]);
    expect(lookups).not.toHaveBeenCalled();
    lookups.mockRestore();
    // A flagged member that leaves (expiry forgets it) takes its flag out of the count.
    g.learn({ anonymous_id: 'a2', email: 'm@x.io' }, ctx);
    g.markAnonymousForwarded('anonymous_id:a2');
    expect(g.clusterOf('customer_id:c1')!.flagged).toBe(1);
    g.forget('anonymous_id:a2');
    expect(g.clusterOf('customer_id:c1')!.flagged).toBe(0);
  });
});
