import { randomUUID } from 'node:crypto';
import {
  AvroSerde, createKafka, createOpsServer, createRegistry, ensureTopics, loadAvroSchema, loadTrackingPlan, rawTopicConfig, rawTopics, topicNames, valueSubject,
  type Kafka, type Logger, type OpsServer,
} from '@cio-pipeline/core';
import type { AuditRecord, CanonicalEvent, QuarantineRecord } from '@cio-pipeline/core/generated/avro-types';
import { ChangelogTables } from './kafka/changelog-tables.ts';
import { EMPTY_PRODUCT_TABLE, loadProductTable } from './stages/enrich.ts';
import { createNormalizerMetrics, type NormalizerMetrics } from './metrics.ts';
import { RawDecoder } from './kafka/raw-decoder.ts';
import type { ServiceConfig } from './service-config.ts';
import { createStateConfig } from './state/config.ts';
import { createStateStage, createStateStores, type StateStage } from './state/state-stage.ts';
import { expirySettings } from './state/state-stores.ts';
import { createDiskStoreConfig } from './state/disk/config.ts';
import { LocalState } from './state/local-state.ts';
import { OverlappedCommits } from './state/overlapped-commits.ts';
import { releaseFreedHeap, withHeapGrowth, type HeapRelease } from './release-heap.ts';
import { createStatelessPipeline, pipelineOptionsFromConfig, type StatelessPipeline } from './stages/stateless.ts';
import { RecordWorkerPool } from './stages/record-workers.ts';
import { TransactionalProcessor, type ProcessorOptions } from './kafka/transactional-processor.ts';

export interface NormalizerService {
  metrics: NormalizerMetrics;
  opsPort: number;
  /**
   * How long restoring state took and how many changelog records it read from Kafka (with a local
   * store, only the tail); `local` is the entries read back from the local store (0 without one);
   * `heapRelease` what handing V8's freed heap pages back after it did (release-heap.ts).
   */
  restored: { records: number; ms: number; local: number; heapRelease: HeapRelease };
  /** The running state stage (tests compare a restart's state with a full restore). */
  state: StateStage;
  stop(): Promise<void>;
}

/**
 * A local store last committed longer ago than this may have missed tombstones that compaction has
 * removed since (Kafka's default delete.retention.ms is 24 h): it is discarded and restored cold.
 */
const LOCAL_STATE_MAX_AGE_MS = 23 * 3_600_000;

const mb = (bytes: number): number => Math.round(bytes / 1_048_576);

