/**
 * Identity graph restore: how long a normalizer instance takes to rebuild its identity graph from
 * the compacted `identity` changelog, and the memory it then holds. Target: 1,000,000 links in well
 * under 30 s and < 1 GB RSS. Variants, each in its own process so RSS is its own:
 *  - in memory: records streamed as a consumer would hand them over (Buffer values, one at a time)
 *    straight into the IdentityGraph; then 100,000 new links learned on top, to show it is live;
 *  - from Kafka: the same records written to a real compacted changelog topic the way the normalizer
 *    writes them (transactions of 5,000), then restored by a fresh process through ChangelogTables
 *    (read_committed, until the end offsets) into the state stage, exactly as the service starts.
 *  - on disk: as in memory, into a state on local disk (NORMALIZER_STATE_DIR), committed every
 *    10,000 records, then 100,000 links learned on top in chunks of 500, each committed without
 *    waiting for its write, as the processor does;
 *  - from Kafka, disk: the service's start on a new machine (empty state directory);
 *  - restart, disk: the service's start again on that directory: the local store plus the tail.
 *   BENCH_VARIANTS=memory,disk node bench/identity-restore.bench.ts   # only those (no Kafka)
 *
 *   node bench/identity-restore.bench.ts            # both; starts a native stack (bench-norm) unless
 *                                                   # KAFKA_BROKERS and SCHEMA_REGISTRY_URL are set
 *   node bench/identity-restore.bench.ts memory     # in-memory variant only, prints a RESULT line
 *   BENCH_LINKS=3000000 node bench/identity-restore.bench.ts
 *   BENCH_LINKS=50000000 BENCH_DEDUPE_KEYS=20000000 ...   # plus order dedupe keys (variants from Kafka)
 *   BENCH_WORKER_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=/tmp/prof' ...   # a CPU profile per variant
 *   BENCH_NORMALIZER_NODE_OPTIONS='' ...   # Node's own young generation instead of the service's (scripts/service-node-options.ts)
 *   BENCH_SETTLE_SECONDS=20 ...   # from Kafka, disk: memory read again this long after the restore
 *   BENCH_TRACE_SECONDS=10 ...   # from Kafka, disk: memory every 10 s of the restore, as TRACE lines on stderr
 *   BENCH_HEAP_GROWTH_PERCENT=0 ...   # from Kafka, disk: V8's own heap growth during the restore (default: the service's)
 *
 * Records are shaped like real clusters: 5 identifiers per person (customer_id, email, Shopify id,
 * anonymous id, cart token), plus a fallback flag for 1 in 10 people. Writes its section of
 * bench/results/normalizer.md.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { getHeapSpaceStatistics } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { createKafka, createLogger, ensureTopics, loadTrackingPlan, topicNames } from '@cio-pipeline/core';
import { processMemoryMb } from './process-memory.ts';
import { SERVICE_NODE_OPTIONS } from '../scripts/service-node-options.ts';
import { startCpuMeter } from './broker-cpu.ts';
import { ChangelogTables } from '../services/normalizer/src/kafka/changelog-tables.ts';
import type { ChangelogRecord } from '../services/normalizer/src/state/changelog.ts';
import { createStateConfig } from '../services/normalizer/src/state/config.ts';
import { IdentityGraph } from '../services/normalizer/src/state/identity-graph.ts';
import { createStateStage, createStateStores } from '../services/normalizer/src/state/state-stage.ts';
import { createDiskStoreConfig } from '../services/normalizer/src/state/disk/config.ts';
import { LocalState } from '../services/normalizer/src/state/local-state.ts';
import { OverlappedCommits } from '../services/normalizer/src/state/overlapped-commits.ts';
import { releaseFreedHeap, RESTORE_HEAP_GROWTH_PERCENT, withHeapGrowth } from '../services/normalizer/src/release-heap.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PLAN_PATH } from '../services/normalizer/test/load-harness.ts';
import { withBenchStack, writeResultSection } from './bench-stack.ts';

// A script, not a service: its knob comes straight from the environment.
const links = Number(process.env['BENCH_LINKS'] ?? 1_000_000);
if (!Number.isSafeInteger(links) || links < 1 || links > 50_000_000) throw new Error('BENCH_LINKS must be 1 to 50,000,000');
// Order dedupe keys in the dedupe changelog beside the links (the issue's 20M at 50M links); the
// variants from Kafka restore them, the in-process ones only the identity graph.
const dedupeKeys = Number(process.env['BENCH_DEDUPE_KEYS'] ?? 0);
if (!Number.isSafeInteger(dedupeKeys) || dedupeKeys < 0 || dedupeKeys > 20_000_000) throw new Error('BENCH_DEDUPE_KEYS must be 0 to 20,000,000');
const SETTLE_SECONDS = Number(process.env['BENCH_SETTLE_SECONDS'] ?? 20);
/** Variants from Kafka, disk: every this many seconds of the restore, a TRACE line on stderr (RSS, its split, V8's spaces); 0: none. */
const TRACE_SECONDS = Number(process.env['BENCH_TRACE_SECONDS'] ?? 0);
const HEAP_GROWTH_PERCENT = Number(process.env['BENCH_HEAP_GROWTH_PERCENT'] ?? RESTORE_HEAP_GROWTH_PERCENT);
const variants = new Set((process.env['BENCH_VARIANTS'] ?? 'memory,disk,kafka,kafka-disk').split(','));
const LOCAL_COMMIT_RECORDS = 10_000;
const perPerson = 5;
const people = Math.ceil(links / perPerson);
const TX_RECORDS = 5_000;

