/**
 * The state on local disk through the real broker (issue #14): a restart with its local store
 * reads only the changelogs' tail (what other instances wrote while it was down), and ends with
 * the same state as a full restore from the topics; a new machine (an empty directory) restores
 * everything from the topics, as does a store written under another layout or other expiry settings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterAll, describe, expect, it } from 'vitest';
import { ConsumerPositions, measureEnds, topicNames, type Topics } from '@cio-pipeline/core';
import { startNormalizer, type NormalizerService } from '../src/app.ts';
import { ChangelogTables } from '../src/kafka/changelog-tables.ts';
import { loadTrackingPlan } from '@cio-pipeline/core';
import { loadServiceConfig, type ServiceConfig } from '../src/service-config.ts';
import { createStateConfig } from '../src/state/config.ts';
import { createDiskStoreConfig } from '../src/state/disk/config.ts';
import type { ChangelogOffsets } from '../src/state/disk/disk-store.ts';
import { LAYOUT_KEY } from '../src/state/disk/entry-codec.ts';
import { LocalState } from '../src/state/local-state.ts';
import { createStateStage, type StateStage } from '../src/state/state-stage.ts';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { FUTURE_TOLERANCE_MS, PLAN_PATH, produceStream, waitForGroupDone } from './load-harness.ts';
import { syntheticStream } from './synthetic-stream.ts';

const kafka = testKafka();
const dirs: string[] = [];
const services: NormalizerService[] = [];

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop().catch(() => undefined)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function newDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'restart-state-'));
  dirs.push(dir);
  return dir;
}

function config(prefix: string, groupId: string, dir: string, env: Record<string, string> = {}): Readonly<ServiceConfig> {
  const { brokers, registryUrl } = stackInfo();
  return loadServiceConfig({
    KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, NORMALIZER_GROUP_ID: groupId,
    NORMALIZER_OPS_PORT: '0', NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS,
    NORMALIZER_STATE_DIR: dir, ...env,
  });
}

async function start(cfg: Readonly<ServiceConfig>, instanceId: string): Promise<NormalizerService> {
  const service = await startNormalizer(cfg, quietLogger, { instanceId });
  services.push(service);
  return service;
}

async function stop(service: NormalizerService): Promise<void> {
  await service.stop();
  services.splice(services.indexOf(service), 1);
}

const changelogs = (t: Topics): string[] => [t.identityChangelog, t.dedupeChangelog, t.journeyChangelog];

/** Offset of every changelog record (tombstones included; transaction markers are not records), per partition. */
async function recordOffsets(topics: Topics): Promise<Map<string, bigint[]>> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await measureEnds(admin, changelogs(topics)).finally(() => admin.disconnect());
  const positions = new ConsumerPositions();
  const out = new Map<string, bigint[]>();
  const consumer = kafka.consumer({ groupId: uniqueName('offsets'), readUncommitted: false, maxWaitTimeInMs: 100 });
  positions.follow(consumer);
  await consumer.connect();
  await consumer.subscribe({ topics: changelogs(topics), fromBeginning: true });
  void consumer.run({
    eachBatch: async ({ batch }) => {
      const key = `${batch.topic}:${batch.partition}`;
      let list = out.get(key);
      if (list === undefined) out.set(key, (list = []));
      for (const m of batch.messages) if (m.key !== null) list.push(BigInt(m.offset));
    },
  });
  try {
    await positions.reach(ends, 'changelog offsets', { timeoutMs: 60_000 });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** Records at or past the stored offset of their partition (a partition not stored: all of it). */
function tailSize(all: Map<string, bigint[]>, from: ChangelogOffsets): number {
  let n = 0;
  for (const [key, offsets] of all) n += offsets.filter((o) => o >= (from.get(key) ?? 0n)).length;
  return n;
}

/** A full restore from the topics into memory, as a normalizer without a local store does. */
async function coldRestore(topics: Topics, cfg: Readonly<ServiceConfig>): Promise<StateStage> {
  const state = createStateStage(createStateConfig(loadTrackingPlan(PLAN_PATH), cfg.state));
  const tables = new ChangelogTables({
    kafka, topics: { identity: topics.identityChangelog, dedupe: topics.dedupeChangelog, journey: topics.journeyChangelog },
    instanceId: uniqueName('cold'), groupId: uniqueName('cold'), logger: quietLogger,
  });
  try {
    await tables.restore((records) => state.restore(records), { timeoutMs: 60_000 });
  } finally {
    await tables.stop();
  }
  return state;
}

/** What the state says about people: the stats and who a sample of identifiers resolves to. */
function fingerprint(state: StateStage, emails: string[]) {
  return {
    stats: state.stats(),
    orderIds: state.stores.orderIds.size,
    resolved: emails.map((email) => state.stores.identity.resolve({ email }).canonical),
  };
}

describe('state on local disk: restart and new machine', () => {
  it('a restart reads only the tail and ends where a full restore does; an empty directory restores from the topics', async () => {
    const prefix = `${uniqueName('lsr')}.`;
    const topics = topicNames(prefix);
    const groupId = uniqueName('normalizer');
    const raw = [topics.rawApp, topics.rawShopify, topics.rawSubscriptions];
    const records = syntheticStream({ appEvents: 3000, people: 300, duplicateRate: 0.03, shopifyOrders: 60, orderDuplicateRate: 0.3 });
    const half = Math.floor(records.length / 2);
    const emails = Array.from({ length: 20 }, (_, i) => `buyer${i * 7}@example.com`);
    const dirA = newDir();
    const cfgA = config(prefix, groupId, dirA);

    // A processes the first half and stops.
    const a1 = await start(cfgA, 'a');
    expect(a1.restored).toMatchObject({ records: 0, local: 0 });
    // The start handed V8's freed heap pages back once the restore was done (release-heap.ts).
    expect(a1.restored.heapRelease.rssAfterBytes).toBeGreaterThan(0);
    expect(a1.restored.heapRelease.ms).toBeGreaterThan(0);
    await produceStream(kafka, stackInfo().registryUrl, topics, records.slice(0, half));
    await waitForGroupDone(kafka, groupId, raw, 120_000);
    await stop(a1);
    const stored = await LocalState.open(createDiskStoreConfig({ dir: dirA }));
    const fromA = stored.offsets();
    await stored.close();
    expect(fromA.size).toBeGreaterThan(0);

    // While A is down, B (a new machine: empty directory) restores everything and processes the rest.
    const before = await recordOffsets(topics);
    const b = await start(config(prefix, groupId, newDir()), 'b');
    expect(b.restored.local).toBe(0);
    expect(b.restored.records).toBe(tailSize(before, new Map()));
    expect(fingerprint(b.state, emails)).toEqual(fingerprint(await coldRestore(topics, cfgA), emails));
    await produceStream(kafka, stackInfo().registryUrl, topics, records.slice(half));
    await waitForGroupDone(kafka, groupId, raw, 120_000);
    await stop(b);

    // A restarts on its directory: it reads what B wrote, nothing before it.
    const all = await recordOffsets(topics);
    const tail = tailSize(all, fromA);
    expect(tail).toBeGreaterThan(0);
    expect(tail).toBeLessThan(tailSize(all, new Map()));
    const a2 = await start(cfgA, 'a');
    // Nothing to load but held events: the stores read the disk directly.
    expect(a2.state.stats().identityNodes).toBeGreaterThan(0);
    expect(a2.restored.records).toBe(tail);
    const cold = await coldRestore(topics, cfgA);
    expect(cold.stats().identityNodes).toBeGreaterThan(0);
    expect(fingerprint(a2.state, emails)).toEqual(fingerprint(cold, emails));
    await stop(a2);

    // A store an older version wrote (no layout named): not read, restored from the topics.
    const db = new ClassicLevel<string, string>(dirA);
    await db.del(LAYOUT_KEY);
    await db.close();
    const a3 = await start(cfgA, 'a');
    expect(a3.restored.local).toBe(0);
    expect(a3.restored.records).toBe(tailSize(all, new Map()));
    expect(fingerprint(a3.state, emails)).toEqual(fingerprint(cold, emails));
    await stop(a3);

    // The same store under another identity TTL: its entries keep the expiry times the old TTL
    // gave them, so it is restored from the topics; started again with it, it reads the tail.
    const longerTtl = config(prefix, groupId, dirA, { NORMALIZER_IDENTITY_TTL_MS: String(60 * 86_400_000) });
    const a4 = await start(longerTtl, 'a');
    expect(a4.restored.local).toBe(0);
    expect(a4.restored.records).toBe(tailSize(all, new Map()));
    expect(fingerprint(a4.state, emails)).toEqual(fingerprint(cold, emails));
    await stop(a4);
    const storedA4 = await LocalState.open(createDiskStoreConfig({ dir: dirA }));
    const fromA4 = storedA4.offsets();
    await storedA4.close();
    const a5 = await start(longerTtl, 'a');
    expect(a5.restored.records).toBe(tailSize(await recordOffsets(topics), fromA4));
    expect(a5.restored.records).toBeLessThan(tailSize(all, new Map()));
    expect(fingerprint(a5.state, emails)).toEqual(fingerprint(cold, emails));
    await stop(a5);
  }, 400_000);
});
