/**
 * Restoring the normalizer's state through the real broker (issue #19): the restore ends when the
 * changelog consumer's position reaches each partition's end measured at start, with transaction
 * markers and aborted transactions behind the last records, and not when the read goes quiet.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKafka, createLogger, EndNotReachedError, measureEnds, topicNames, type Kafka } from '@cio-pipeline/core';
import { startNormalizer } from '../src/app.ts';
import { ChangelogTables } from '../src/kafka/changelog-tables.ts';
import { heapGrowthInEffect } from '../src/release-heap.ts';
import { loadServiceConfig } from '../src/service-config.ts';
import type { ChangelogRecord } from '../src/state/changelog.ts';
import { createStateConfig } from '../src/state/config.ts';
import { createStateStage, type StateStage } from '../src/state/state-stage.ts';
import { loadTrackingPlan } from '@cio-pipeline/core';
import { freePort } from '../../../scripts/local-stack.ts';
import { eventually } from '../../../test/support/eventually.ts';
import { createTestTopics, quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { FUTURE_TOLERANCE_MS, PLAN_PATH } from './load-harness.ts';

const kafka = testKafka();
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

async function changelogTopics(prefix: string): Promise<{ identity: string; dedupe: string; journey: string }> {
  const t = topicNames(prefix);
  const topics = { identity: t.identityChangelog, dedupe: t.dedupeChangelog, journey: t.journeyChangelog };
  cleanups.push(await createTestTopics(kafka, Object.values(topics).map((topic) => ({ topic, compacted: true }))));
  return topics;
}

type Written = Map<string, string>; // `topic|key` -> value, committed records only

/** Writes records the way the normalizer does: in transactions, with a writer header. */
async function writeTransaction(k: Kafka, transactionalId: string, records: Array<{ topic: string; key: string; value: string | null; partition?: number }>, outcome: 'commit' | 'abort', writer = 'earlier-instance'): Promise<void> {
  const producer = k.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const tx = await producer.transaction();
    const byTopic = new Map<string, Array<{ key: string; value: string | null; partition?: number; headers: Record<string, string> }>>();
    for (const r of records) {
      const list = byTopic.get(r.topic) ?? [];
      list.push({ key: r.key, value: r.value, ...(r.partition !== undefined ? { partition: r.partition } : {}), headers: { writer } });
      byTopic.set(r.topic, list);
    }
    await tx.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    await (outcome === 'commit' ? tx.commit() : tx.abort());
  } finally {
    await producer.disconnect();
  }
}

/** The sum of `topic`'s partitions' last stable offsets, as the restore measures them. */
async function stableEnd(topic: string): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return [...(await measureEnds(admin, [topic])).values()].reduce((sum, p) => sum + p.end, 0n);
  } finally {
    await admin.disconnect();
  }
}

/**
 * A changelog of `people` identity clusters and their orders' dedupe keys, committed in
 * transactions of 1,000 records; its last committed records are followed by a transaction that
 * rewrites some of them and aborts. Returns what a restore must end up with.
 */
async function writeChangelog(topics: { identity: string; dedupe: string }, people: number): Promise<Written> {
  const txId = uniqueName('changelog-writer');
  const records: Array<{ topic: string; key: string; value: string }> = [];
  for (let p = 0; p < people; p++) {
    const cluster = `customer_id:cus_${p}`;
    for (const node of [`customer_id:cus_${p}`, `email:shopper${p}@example.com`, `anonymous_id:anon-${p}`]) records.push({ topic: topics.identity, key: `n:${node}`, value: cluster });
    records.push({ topic: topics.dedupe, key: `d:order_completed:${p}`, value: `${1_700_000_000_000 + p};2` });
  }
  const written: Written = new Map();
  for (let i = 0; i < records.length; i += 1_000) {
    const chunk = records.slice(i, i + 1_000);
    await writeTransaction(kafka, txId, chunk, 'commit');
    for (const r of chunk) written.set(`${r.topic}|${r.key}`, r.value);
  }
  const last = people - 1;
  await writeTransaction(kafka, txId, [
    { topic: topics.identity, key: `n:email:shopper${last}@example.com`, value: 'customer_id:cus_someone_else' },
    { topic: topics.dedupe, key: `d:order_completed:${last}`, value: null },
    { topic: topics.dedupe, key: 'd:order_completed:never-committed', value: '1;0' },
  ], 'abort');
  return written;
}