function* changelog(): Generator<ChangelogRecord> {
  for (let p = 0; p < people; p++) {
    const cluster = Buffer.from(`customer_id:cus_${p}`);
    const nodes = [
      `customer_id:cus_${p}`, `email:shopper${p}@example.com`, `shopify_customer_id:73019283${String(p).padStart(11, '0')}`,
      `anonymous_id:anon-${p.toString(36)}-${(p * 7919).toString(36)}`, `cart_token:Z2NwLXVzLWVhc3Qx${p.toString(36).padStart(10, '0')}`,
    ];
    for (const n of nodes) yield { topic: 'identity', key: `n:${n}`, value: cluster };
    if (p % 10 === 0) yield { topic: 'identity', key: `fb:email:shopper${p}@example.com`, value: Buffer.from('1') };
  }
}

/** First seen within the hour before the run: inside any dedupe window, so none expires meanwhile. */
const DEDUPE_SEEN_FROM = Date.now() - 3_600_000;

function* dedupeChangelog(): Generator<ChangelogRecord> {
  for (let i = 0; i < dedupeKeys; i++) {
    yield { topic: 'dedupe', key: `d:order_completed:ord_${i}`, value: Buffer.from(`${DEDUPE_SEEN_FROM + (i % 3_600_000)};2`) };
  }
}

/** The restored dedupe store knows the first, middle and last key. */
function spotCheckDedupe(has: (key: string) => boolean): void {
  for (const i of dedupeKeys === 0 ? [] : [0, Math.floor(dedupeKeys / 2), dedupeKeys - 1]) {
    if (!has(`order_completed:ord_${i}`)) throw new Error(`dedupe restore check failed for key ${i}`);
  }
  if (has('order_completed:never-written')) throw new Error('dedupe restore check failed: a key never written is known');
}

function mb(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}

/**
 * Samples RSS every 250 ms until stopped and returns the highest seen (at least the RSS when stopped).
 * A timer fires only between the restore's batches, so a peak inside one batch can be missed.
 */
function samplePeakRss(): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const started = performance.now();
  let traced = started;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
    if (TRACE_SECONDS > 0 && performance.now() - traced >= TRACE_SECONDS * 1000) {
      traced = performance.now();
      console.error(`TRACE ${JSON.stringify({ seconds: Math.round((traced - started) / 1000), rssMb: mb(process.memoryUsage.rss()), peakMb: mb(peak), ...rssSplitMb(), ...heapSpacesMb() })}`);
    }
  }, 250);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss());
    },
  };
}