/** Builds and starts the normalizer: topics, schemas, state restore, then the transactional loop. */
export async function startNormalizer(
  config: Readonly<ServiceConfig>,
  logger: Logger,
  // stateStage: a replacement for the stateful stages (benchmarks measure the stateless cost alone).
  opts: {
    kafka?: Kafka; instanceId?: string; stateStage?: StateStage; wrapStateless?: (stages: StatelessPipeline) => StatelessPipeline;
    // Fault-injection tests wrap the processor's parts (producers, encoder, decoder) to fail once.
    wrapProcessorOptions?: (options: ProcessorOptions) => ProcessorOptions;
    /** A Kafka consumer KafkaJS gave up on (the processor's or the changelog tail's), or a failed local state write: end the service. */
    onFatal?: (err: Error) => void;
  } = {},
): Promise<NormalizerService> {
  const instanceId = opts.instanceId ?? randomUUID().slice(0, 8);
  const log = logger.child({ instance: instanceId });
  const topics = topicNames(config.topicPrefix);
  const kafka = opts.kafka ?? createKafka({
    brokers: config.brokers, clientId: `${config.clientId}-${instanceId}`, logger: log,
    // Capped back-off: a client finds a broker that is back within a couple of seconds. 20 tries
    // (about 35 s at a 2 s cap) ride out a broker restart without the consumer crashing: a crashed
    // one rejoins as a new member and waits out its old membership's session.
    retry: { initialRetryTime: 100, maxRetryTime: config.kafkaRetryMaxMs, retries: 20 },
  });
  const registry = createRegistry(config.registryUrl);
  const plan = loadTrackingPlan(config.stages.trackingPlanPath);
  const productTable = config.stages.productTablePath ? loadProductTable(config.stages.productTablePath) : EMPTY_PRODUCT_TABLE;
  const built = createStatelessPipeline({ plan, options: pipelineOptionsFromConfig(config.stages, productTable) });
  // Tests wrap the stages to inject a failure; in production they run as built.
  const stateless = opts.wrapStateless ? opts.wrapStateless(built) : built;
  const stateConfig = createStateConfig(plan, config.state);
  const diskConfig = config.stateDisk === null || opts.stateStage !== undefined ? null : createDiskStoreConfig(config.stateDisk);
  const metrics = createNormalizerMetrics({ plannedEvents: plan.events.keys() });

  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    ...rawTopics(topics).map(({ topic }) => ({ topic, config: rawTopicConfig() })),
    { topic: topics.canonical }, { topic: topics.quarantine }, { topic: topics.conflicts },
    // Time retention: the trace and reconcile read recent outcomes; the index keeps what it needs.
    { topic: topics.audit, partitions: config.auditPartitions, config: { 'cleanup.policy': 'delete', 'retention.ms': String(config.auditRetentionMs) } },
    { topic: topics.identityChangelog, compacted: true }, { topic: topics.dedupeChangelog, compacted: true }, { topic: topics.journeyChangelog, compacted: true },
  ]);
  // What the audit topic has, not what config asked for: it may have been created before.
  const auditPartitions = config.audit ? (await admin.fetchTopicMetadata({ topics: [topics.audit] })).topics[0]?.partitions.length : undefined;
  await admin.disconnect();

  const canonicalSerde = new AvroSerde<CanonicalEvent>({ registry, registryUrl: config.registryUrl, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
  const quarantineSerde = new AvroSerde<QuarantineRecord>({ registry, registryUrl: config.registryUrl, subject: valueSubject(topics.quarantine), schema: loadAvroSchema('quarantine-record') });
  const auditSerde = config.audit
    ? new AvroSerde<AuditRecord>({ registry, registryUrl: config.registryUrl, subject: valueSubject(topics.audit), schema: loadAvroSchema('audit-record') })
    : null;
  const decoder = new RawDecoder(registry, config.registryUrl, topics);
  if (config.autoRegisterSchemas) {
    await canonicalSerde.init({ register: true, compatibility: 'FULL_TRANSITIVE' });
    await quarantineSerde.init({ register: true, compatibility: 'FULL_TRANSITIVE' });
    await auditSerde?.init({ register: true, compatibility: 'FULL_TRANSITIVE' });
    // Raw schemas are registered too, so a fresh dev stack can decode before ingest first writes.
    for (const topic of decoder.topics) await decoder.serdeFor(topic)!.init({ register: true, compatibility: 'BACKWARD_TRANSITIVE' });
  } else {
    await canonicalSerde.init({ register: false });
    await quarantineSerde.init({ register: false });
    await auditSerde?.init({ register: false });
  }

  const tables = new ChangelogTables({
    kafka,
    topics: { identity: topics.identityChangelog, dedupe: topics.dedupeChangelog, journey: topics.journeyChangelog },
    instanceId,
    groupId: config.groupId,
    logger: log,
    onFatal: opts.onFatal,
    fetchBytes: config.changelogFetchBytes,
    countTail: ({ other, own, ownUndecoded }) => {
      if (other > 0) metrics.changelogTail.inc({ writer: 'other', decoded: 'yes' }, other);
      if (own > 0) metrics.changelogTail.inc({ writer: 'self', decoded: 'yes' }, own);
      if (ownUndecoded > 0) metrics.changelogTail.inc({ writer: 'self', decoded: 'no' }, ownUndecoded);
    },
  });
  // Opened only now: a start that failed before this leaves no lock on the directory behind.
  let local = diskConfig === null ? null : await LocalState.open(diskConfig, { expiry: expirySettings(stateConfig) });
  if (local !== null) {
    const stale = local.layoutMismatch() ?? await tables.staleReason(local.offsets(), local.store.committedAt, LOCAL_STATE_MAX_AGE_MS).catch(async (err: unknown) => {
      await local?.close();
      throw err;
    });
    if (stale !== null) {
      log.warn({ reason: stale, dir: diskConfig!.dir }, 'local state store cannot resume from its offsets; restoring from the changelogs');
      local = await local.discard();
    }
  }
  if (local !== null && local.store.writtenKeysSaved) {
    log.info('state key filter read from the last clean shutdown: reads of keys never written skip the disk');
  } else if (local !== null && local.store.writtenKeys === 'building') {
    const scanning = Date.now();
    const store = local.store;
    void store.writtenKeysBuilt().then(() => {
      if (store.writtenKeys === 'ready') log.info({ ms: Date.now() - scanning }, 'state key filter built: reads of keys never written skip the disk');
    });
  }
  const state = opts.stateStage ?? createStateStage(stateConfig, createStateStores(stateConfig, local), local);
  // Stages injected by a test are functions of this thread: they run here, not in workers.
  const workers = opts.wrapStateless || config.workers === 0 ? null
    : new RecordWorkerPool(config.workers, { stages: config.stages, registryUrl: config.registryUrl, topicPrefix: config.topicPrefix, logLevel: config.logLevel }, log);
  const processorOptions: ProcessorOptions = {
    kafka, groupId: config.groupId,
    topics: { raw: decoder.topics, canonical: topics.canonical, quarantine: topics.quarantine, conflicts: topics.conflicts, audit: topics.audit },
    decoder, stateless, state, tables, canonicalSerde, quarantineSerde, auditSerde, auditPartitions, metrics, logger: log,
    trackingVersion: plan.version, maxRecordsPerTransaction: config.maxRecordsPerTransaction, sweepIntervalMs: config.sweepIntervalMs,
    ...(workers ? { records: workers } : {}), partitionsConsumedConcurrently: config.partitionsConsumedConcurrently, producersPerPartition: config.producersPerPartition,
    catchUpTimeoutMs: config.catchUpTimeoutMs,
    sessionTimeoutMs: config.sessionTimeoutMs, heartbeatIntervalMs: config.heartbeatIntervalMs, rebalanceTimeoutMs: config.rebalanceTimeoutMs,
    onFatal: opts.onFatal,
  };
  const processor = new TransactionalProcessor(opts.wrapProcessorOptions ? opts.wrapProcessorOptions(processorOptions) : processorOptions);
  let ops: OpsServer | null = null;
  let restored: NormalizerService['restored'];
  let opsPort: number;
  try {
    // Listening before the restore: alive (/healthz) while it runs, ready (/readyz) only once the
    // state is complete and the processor has joined its group.
    ops = createOpsServer({ metrics: metrics.registry, ready: () => processor.isReady() });
    opsPort = await ops.listen(config.opsPort, config.opsHost);
    const started = Date.now();
    const fromDisk = local === null ? 0 : await local.load(Object.values(state.stores));
    const restoring = new OverlappedCommits(state);
    // On disk the restore's live heap is two fetches' worth: its garbage need not pile up before
    // V8 collects it. In memory the heap keeps all it restores, and V8's own factor stays.
    const fromKafka = await withHeapGrowth(local === null ? 0 : config.restoreHeapGrowthPercent, async () => {
      const read = await tables.restore((records, positions) => restoring.apply(records, positions),
        { timeoutMs: config.restoreTimeoutMs, ...(local !== null ? { from: local.offsets() } : {}) });
      await restoring.flush();
      return read;
    });
    const ms = Date.now() - started;
    metrics.restoreSeconds.set(ms / 1000);
    // What the restore's garbage grew the heap to would otherwise stay in V8's page pool for good.
    const heapRelease = releaseFreedHeap();
    log.info({ rssBeforeMb: mb(heapRelease.rssBeforeBytes), rssAfterMb: mb(heapRelease.rssAfterBytes), ms: Math.round(heapRelease.ms) }, 'returned the heap pages the restore freed');
    restored = { records: fromKafka.records, ms, local: fromDisk, heapRelease };
    await workers?.ready();
    await processor.start();
  } catch (err) {
    // A failed start leaves nothing running behind it, so the caller can simply try again.
    await Promise.all([processor.stop(), tables.stop(), ops?.close(), workers?.close()]).catch(() => undefined);
    await local?.close().catch(() => undefined);
    throw err;
  }
  log.info({ opsPort, trackingVersion: plan.version, restored: { records: restored.records, ms: restored.ms, local: restored.local }, workers: workers?.size ?? 0 }, 'normalizer started');

  return {
    metrics,
    opsPort,
    restored,
    state,
    stop: async () => {
      // The tables' tail can stop alongside: the processor's last transaction needs nothing new.
      await Promise.all([processor.stop(), tables.stop()]);
      // After the processor's last unit: its local commit is written before the store closes.
      const closed = await local?.close();
      if (closed?.keyFilterSaveError) {
        log.warn({ err: closed.keyFilterSaveError }, 'state key filter not saved: the next start rebuilds it by scanning the store');
      }
      await workers?.close();
      await ops?.close();
      ops = null;
    },
  };
}
