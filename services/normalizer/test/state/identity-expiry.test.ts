import { describe, expect, it } from 'vitest';
import { ConfigError } from '@cio-pipeline/core';
import type { IdentifierSet } from '../../src/stages/candidate.ts';
import type { ChangelogRecord } from '../../src/state/changelog.ts';
import { createStateConfig } from '../../src/state/config.ts';
import { IdentityExpiry } from '../../src/state/identity-expiry.ts';
import { IdentityGraph, presentNodes } from '../../src/state/identity-graph.ts';
import { createStateStage } from '../../src/state/state-stage.ts';
import { arrival, CART, CHECKOUT, config, CUS, EMAIL, journey, plan, SHOPIFY_ID } from './journey.ts';

const DAY = 86_400_000;
const TTL = 30 * DAY;
const T0 = Date.parse('2026-11-01T00:00:00Z');
const ctx = { event_id: 'e1', source: 'app', occurred_at: 0 };

/** A graph with its expiry, fed the way the state stage feeds them: learn, then touch. */
function stores(opts: { maxPerSweep?: number } = {}): { graph: IdentityGraph; expiry: IdentityExpiry; see: (ids: IdentifierSet, now: number) => void; changes: () => ChangelogRecord[] } {
  const graph = new IdentityGraph({ conflictRule: 'keep_first', fallbackIdentifiers: ['email', 'shopify_customer_id'] });
  const expiry = new IdentityExpiry(graph, { ttlMs: TTL, maxPerSweep: opts.maxPerSweep ?? 10_000 });
  return {
    graph, expiry,
    see(ids, now) {
      graph.learn(ids, ctx);
      expiry.touch(presentNodes(ids), now);
    },
    // What the batch wrote, as its committed transaction carries it.
    changes() {
      const out = [...graph.takeChanges(), ...expiry.takeChanges()];
      graph.beginBatch();
      expiry.beginBatch();
      return out;
    },
  };
}

const tombstones = (changes: ChangelogRecord[]): string[] => changes.filter((c) => c.value === null).map((c) => c.key).sort();