/** V8's committed size of its larger spaces, for BENCH_TRACE_SECONDS. */
function heapSpacesMb(): Record<string, number> {
  const spaces: Record<string, number> = {};
  for (const s of getHeapSpaceStatistics()) if (['old_space', 'new_space', 'large_object_space'].includes(s.space_name)) spaces[`${s.space_name}Mb`] = mb(s.space_size);
  return spaces;
}

/** The RSS split and V8's committed heap and external memory, as the results carry them. */
function rssSplitMb(): { rssAnonMb?: number; rssFileMb?: number; heapTotalMb: number; externalMb: number } {
  const { rssAnonMb, rssFileMb, heapTotalMb, externalMb } = processMemoryMb();
  return { rssAnonMb, rssFileMb, heapTotalMb, externalMb };
}

interface RestoreResult {
  variant: 'in memory' | 'from Kafka' | 'on disk' | 'from Kafka, disk' | 'restart, disk';
  records: number;
  nodeRecords: number;
  clusters: number;
  restoreSeconds: number;
  recordsPerSecond: number;
  /** CPU of the whole process during the restore (every thread: workers, LevelDB's, libuv's). */
  cpuSeconds?: number;
  /** CPU the local broker spent meanwhile (serving the fetches); absent with a remote broker. */
  brokerCpuSeconds?: number;
  rssBeforeMb: number;
  rssAfterMb: number;
  /**
   * From Kafka: RSS when the last record was applied, before the start hands V8's freed heap pages
   * back (release-heap.ts) as startNormalizer does; rssAfterMb is after it, and releaseMs its cost.
   */
  rssBeforeReleaseMb?: number;
  releaseMs?: number;
  /** From Kafka, disk: the highest RSS sampled (every 250 ms, between batches) while the restore ran. */
  peakRssMb?: number;
  /** RssAnon and RssFile when rssAfterMb was read (Linux), and V8's committed heap and external memory then. */
  rssAnonMb?: number;
  rssFileMb?: number;
  heapTotalMb?: number;
  externalMb?: number;
  /** From Kafka, disk: the same figures BENCH_SETTLE_SECONDS after the restore, the tail idle (the service running on). */
  settled?: { seconds: number; collected: boolean; rssMb: number; rssAnonMb?: number; heapTotalMb: number; heapUsedMb: number; externalMb: number };
  heapMb: number;
  learnLinksPerSecond?: number;
  /** From Kafka: when the last record was applied; the rest of the restore time is end detection. */
  lastRecordSeconds?: number;
  /** Restart: the background scan that rebuilds the written-keys filter, from the store's open (not part of the restore). */
  keyScanSeconds?: number;
  /** Disk variants: the written-keys filter at open ('ready' on a reopened store: read from the last clean close). */
  keyFilterAtOpen?: 'off' | 'building' | 'ready';
}

/** The restored graph answers as the writer's did. */
function spotCheck(resolve: (email: string) => string | null): void {
  for (const p of [0, Math.floor(people / 2), people - 1]) {
    const got = resolve(`shopper${p}@example.com`);
    if (got !== `cus_${p}`) throw new Error(`restore check failed for person ${p}: ${got}`);
  }
}

function inMemory(): RestoreResult {
  const rssBefore = process.memoryUsage().rss;
  const graph = new IdentityGraph({ conflictRule: 'keep_first', fallbackIdentifiers: ['email', 'shopify_customer_id'] });
  let records = 0;
  const t0 = performance.now();
  graph.restore((function* counted() {
    for (const r of changelog()) {
      records++;
      yield r;
    }
  })());
  const restoreMs = performance.now() - t0;
  const rssAfter = process.memoryUsage().rss;
  const rssSplit = rssSplitMb();
  spotCheck((email) => graph.resolve({ email }).canonical);

  const t1 = performance.now();
  const learnCount = 100_000;
  for (let i = 0; i < learnCount; i++) {
    const p = i % people;
    graph.beginBatch();
    graph.learn({ customer_id: `cus_${p}`, anonymous_id: `new-device-${i}` }, { event_id: String(i), source: 'app', occurred_at: 0 });
    graph.takeChanges();
  }
  const learnMs = performance.now() - t1;
  return {
    variant: 'in memory', records, nodeRecords: graph.nodeCount - learnCount, clusters: graph.clusterCount,
    restoreSeconds: restoreMs / 1000, recordsPerSecond: Math.round(records / (restoreMs / 1000)),
    rssBeforeMb: mb(rssBefore), rssAfterMb: mb(rssAfter), ...rssSplit, heapMb: mb(process.memoryUsage().heapUsed),
    learnLinksPerSecond: Math.round(learnCount / (learnMs / 1000)),
  };
}