function restoredMap(records: ChangelogRecord[], topics: { identity: string; dedupe: string; journey: string }): Written {
  const out: Written = new Map();
  for (const r of records) {
    const key = `${topics[r.topic]}|${r.key}`;
    if (r.value === null) out.delete(key);
    else out.set(key, r.value.toString());
  }
  return out;
}

describe('state restore', () => {
  it('restores every committed record behind transaction markers and a long pause, and is not ready before', async () => {
    const prefix = `${uniqueName('restore')}.`;
    const topics = await changelogTopics(prefix);
    const people = 8_000;
    const written = await writeChangelog(topics, people);

    // The real state stage, with a pause on its first batch longer than the old 2 s quiet period:
    // a garbage-collection pause at 10M links blocks the process like this.
    const { brokers, registryUrl } = stackInfo();
    const opsPort = await freePort();
    const config = loadServiceConfig({
      KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, NORMALIZER_GROUP_ID: uniqueName('normalizer'),
      NORMALIZER_OPS_PORT: String(opsPort), NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS,
    });
    const real = createStateStage(createStateConfig(loadTrackingPlan(PLAN_PATH), config.state));
    const applied: ChangelogRecord[] = [];
    let paused = false;
    const state: StateStage = {
      ...real,
      restore(records) {
        const list = [...records];
        if (!paused) {
          paused = true;
          const until = Date.now() + 3_000;
          while (Date.now() < until) { /* the process is stuck, as in a long GC pause */ }
        }
        applied.push(...list);
        real.restore(list);
      },
    };

    // Readiness as an orchestrator sees it, polled all through the start.
    const answers: Array<{ status: number; appliedThen: number }> = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const status = await fetch(`http://127.0.0.1:${opsPort}/readyz`).then((r) => r.status, () => 0);
        if (status !== 0) answers.push({ status, appliedThen: applied.length });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const service = await startNormalizer(config, quietLogger, { stateStage: state });
    try {
      await expect.poll(() => answers.some((a) => a.status === 200), { timeout: 30_000 }).toBe(true);
      polling = false;
      await poller;

      expect(restoredMap(applied, topics)).toEqual(written);
      expect(service.restored.records).toBe(applied.length);
      for (const p of [0, Math.floor(people / 2), people - 1]) {
        expect(real.stores.identity.resolve({ email: `shopper${p}@example.com` }).canonical).toBe(`cus_${p}`);
        expect(real.stores.dedupe.has(`order_completed:${p}`, 1_700_000_000_000 + p)).toBe(true);
      }
      expect(real.stores.dedupe.has('order_completed:never-committed', 1)).toBe(false);
      // Not ready while restoring; ready only with the whole state.
      expect(answers.some((a) => a.status === 503)).toBe(true);
      for (const a of answers.filter((x) => x.status === 200)) expect(a.appliedThen).toBe(applied.length);
    } finally {
      polling = false;
      await poller;
      await service.stop();
    }
  });

  it('restores to disk with the old generation held to NORMALIZER_RESTORE_HEAP_GROWTH_PERCENT, into memory with V8\'s own factor', async () => {
    const prefix = `${uniqueName('restore-growth')}.`;
    await writeChangelog(await changelogTopics(prefix), 2_000);
    const { brokers, registryUrl } = stackInfo();
    const dir = mkdtempSync(join(tmpdir(), 'restore-growth-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    // The growths in effect while the service starts (sampled between the restore's fetches and
    // writes; an injected state stage would turn the disk off), and once it has started.
    const growthOf = async (env: Record<string, string>): Promise<{ during: number[]; after: number }> => {
      const config = loadServiceConfig({
        KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, NORMALIZER_GROUP_ID: uniqueName('normalizer'),
        NORMALIZER_OPS_PORT: String(await freePort()), NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS, ...env,
      });
      const during = new Set<number>();
      const sampler = setInterval(() => during.add(heapGrowthInEffect()), 1);
      const service = await startNormalizer(config, quietLogger).finally(() => clearInterval(sampler));
      try {
        return { during: [...during].filter((g) => g !== 0), after: heapGrowthInEffect() };
      } finally {
        await service.stop();
      }
    };
    expect(await growthOf({ NORMALIZER_STATE_DIR: dir, NORMALIZER_RESTORE_HEAP_GROWTH_PERCENT: '35' })).toEqual({ during: [35], after: 0 });
    expect(await growthOf({ NORMALIZER_RESTORE_HEAP_GROWTH_PERCENT: '35' })).toEqual({ during: [], after: 0 });
  });

  it('catches up with another instance\'s writes behind an aborted transaction, skipping its own', async () => {
    const prefix = `${uniqueName('catch-up')}.`;
    const topics = await changelogTopics(prefix);
    const tail = { other: 0, own: 0, ownUndecoded: 0 };
    const countTail = (reads: typeof tail): void => {
      for (const k of ['other', 'own', 'ownUndecoded'] as const) tail[k] += reads[k];
    };
    const tables = new ChangelogTables({ kafka, topics, instanceId: 'mine', groupId: uniqueName('g'), logger: quietLogger, countTail });
    try {
      await tables.restore(() => undefined, { timeoutMs: 30_000 }); // empty changelogs
      const txId = uniqueName('other-instance');
      await writeTransaction(kafka, txId, [{ topic: topics.dedupe, key: 'd:order_completed:own', value: '1;0' }], 'commit', 'mine');
      await writeTransaction(kafka, txId, [{ topic: topics.dedupe, key: 'd:order_completed:remote', value: '1;0' }], 'commit', 'other');
      await writeTransaction(kafka, txId, [{ topic: topics.dedupe, key: 'd:order_completed:aborted', value: '1;0' }], 'abort', 'other');
      await tables.waitCaughtUp(30_000);
      expect(tables.drainRemote().map((r) => r.key)).toEqual(['d:order_completed:remote']);
      // Its own batch, written after the restore, was skipped without being decoded.
      expect(tail).toEqual({ other: 1, own: 0, ownUndecoded: 1 });
    } finally {
      await tables.stop();
    }
  });

  it('catches up past a transaction a crashed owner left open, to a unit committed behind it, once the new owner fences it', async () => {
    const prefix = `${uniqueName('fenced')}.`;
    const topics = await changelogTopics(prefix);
    const tables = new ChangelogTables({ kafka, topics, instanceId: 'new-owner', groupId: uniqueName('g'), logger: quietLogger });
    const crashedId = uniqueName('crashed-owner');
    const crashed = kafka.producer({ transactionalId: crashedId, idempotent: true, maxInFlightRequests: 1 });
    const fencer = kafka.producer({ transactionalId: crashedId, idempotent: true, maxInFlightRequests: 1 });
    try {
      await tables.restore(() => undefined, { timeoutMs: 30_000 }); // empty changelogs
      // The crashed owner's last unit: its transaction begun, a record sent, never ended. It holds
      // the partition's last stable offset at that record.
      await crashed.connect();
      const open = await crashed.transaction();
      await open.send({ topic: topics.dedupe, acks: -1, messages: [{ key: 'd:order_completed:undecided', value: '1;0', partition: 0, headers: { writer: 'crashed' } }] });
      // A transaction committed after that one began, on the same partition (another instance's,
      // or the same owner's after a failed abort left the first open): the catch-up must read it.
      await writeTransaction(kafka, `${crashedId}.1`, [{ topic: topics.dedupe, key: 'd:order_completed:committed', value: '1;0', partition: 0 }], 'commit', 'crashed');

      let caughtUp = false;
      const catchUp = tables.waitCaughtUp(30_000).then(() => { caughtUp = true; });
      await new Promise((r) => setTimeout(r, 1_000));
      // Read to the last stable offset, the catch-up would be over, without the committed unit.
      expect(caughtUp).toBe(false);
      expect(tables.remotePending).toBe(0);
      // The new owner claims the id: the open transaction is aborted, its markers written.
      await fencer.connect();
      await (await fencer.transaction()).abort();
      await catchUp;
      expect(tables.drainRemote().map((r) => r.key)).toEqual(['d:order_completed:committed']);
    } finally {
      await crashed.disconnect();
      await fencer.disconnect();
      await tables.stop();
    }
  });

  it('resumes where it was when KafkaJS restarts the consumer after a crash, never from the beginning', async () => {
    const prefix = `${uniqueName('restart')}.`;
    const topics = await changelogTopics(prefix);
    const keys = Array.from({ length: 300 }, (_, i) => `n:email:shopper${i}@example.com`);
    await writeTransaction(kafka, uniqueName('writer'), keys.map((key) => ({ topic: topics.identity, key, value: 'customer_id:cus_1' })), 'commit');
    await eventually('the commit marker written', () => stableEnd(topics.identity), (end) => end >= 301n, { timeoutMs: 10_000, intervalMs: 50 });
    // Every batch after the first fails until KafkaJS, out of retries, crashes the consumer and
    // restarts it as a new group member, which has forgotten every position.
    const kafkaLog: string[] = [];
    const logger = createLogger('restart-test', 'error', { write: (line: string) => void kafkaLog.push(line) });
    const crashy = createKafka({ brokers: stackInfo().brokers.split(','), clientId: uniqueName('crashy'), logger, retry: { initialRetryTime: 20, retries: 8 } });
    const tables = new ChangelogTables({ kafka: crashy, topics, instanceId: 'crashy', groupId: uniqueName('g'), logger: quietLogger });
    const restarted = (): boolean => kafkaLog.some((l) => l.includes('Restarting the consumer'));
    const applied: string[] = [];
    let calls = 0;
    try {
      await tables.restore((records) => {
        if (++calls > 1 && !restarted()) throw new Error('injected: the batch fails');
        applied.push(...records.map((r) => r.key));
      }, { timeoutMs: 60_000 });
      expect(restarted()).toBe(true);
      // The first batch's partition is not read again after the restart.
      expect([...applied].sort()).toEqual([...keys].sort());
    } finally {
      await tables.stop();
    }
  });

  it('fails the restore loudly when the changelog cannot be read to its end within the budget', async () => {
    const prefix = `${uniqueName('budget')}.`;
    const topics = await changelogTopics(prefix);
    await writeTransaction(kafka, uniqueName('writer'), [{ topic: topics.identity, key: 'n:email:a@example.com', value: 'customer_id:cus_a' }], 'commit');
    // The restore reads to the last stable offset, which passes the record only once the broker has
    // written the commit marker, a moment after commit() returns: else there is nothing to be slow on.
    await eventually('the commit marker written', () => stableEnd(topics.identity), (end) => end >= 2n, { timeoutMs: 10_000, intervalMs: 50 });
    const tables = new ChangelogTables({ kafka, topics, instanceId: 'slow', groupId: uniqueName('g'), logger: quietLogger });
    try {
      const failure = await tables.restore(() => new Promise((r) => setTimeout(r, 3_000)), { timeoutMs: 1_000 }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(EndNotReachedError);
      expect((failure as Error).message).toMatch(/state restore: not read to its end within 1000 ms; behind: .*identity-changelog:\d at nothing read of 2/);
    } finally {
      await tables.stop();
    }
  });
});
