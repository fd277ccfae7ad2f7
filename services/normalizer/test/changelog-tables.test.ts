import { describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { ChangelogTables } from '../src/changelog-tables.ts';
import type { ChangelogRecord } from '../src/state/changelog.ts';
import { createLogger } from '@cio-pipeline/core';

const TOPICS = { identity: 't.identity', dedupe: 't.dedupe', journey: 't.journey' };

/**
 * A Kafka double whose consumer joins its group only after `joinDelayMs` (a real broker delays the
 * first join of a new group by group.initial.rebalance.delay.ms, 3 s by default), then hands over
 * the identity changelog in one batch.
 */
function slowJoiningKafka(joinDelayMs: number, messages: Array<{ key: string; value: string }>): Kafka {
  const listeners = new Map<string, Array<() => void>>();
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    deleteGroups: async () => [],
    fetchTopicOffsets: async (topic: string) => [{ partition: 0, low: '0', high: topic === TOPICS.identity ? String(messages.length + 1) : '0', offset: '0' }],
  };
  const consumer = {
    events: { GROUP_JOIN: 'consumer.group_join' },
    on: (event: string, fn: () => void) => {
      listeners.set(event, [...(listeners.get(event) ?? []), fn]);
      return () => undefined;
    },
    connect: async () => undefined,
    subscribe: async () => undefined,
    disconnect: async () => undefined,
    run: async ({ eachBatch }: { eachBatch: (p: unknown) => Promise<void> }) => {
      setTimeout(() => {
        for (const fn of listeners.get('consumer.group_join') ?? []) fn();
        void eachBatch({
          batch: {
            topic: TOPICS.identity, partition: 0,
            messages: messages.map((m, i) => ({ key: Buffer.from(m.key), value: Buffer.from(m.value), offset: String(i), headers: {} })),
            lastOffset: () => String(messages.length - 1),
          },
        });
      }, joinDelayMs);
    },
  };
  return { admin: () => admin, consumer: () => consumer } as unknown as Kafka;
}

describe('ChangelogTables.restore', () => {
  it('waits for a slow group join instead of ending the restore before the first fetch', async () => {
    const messages = [{ key: 'n:email:a@example.com', value: 'customer_id:cus_1' }, { key: 'n:customer_id:cus_1', value: 'customer_id:cus_1' }];
    const tables = new ChangelogTables({ kafka: slowJoiningKafka(2600, messages), topics: TOPICS, instanceId: 'i1', groupId: 'g', logger: createLogger('test', 'silent') });
    const applied: ChangelogRecord[] = [];
    const restored = await tables.restore((r) => applied.push(r));
    expect(restored.records).toBe(2);
    expect(applied.map((r) => r.key)).toEqual(['n:email:a@example.com', 'n:customer_id:cus_1']);
    await tables.stop();
  });
});

describe('ChangelogTables.waitCaughtUp', () => {
  it('holds a newly assigned partition back until another instance\'s writes have been read', async () => {
    let eachBatch: ((p: unknown) => Promise<void>) | null = null;
    let high = 0;
    const admin = {
      connect: async () => undefined, disconnect: async () => undefined, deleteGroups: async () => [],
      fetchTopicOffsets: async (topic: string) => [{ partition: 0, low: '0', high: topic === TOPICS.dedupe ? String(high) : '0', offset: '0' }],
    };
    const consumer = {
      events: { GROUP_JOIN: 'consumer.group_join' },
      on: () => () => undefined,
      connect: async () => undefined, subscribe: async () => undefined, disconnect: async () => undefined,
      run: async (opts: { eachBatch: (p: unknown) => Promise<void> }) => { eachBatch = opts.eachBatch; },
    };
    const kafka = { admin: () => admin, consumer: () => consumer } as unknown as Kafka;
    const tables = new ChangelogTables({ kafka, topics: TOPICS, instanceId: 'mine', groupId: 'g', logger: createLogger('test', 'silent') });
    await tables.restore(() => undefined); // empty changelogs: restored at once
    // The previous owner has just committed a dedupe key (plus its transaction marker).
    high = 2;
    const remote = { key: Buffer.from('d:order_completed:1'), value: Buffer.from('1'), offset: '0', headers: { writer: Buffer.from('other') } };
    let arrived = 0;
    setTimeout(() => {
      arrived = Date.now();
      void eachBatch!({ batch: { topic: TOPICS.dedupe, partition: 0, messages: [remote], lastOffset: () => '0' } });
    }, 300);
    const caughtUp = await tables.waitCaughtUp(5_000, 5_000);
    expect(caughtUp).toBe(true);
    expect(arrived).toBeGreaterThan(0);
    expect(tables.drainRemote().map((r) => r.key)).toEqual(['d:order_completed:1']);
    await tables.stop();
  });
});