const diskConfig = (dir: string) => createDiskStoreConfig({
  ...(process.env['BENCH_WRITE_BUFFER_MB'] ? { writeBufferBytes: Number(process.env['BENCH_WRITE_BUFFER_MB']) * 1024 * 1024 } : {}),
  dir, blockCacheBytes: Number(process.env['BENCH_BLOCK_CACHE_MB'] ?? 64) * 1024 * 1024, readCacheEntries: Number(process.env['BENCH_READ_CACHE_ENTRIES'] ?? 100_000),
  ...(process.env['BENCH_COMPRESSION'] === undefined ? {} : { compression: process.env['BENCH_COMPRESSION'] !== 'false' }),
});

/** The in-memory variant on the local disk store: restore committed every 10,000 records, then learning. */
async function onDisk(dir: string): Promise<RestoreResult> {
  const rssBefore = process.memoryUsage().rss;
  const local = await LocalState.open(diskConfig(dir));
  const graph = new IdentityGraph({ conflictRule: 'keep_first', fallbackIdentifiers: ['email', 'shopify_customer_id'] }, local.identityIndex());
  let records = 0;
  const t0 = performance.now();
  let batch: ChangelogRecord[] = [];
  for (const r of changelog()) {
    records++;
    batch.push(r);
    if (batch.length === LOCAL_COMMIT_RECORDS) {
      graph.restore(batch);
      await local.commit(new Map([['identity:0', BigInt(records)]]));
      batch = [];
    }
  }
  graph.restore(batch);
  await local.commit(new Map([['identity:0', BigInt(records)]]));
  const restoreMs = performance.now() - t0;
  const rssAfter = process.memoryUsage().rss;
  const rssSplit = rssSplitMb();
  spotCheck((email) => graph.resolve({ email }).canonical);
  const nodes = graph.nodeCount;

  const t1 = performance.now();
  const learnCount = 100_000;
  let written: Promise<void> = Promise.resolve();
  for (let i = 0; i < learnCount; i++) {
    const p = (i * 7919) % people; // spread over the keyspace, as arrivals are
    graph.beginBatch();
    graph.learn({ customer_id: `cus_${p}`, anonymous_id: `new-device-${i}` }, { event_id: String(i), source: 'app', occurred_at: 0 });
    graph.takeChanges();
    if (i % 500 === 499) {
      // As the processor does: the next unit goes on while LevelDB writes this one (a failed write
      // rejects the last promise too, since writes queue behind each other).
      written = local.commit();
      written.catch(() => undefined);
      await new Promise(setImmediate);
    }
  }
  await written;
  await local.commit();
  const learnMs = performance.now() - t1;
  // The larger of the two readings, with the split read at the same moment.
  const rssLater = process.memoryUsage().rss;
  const result: RestoreResult = {
    variant: 'on disk', records, nodeRecords: nodes, clusters: graph.clusterCount,
    restoreSeconds: restoreMs / 1000, recordsPerSecond: Math.round(records / (restoreMs / 1000)),
    rssBeforeMb: mb(rssBefore), rssAfterMb: mb(Math.max(rssAfter, rssLater)), ...(rssLater > rssAfter ? rssSplitMb() : rssSplit), heapMb: mb(process.memoryUsage().heapUsed),
    learnLinksPerSecond: Math.round(learnCount / (learnMs / 1000)),
  };
  await local.close();
  return result;
}

