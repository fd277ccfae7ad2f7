import { describe, expect, it } from 'vitest';
import { cacheCoordinatorLookups } from '../src/kafka.ts';

/** A stand-in for KafkaJS's Cluster: counts the FindCoordinator lookups it would send. */
function fakeClusterClass() {
  class Cluster {
    lookups = 0;
    coordinator = 1;
    brokers = new Set([1, 2]);
    async findBroker({ nodeId }: { nodeId: number }): Promise<{ nodeId: number }> {
      if (!this.brokers.has(nodeId)) throw new Error(`broker ${nodeId} not found`);
      return { nodeId };
    }
    async findGroupCoordinator(_: { groupId: string; coordinatorType?: number }): Promise<{ nodeId: number }> {
      this.lookups++;
      if (this.coordinator < 0) throw new Error('coordinator not available');
      return this.findBroker({ nodeId: this.coordinator });
    }
  }
  return Cluster;
}

describe('cacheCoordinatorLookups', () => {
  it('reuses a transaction coordinator per client and id for the TTL, then looks it up again; never a group coordinator', async () => {
    const Cluster = fakeClusterClass();
    let now = 0;
    cacheCoordinatorLookups(Cluster.prototype, 2_000, () => now);
    cacheCoordinatorLookups(Cluster.prototype, 2_000, () => now); // installing twice changes nothing
    const a = new Cluster();
    const b = new Cluster();
    for (let i = 0; i < 4; i++) expect(await a.findGroupCoordinator({ groupId: 'tx-1', coordinatorType: 1 })).toEqual({ nodeId: 1 });
    expect(a.lookups).toBe(1);
    await a.findGroupCoordinator({ groupId: 'group', coordinatorType: 0 }); // group coordinators: never cached
    await a.findGroupCoordinator({ groupId: 'group', coordinatorType: 0 });
    await a.findGroupCoordinator({ groupId: 'group' });
    expect(a.lookups).toBe(4);
    await a.findGroupCoordinator({ groupId: 'tx-2', coordinatorType: 1 }); // another id: its own entry
    expect(a.lookups).toBe(5);
    await b.findGroupCoordinator({ groupId: 'tx-1', coordinatorType: 1 }); // another client: its own cache
    expect(b.lookups).toBe(1);

    a.coordinator = 2; // moved: still the cached one until the TTL passes
    expect(await a.findGroupCoordinator({ groupId: 'tx-1', coordinatorType: 1 })).toEqual({ nodeId: 1 });
    now += 2_000;
    expect(await a.findGroupCoordinator({ groupId: 'tx-1', coordinatorType: 1 })).toEqual({ nodeId: 2 });
    expect(a.lookups).toBe(6);
  });

  it('looks up again when the cached broker is gone, and caches no failed lookup', async () => {
    const Cluster = fakeClusterClass();
    cacheCoordinatorLookups(Cluster.prototype, 60_000, () => 0);
    const c = new Cluster();
    await c.findGroupCoordinator({ groupId: 'tx', coordinatorType: 1 });
    c.brokers.delete(1);
    c.coordinator = 2;
    expect(await c.findGroupCoordinator({ groupId: 'tx', coordinatorType: 1 })).toEqual({ nodeId: 2 });
    expect(c.lookups).toBe(2);

    c.coordinator = -1;
    const d = new Cluster();
    d.coordinator = -1;
    await expect(d.findGroupCoordinator({ groupId: 'tx', coordinatorType: 1 })).rejects.toThrow('not available');
    d.coordinator = 1;
    expect(await d.findGroupCoordinator({ groupId: 'tx', coordinatorType: 1 })).toEqual({ nodeId: 1 });
    expect(d.lookups).toBe(2);
  });
});
