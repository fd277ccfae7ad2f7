import { randomUUID } from 'node:crypto';
import {
  AvroSerde, createKafka, createOpsServer, createRegistry, ensureTopics, loadAvroSchema, loadTrackingPlan, rawTopics, topicNames, valueSubject,
  type Kafka, type Logger, type OpsServer,
} from '@cio-pipeline/core';
import type { CanonicalEvent, QuarantineRecord } from '@cio-pipeline/core/generated/avro-types';
import { ChangelogTables } from './kafka/changelog-tables.ts';
import { EMPTY_PRODUCT_TABLE, loadProductTable } from './stages/enrich.ts';
import { createNormalizerMetrics, type NormalizerMetrics } from './metrics.ts';
import { RawDecoder } from './kafka/raw-decoder.ts';
import type { ServiceConfig } from './service-config.ts';
import { createStateConfig } from './state/config.ts';
import { createStateStage, type StateStage } from './state/state-stage.ts';
import { createStatelessPipeline, pipelineOptionsFromConfig, type StatelessPipeline } from './stages/stateless.ts';
import { TransactionalProcessor, type ProcessorOptions } from './kafka/transactional-processor.ts';

export interface NormalizerService {
  metrics: NormalizerMetrics;
  opsPort: number;
  /** How long restoring state from the changelogs took, and how many records it read. */
  restored: { records: number; ms: number };
  stop(): Promise<void>;
}

/** Builds and starts the normalizer: topics, schemas, state restore, then the transactional loop. */
export async function startNormalizer(
  config: Readonly<ServiceConfig>,
  logger: Logger,
  // stateStage: a replacement for the stateful stages (benchmarks measure the stateless cost alone).
  opts: {
    kafka?: Kafka; instanceId?: string; stateStage?: StateStage; wrapStateless?: (stages: StatelessPipeline) => StatelessPipeline;
    // Fault-injection tests wrap the processor's parts (producers, encoder, decoder) to fail once.
    wrapProcessorOptions?: (options: ProcessorOptions) => ProcessorOptions;
    /** A Kafka consumer KafkaJS gave up on (the processor's or the changelog tail's): end the service. */
    onFatal?: (err: Error) => void;
  } = {},
): Promise<NormalizerService> {
  const instanceId = opts.instanceId ?? randomUUID().slice(0, 8);
  const log = logger.child({ instance: instanceId });
  const topics = topicNames(config.topicPrefix);
  const kafka = opts.kafka ?? createKafka({
    brokers: config.brokers, clientId: `normalizer-${instanceId}`, logger: log,
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
  const state = opts.stateStage ?? createStateStage(createStateConfig(plan, config.state));
  const metrics = createNormalizerMetrics({ plannedEvents: plan.events.keys() });

  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    ...rawTopics(topics).map(({ topic }) => ({ topic })),
    { topic: topics.canonical }, { topic: topics.quarantine }, { topic: topics.conflicts },
    { topic: topics.identityChangelog, compacted: true }, { topic: topics.dedupeChangelog, compacted: true }, { topic: topics.journeyChangelog, compacted: true },
  ]);
  await admin.disconnect();

  const canonicalSerde = new AvroSerde<CanonicalEvent>({ registry, registryUrl: config.registryUrl, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
  const quarantineSerde = new AvroSerde<QuarantineRecord>({ registry, registryUrl: config.registryUrl, subject: valueSubject(topics.quarantine), schema: loadAvroSchema('quarantine-record') });
  const decoder = new RawDecoder(registry, config.registryUrl, topics);
  if (config.autoRegisterSchemas) {
    await canonicalSerde.init({ register: true, compatibility: 'FULL_TRANSITIVE' });
    await quarantineSerde.init({ register: true, compatibility: 'FULL_TRANSITIVE' });
    // Raw schemas are registered too, so a fresh dev stack can decode before ingest first writes.
    for (const topic of decoder.topics) await decoder.serdeFor(topic)!.init({ register: true, compatibility: 'BACKWARD_TRANSITIVE' });
  } else {
    await canonicalSerde.init({ register: false });
    await quarantineSerde.init({ register: false });
  }

  const tables = new ChangelogTables({
    kafka,
    topics: { identity: topics.identityChangelog, dedupe: topics.dedupeChangelog, journey: topics.journeyChangelog },
    instanceId,
    groupId: config.groupId,
    logger: log,
    onFatal: opts.onFatal,
  });
  const processorOptions: ProcessorOptions = {
    kafka, groupId: config.groupId,
    topics: { raw: decoder.topics, canonical: topics.canonical, quarantine: topics.quarantine, conflicts: topics.conflicts },
    decoder, stateless, state, tables, canonicalSerde, quarantineSerde, metrics, logger: log,
    trackingVersion: plan.version, maxRecordsPerTransaction: config.maxRecordsPerTransaction, sweepIntervalMs: config.sweepIntervalMs,
    catchUpTimeoutMs: config.catchUpTimeoutMs,
    sessionTimeoutMs: config.sessionTimeoutMs, heartbeatIntervalMs: config.heartbeatIntervalMs, rebalanceTimeoutMs: config.rebalanceTimeoutMs,
    onFatal: opts.onFatal,
  };
  const processor = new TransactionalProcessor(opts.wrapProcessorOptions ? opts.wrapProcessorOptions(processorOptions) : processorOptions);
  let ops: OpsServer | null = null;
  let restored: { records: number; ms: number };
  let opsPort: number;
  try {
    // Listening before the restore: alive (/healthz) while it runs, ready (/readyz) only once the
    // state is complete and the processor has joined its group.
    ops = createOpsServer({ metrics: metrics.registry, ready: () => processor.isReady() });
    opsPort = await ops.listen(config.opsPort, config.opsHost);
    restored = await tables.restore((records) => state.restore(records), { timeoutMs: config.restoreTimeoutMs });
    metrics.restoreSeconds.set(restored.ms / 1000);
    await processor.start();
  } catch (err) {
    // A failed start leaves nothing running behind it, so the caller can simply try again.
    await Promise.all([processor.stop(), tables.stop(), ops?.close()]).catch(() => undefined);
    throw err;
  }
  log.info({ opsPort, trackingVersion: plan.version, restored }, 'normalizer started');

  return {
    metrics,
    opsPort,
    restored,
    stop: async () => {
      // The tables' tail can stop alongside: the processor's last transaction needs nothing new.
      await Promise.all([processor.stop(), tables.stop()]);
      await ops?.close();
      ops = null;
    },
  };
}