/** The service's start with NORMALIZER_STATE_DIR: the local store's held events, then the changelog from its offsets. */
async function fromKafkaToDisk(prefix: string, dir: string, variant: 'from Kafka, disk' | 'restart, disk'): Promise<RestoreResult> {
  const logger = createLogger('identity-restore-bench', 'warn');
  const kafka = createKafka({ brokers: process.env['KAFKA_BROKERS']!.split(','), clientId: 'restore-bench', logger });
  const topics = topicNames(prefix);
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const cpuMeter = startCpuMeter();
  const local = await LocalState.open(diskConfig(dir));
  const keyFilterAtOpen = local.store.writtenKeys;
  const cfg = createStateConfig(loadTrackingPlan(PLAN_PATH), {});
  const state = createStateStage(cfg, createStateStores(cfg, local), local);
  const tables = new ChangelogTables({
    kafka, topics: { identity: topics.identityChangelog, dedupe: topics.dedupeChangelog, journey: topics.journeyChangelog },
    instanceId: randomUUID().slice(0, 8), groupId: 'restore-bench', logger,
  });
  await local.load(Object.values(state.stores));
  let lastRecordAt = t0;
  const restoring = new OverlappedCommits(state);
  const peak = samplePeakRss();
  // As startNormalizer restores to disk (BENCH_HEAP_GROWTH_PERCENT=0: V8's own growth).
  const restored = await withHeapGrowth(HEAP_GROWTH_PERCENT, async () => {
    const read = await tables.restore((records, positions) => {
      lastRecordAt = performance.now();
      return restoring.apply(records, positions);
    }, { timeoutMs: 3_600_000, from: local.offsets() });
    await restoring.flush();
    return read;
  });
  const peakRssMb = mb(peak.stop());
  const ms = performance.now() - t0;
  const cpu = cpuMeter();
  const released = releaseFreedHeap();
  const rssAfter = process.memoryUsage().rss;
  const rssSplit = rssSplitMb();
  // The service then runs on, its tail idle: what the restore leaves behind once V8 has had time to shrink.
  await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000));
  // With BENCH_WORKER_NODE_OPTIONS=--expose-gc, a full collection first: live memory, not garbage.
  (globalThis as { gc?: () => void }).gc?.();
  const settled = rssSplitMb();
  const rssSettled = process.memoryUsage().rss;
  const heapSettled = process.memoryUsage().heapUsed;
  await tables.stop();
  spotCheck((email) => state.stores.identity.resolve({ email }).canonical);
  spotCheckDedupe((key) => state.stores.dedupe.has(key, Date.now()));
  const stats = state.stats();
  const scanning = local.store.writtenKeys === 'building';
  await local.store.writtenKeysBuilt();
  const keyScanSeconds = scanning ? (performance.now() - t0) / 1000 : undefined;
  await local.close();
  return {
    ...(keyScanSeconds !== undefined ? { keyScanSeconds } : {}), keyFilterAtOpen,
    variant, records: restored.records, nodeRecords: stats.identityNodes, clusters: stats.identityClusters,
    restoreSeconds: ms / 1000, recordsPerSecond: Math.round(restored.records / (ms / 1000)), ...cpu,
    rssBeforeMb: mb(rssBefore), rssAfterMb: mb(rssAfter), ...rssSplit, heapMb: mb(process.memoryUsage().heapUsed),
    rssBeforeReleaseMb: mb(released.rssBeforeBytes), releaseMs: Math.round(released.ms), peakRssMb,
    lastRecordSeconds: (lastRecordAt - t0) / 1000,
    settled: { seconds: SETTLE_SECONDS, collected: typeof (globalThis as { gc?: unknown }).gc === 'function', rssMb: mb(rssSettled), rssAnonMb: settled.rssAnonMb, heapTotalMb: settled.heapTotalMb, heapUsedMb: mb(heapSettled), externalMb: settled.externalMb },
  };
}