describe('identity expiry', () => {
  it('removes tokens and never-identified anonymous ids past the TTL, with tombstones, and keeps the person', () => {
    const s = stores();
    s.see({ customer_id: 'c1', email: 'm@x.io', anonymous_id: 'a1', cart_token: 'k1', checkout_token: 'h1' }, T0);
    s.see({ anonymous_id: 'a2', cart_token: 'k2' }, T0);
    s.graph.markAnonymousForwarded('anonymous_id:a2');
    s.changes();

    expect(s.expiry.expire(T0 + TTL - 1)).toBe(0);
    expect(s.changes()).toEqual([]);

    expect(s.expiry.expire(T0 + TTL)).toBe(4);
    expect(tombstones(s.changes())).toEqual([
      'fa:anonymous_id:a2',
      'n:anonymous_id:a2', 'n:cart_token:k1', 'n:cart_token:k2', 'n:checkout_token:h1',
      't:anonymous_id:a2', 't:cart_token:k1', 't:cart_token:k2', 't:checkout_token:h1',
    ]);
    for (const node of ['cart_token:k1', 'checkout_token:h1', 'cart_token:k2', 'anonymous_id:a2']) expect(s.graph.clusterOf(node)).toBeUndefined();
    // The person's links stay, their anonymous id included.
    for (const ids of [{ email: 'm@x.io' }, { anonymous_id: 'a1' }]) expect(s.graph.resolve(ids).canonical).toBe('c1');
    expect(s.graph.nodeCount).toBe(3);
    expect(s.expiry.tracked).toBe(0);
  });

  it('never splits a cluster: the members left keep their label, and a reused token does not join it by name', () => {
    const s = stores();
    // The cart token founds the cluster, so the cluster is labelled by it.
    s.see({ cart_token: 'k1' }, T0);
    s.see({ cart_token: 'k1', anonymous_id: 'a1' }, T0);
    s.see({ cart_token: 'k1', anonymous_id: 'a2', email: 'm@x.io' }, T0);
    const label = s.graph.clusterOf('anonymous_id:a1')!.id;
    expect(label).toBe('cart_token:k1');

    s.expiry.expire(T0 + TTL);
    expect(s.graph.clusterOf('cart_token:k1')).toBeUndefined();
    // a1 and a2 were linked only through the cart token: still one person, now known by email.
    expect(s.graph.clusterCount).toBe(1);
    expect(s.graph.clusterOf('anonymous_id:a1')).toBe(s.graph.clusterOf('email:m@x.io'));
    expect(s.graph.clusterOf('anonymous_id:a2')).toBe(s.graph.clusterOf('email:m@x.io'));

    s.see({ cart_token: 'k1' }, T0 + TTL + 1);
    expect(s.graph.clusterOf('cart_token:k1')).not.toBe(s.graph.clusterOf('email:m@x.io'));
    expect(s.graph.clusterCount).toBe(2);
  });

  it('times from the last sighting, rewriting the seen time at most once per refresh interval', () => {
    const s = stores();
    s.see({ cart_token: 'k1' }, T0);
    expect(s.changes().map((c) => c.key)).toEqual(['n:cart_token:k1', 't:cart_token:k1']);
    s.see({ cart_token: 'k1' }, T0 + 1000);
    expect(s.changes()).toEqual([]); // a busy token costs no record per event
    s.see({ cart_token: 'k1' }, T0 + 10 * DAY);
    expect(s.changes()).toEqual([{ topic: 'identity', key: 't:cart_token:k1', value: String(T0 + 10 * DAY) }]);

    expect(s.expiry.expire(T0 + TTL)).toBe(0);
    expect(s.graph.clusterOf('cart_token:k1')).toBeDefined();
    expect(s.expiry.expire(T0 + 10 * DAY + TTL)).toBe(1);
  });

  it('stops timing an anonymous id once it belongs to a person', () => {
    const s = stores();
    s.see({ anonymous_id: 'a1' }, T0);
    s.see({ anonymous_id: 'a1', customer_id: 'c1' }, T0 + DAY);
    s.changes();
    expect(s.expiry.expire(T0 + TTL)).toBe(0);
    expect(tombstones(s.changes())).toEqual(['t:anonymous_id:a1']);
    expect(s.graph.resolve({ anonymous_id: 'a1' }).canonical).toBe('c1');
    expect(s.expiry.tracked).toBe(0);
  });

  it('does bounded work per sweep; the rest goes in the next sweeps', () => {
    const s = stores({ maxPerSweep: 2 });
    for (let i = 0; i < 5; i++) s.see({ cart_token: `k${i}` }, T0 + i);
    expect([1, 2, 3].map(() => s.expiry.expire(T0 + TTL + 10))).toEqual([2, 2, 1]);
    expect(s.graph.nodeCount).toBe(0);
  });

  it('a restore rebuilds the expiry index from the changelog', () => {
    const s = stores();
    s.see({ customer_id: 'c1', email: 'm@x.io', cart_token: 'k1' }, T0);
    s.see({ anonymous_id: 'a2' }, T0 + DAY);
    s.see({ cart_token: 'k1' }, T0 + 5 * DAY);
    const log = s.changes();

    const r = stores();
    r.graph.restore(log);
    r.expiry.restore(log);
    expect(r.expiry.seenAt('cart_token:k1')).toBe(T0 + 5 * DAY);
    expect(r.expiry.expire(T0 + DAY + TTL)).toBe(1);
    expect(tombstones(r.changes())).toEqual(['n:anonymous_id:a2', 't:anonymous_id:a2']);
    expect(r.expiry.expire(T0 + 5 * DAY + TTL)).toBe(1);
    expect(r.graph.clusterOf('cart_token:k1')).toBeUndefined();
    expect(r.graph.resolve({ email: 'm@x.io' }).canonical).toBe('c1');
  });

  it('an aborted sweep leaves every node and its timer as they were', () => {
    const stage = createStateStage(config({ identityTtlMs: TTL }));
    for (const c of journey) {
      stage.apply([c], arrival(c));
      stage.commit();
    }
    const last = arrival(journey[journey.length - 1]!);
    const swept = stage.expire(last + TTL);
    expect(tombstones(swept.changes)).toEqual(expect.arrayContaining([`n:cart_token:${CART}`, `n:checkout_token:${CHECKOUT}`]));
    stage.rollback();
    expect(stage.stores.identity.clusterOf(`cart_token:${CART}`)).toBeDefined();
    // The retried sweep finds the same work (the index was restored with the nodes).
    const identityTombstones = (changes: ChangelogRecord[]): string[] => tombstones(changes.filter((c) => c.topic === 'identity'));
    expect(identityTombstones(stage.expire(last + TTL).changes)).toEqual(identityTombstones(swept.changes));
    stage.commit();
    // Maya's own identifiers, her anonymous id included, still name her.
    for (const ids of [{ email: EMAIL }, { shopify_customer_id: SHOPIFY_ID }, { anonymous_id: 'anon-7f3c2a' }]) {
      expect(stage.stores.identity.resolve(ids).canonical).toBe(CUS);
    }
    expect(stage.stores.identity.clusterOf(`cart_token:${CART}`)).toBeUndefined();
  });

  it('TTL 0 never expires anything', () => {
    const stage = createStateStage(config({ identityTtlMs: 0 }));
    for (const c of journey) stage.apply([c], arrival(c));
    const before = stage.stats().identityNodes;
    expect(stage.expire(arrival(journey[0]!) + 10 * 365 * DAY).changes.filter((c) => c.topic === 'identity')).toEqual([]);
    expect(stage.stats().identityNodes).toBe(before);
  });

  it('config: 30 days by default; a TTL shorter than the anonymous hold is refused at start', () => {
    expect(createStateConfig(plan).identityTtlMs).toBe(TTL);
    const attempt = (): unknown => {
      try {
        return createStateConfig(plan, { identityTtlMs: 1000, anonymousTtlMs: DAY, identityExpiryPerSweep: 0 });
      } catch (e) {
        return e;
      }
    };
    const err = attempt();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'state.identityExpiryPerSweep must be >= 1',
      'state.identityTtlMs (1000) must be 0 (never) or >= state.anonymousTtlMs (86400000)',
    ]);
  });
});