/** A fresh process restoring the changelog topics of `prefix` the way startNormalizer does. */
async function fromKafka(prefix: string): Promise<RestoreResult> {
  const logger = createLogger('identity-restore-bench', 'warn');
  const kafka = createKafka({ brokers: process.env['KAFKA_BROKERS']!.split(','), clientId: 'restore-bench', logger });
  const topics = topicNames(prefix);
  const state = createStateStage(createStateConfig(loadTrackingPlan(PLAN_PATH), {}));
  const tables = new ChangelogTables({
    kafka, topics: { identity: topics.identityChangelog, dedupe: topics.dedupeChangelog, journey: topics.journeyChangelog },
    instanceId: randomUUID().slice(0, 8), groupId: 'restore-bench', logger,
  });
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const cpuMeter = startCpuMeter();
  let lastRecordAt = t0;
  const restored = await tables.restore((records) => {
    lastRecordAt = performance.now();
    state.restore(records);
  }, { timeoutMs: 3_600_000 });
  const cpu = cpuMeter();
  const released = releaseFreedHeap();
  const rssAfter = process.memoryUsage().rss;
  const rssSplit = rssSplitMb();
  await tables.stop();
  spotCheck((email) => state.stores.identity.resolve({ email }).canonical);
  spotCheckDedupe((key) => state.stores.dedupe.has(key, Date.now()));
  const stats = state.stats();
  return {
    variant: 'from Kafka', records: restored.records, nodeRecords: stats.identityNodes, clusters: stats.identityClusters,
    restoreSeconds: restored.ms / 1000, recordsPerSecond: Math.round(restored.records / (restored.ms / 1000)), ...cpu,
    rssBeforeMb: mb(rssBefore), rssAfterMb: mb(rssAfter), ...rssSplit, heapMb: mb(process.memoryUsage().heapUsed),
    rssBeforeReleaseMb: mb(released.rssBeforeBytes), releaseMs: Math.round(released.ms),
    lastRecordSeconds: (lastRecordAt - t0) / 1000,
  };
}

function runWorker(args: string[], env: Record<string, string> = {}): Promise<RestoreResult> {
  return new Promise((resolve, reject) => {
    // Each variant runs with the normalizer's Node options (BENCH_NORMALIZER_NODE_OPTIONS replaces
    // them, '' for Node's defaults), then BENCH_WORKER_NODE_OPTIONS, e.g. `--cpu-prof
    // --cpu-prof-dir=/tmp/prof` to profile each variant (a flag given twice: the last one counts).
    const nodeOptions = `${process.env['BENCH_NORMALIZER_NODE_OPTIONS'] ?? SERVICE_NODE_OPTIONS.normalizer} ${process.env['BENCH_WORKER_NODE_OPTIONS'] ?? ''}`.split(' ').filter((o) => o !== '');
    const child = spawn(process.execPath, [...nodeOptions, fileURLToPath(import.meta.url), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
    child.once('exit', (code) => {
      try {
        if (code !== 0) throw new Error(`exit ${code}`);
        const line = stdout.split('\n').find((l) => l.startsWith(RESULT));
        if (line === undefined) throw new Error('no result line');
        console.log(line); // each variant's RESULT line, on the benchmark's own output too
        resolve(JSON.parse(line.slice(RESULT.length)) as RestoreResult);
      } catch (err) {
        reject(new Error(`worker ${args.join(' ')} failed (${(err as Error).message}): ${stdout.slice(-2000)}`));
      }
    });
  });
}

async function main(): Promise<void> {
  const loadBefore = os.loadavg().map((l) => l.toFixed(1)).join(' / ');
  const results: RestoreResult[] = [];
  const dir = mkdtempSync(join(os.tmpdir(), 'identity-restore-bench-'));
  const worker = async (args: string[], env: Record<string, string> = {}): Promise<void> => {
    const r = await runWorker(args, env);
    results.push(r);
    console.log(JSON.stringify(r, null, 2));
  };
  if (variants.has('memory')) await worker(['memory']);
  if (variants.has('disk')) await worker(['disk', join(dir, 'in-process')]);
  let writeSeconds = 0;
  const note = !variants.has('kafka') && !variants.has('kafka-disk') ? '' : await withBenchStack(async ({ brokers, registryUrl, kafka }) => {
    const prefix = `bench-restore-${randomUUID().slice(0, 8)}.`;
    const topics = topicNames(prefix);
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [
      { topic: topics.identityChangelog, compacted: true }, { topic: topics.dedupeChangelog, compacted: true }, { topic: topics.journeyChangelog, compacted: true },
    ]);
    // The changelog as the normalizer writes it: transactional, one producer per input partition.
    const t0 = performance.now();
    const producers = await Promise.all([0, 1, 2].map(async (i) => {
      const p = kafka.producer({ transactionalId: `restore-bench-${prefix}${i}`, idempotent: true, maxInFlightRequests: 1 });
      await p.connect();
      return p;
    }));
    let batch: ChangelogRecord[] = [];
    let n = 0;
    const inFlight: Array<Promise<void>> = [];
    const topicOf = { identity: topics.identityChangelog, dedupe: topics.dedupeChangelog, journey: topics.journeyChangelog };
    const flush = async (producer: (typeof producers)[number], records: ChangelogRecord[]): Promise<void> => {
      const tx = await producer.transaction();
      await tx.send({ topic: topicOf[records[0]!.topic], acks: -1, messages: records.map((r) => ({ key: r.key, value: r.value as Buffer })) });
      await tx.commit();
    };
    // One topic per transaction (the identity records, then the dedupe keys).
    for (const r of (function* all() { yield* changelog(); yield* dedupeChangelog(); })()) {
      if (batch.length > 0 && batch[0]!.topic !== r.topic) {
        await Promise.all(inFlight.splice(0));
        await flush(producers[0]!, batch);
        batch = [];
      }
      batch.push(r);
      if (batch.length === TX_RECORDS) {
        inFlight.push(flush(producers[n++ % producers.length]!, batch));
        batch = [];
        if (inFlight.length === producers.length) await Promise.all(inFlight.splice(0));
      }
    }
    // After the ones in flight: a producer has one transaction at a time.
    await Promise.all(inFlight);
    if (batch.length > 0) await flush(producers[0]!, batch);
    for (const p of producers) await p.disconnect();
    writeSeconds = (performance.now() - t0) / 1000;
    const offsets = await admin.fetchTopicOffsets(topics.identityChangelog);
    const dedupeOffsets = await admin.fetchTopicOffsets(topics.dedupeChangelog);
    console.log(`wrote the changelogs in ${writeSeconds.toFixed(1)} s (identity end offsets ${offsets.map((o) => o.high).join(', ')}; dedupe ${dedupeOffsets.map((o) => o.high).join(', ')})`);
    const env = { KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl };
    if (variants.has('kafka')) await worker(['kafka', prefix], env);
    if (variants.has('kafka-disk')) {
      await worker(['kafka-disk', prefix, join(dir, 'service')], env);
      await worker(['restart-disk', prefix, join(dir, 'service')], env);
    }
    await admin.deleteTopics({ topics: [topics.identityChangelog, topics.dedupeChangelog, topics.journeyChangelog] }).catch(() => undefined);
    await admin.disconnect();
  });

  rmSync(dir, { recursive: true, force: true });
  const rows = results.map((r) => `| ${r.variant} | ${r.records} | ${r.nodeRecords} | ${r.clusters} | ${r.restoreSeconds.toFixed(2)} | ${r.lastRecordSeconds?.toFixed(2) ?? ''} | ${r.recordsPerSecond} | ${r.cpuSeconds?.toFixed(1) ?? ''} | ${r.brokerCpuSeconds?.toFixed(1) ?? ''} | ${r.rssBeforeMb} | ${r.rssAfterMb} | ${r.rssAnonMb ?? ''} | ${r.rssFileMb ?? ''} | ${r.heapMb} | ${r.learnLinksPerSecond ?? ''} |`);
  const md = [
    `Run ${new Date().toISOString()} on Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}); load average before the run ${loadBefore}. ${note}`,
    '',
    `${links} identity links (${people} people x ${perPerson} identifiers, plus a fallback flag for 1 in 10 people)${dedupeKeys > 0 ? `, and ${dedupeKeys} order dedupe keys in the dedupe changelog (restored by the variants from Kafka only)` : ''}. From Kafka: written to a compacted 3-partition changelog in transactions of ${TX_RECORDS} (${writeSeconds.toFixed(1)} s, not part of the restore), then read by a fresh process through ChangelogTables into the state stage, as startNormalizer does. The restore time includes the consumer's group join; it ends when the consumer's fetch position reaches each partition's end measured at start (transaction markers included), never on a quiet period.`,
    '',
    '| variant | records read | identity nodes | clusters | restore s | last record at s | records/s | process CPU s | broker CPU s | RSS before MB | RSS after MB | of it anonymous MB | of it mapped files MB | heap MB | learn links/s after |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    ...results.filter((r) => r.keyScanSeconds !== undefined).map((r) => `${r.variant}: the background scan of the store's keys (rebuilding the written-keys filter; reads go to LevelDB until it ends) ended ${r.keyScanSeconds!.toFixed(1)} s after the start.`),
    ...results.filter((r) => r.rssBeforeReleaseMb !== undefined).map((r) => `${r.variant}: RSS ${r.rssBeforeReleaseMb} MB when the restore ended, ${r.rssAfterMb} MB (the RSS after column) once the start handed V8's freed heap pages back (release-heap.ts, ${r.releaseMs} ms).${r.peakRssMb !== undefined ? ` Highest RSS sampled during the restore: ${r.peakRssMb} MB.` : ''}`),
    ...results.filter((r) => r.settled !== undefined).map((r) => `${r.variant}: ${r.settled!.seconds} s after the restore, the tail idle${r.settled!.collected ? ', after a full GC' : ''}: RSS ${r.settled!.rssMb} MB, of it anonymous ${r.settled!.rssAnonMb ?? '?'} MB; V8 heap ${r.settled!.heapUsedMb} MB used of ${r.settled!.heapTotalMb} MB committed, external ${r.settled!.externalMb} MB.`),
    ...results.filter((r) => r.variant === 'restart, disk' && r.keyFilterAtOpen === 'ready').map((r) => `${r.variant}: the written-keys filter was read from the last clean close (ready at open, no key scan).`),
    '',
    ...ratios(results),
  ].join('\n');
  await writeResultSection('normalizer.md', 'identity-restore', `## Identity graph restore: ${links.toLocaleString('en-US')} links`, md);
  console.log(md);
}

/** The comparisons docs/state-stores.md quotes, as ratios of the same run. */
function ratios(results: RestoreResult[]): string[] {
  const by = new Map(results.map((r) => [r.variant, r]));
  const out: string[] = [];
  const ratio = (what: string, a: number | undefined, b: number | undefined): void => {
    if (a !== undefined && b !== undefined && b > 0) out.push(`- ${what}: ${(a / b).toFixed(2)}`);
  };
  const mem = by.get('in memory');
  const disk = by.get('on disk');
  ratio('RSS after restore, on disk / in memory', disk?.rssAfterMb, mem?.rssAfterMb);
  ratio('restore rate, on disk / in memory', disk?.recordsPerSecond, mem?.recordsPerSecond);
  ratio('learn rate, on disk / in memory', disk?.learnLinksPerSecond, mem?.learnLinksPerSecond);
  ratio('cold restore time from Kafka, disk / memory', by.get('from Kafka, disk')?.restoreSeconds, by.get('from Kafka')?.restoreSeconds);
  ratio('RSS after the restore from Kafka, disk / memory', by.get('from Kafka, disk')?.rssAfterMb, by.get('from Kafka')?.rssAfterMb);
  ratio('restart with the local store / cold restore from Kafka (memory)', by.get('restart, disk')?.restoreSeconds, by.get('from Kafka')?.restoreSeconds);
  return out;
}

// Workers print one result line (logs may share stdout).
const RESULT = 'RESULT ';
const mode = process.argv[2];
if (mode === 'memory') console.log(`${RESULT}${JSON.stringify(inMemory())}`);
else if (mode === 'kafka') console.log(`${RESULT}${JSON.stringify(await fromKafka(process.argv[3]!))}`);
else if (mode === 'disk') console.log(`${RESULT}${JSON.stringify(await onDisk(process.argv[3]!))}`);
else if (mode === 'kafka-disk') console.log(`${RESULT}${JSON.stringify(await fromKafkaToDisk(process.argv[3]!, process.argv[4]!, 'from Kafka, disk'))}`);
else if (mode === 'restart-disk') console.log(`${RESULT}${JSON.stringify(await fromKafkaToDisk(process.argv[3]!, process.argv[4]!, 'restart, disk'))}`);
else await main();
