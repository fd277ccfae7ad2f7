import { randomUUID } from 'node:crypto';
import { Partitioners, type Admin, type Consumer, type KafkaMessage } from 'kafkajs';
import {
  AvroSerde, createKafka, createOpsServer, createRegistry, ensureTopics, loadAvroSchema, SerdeError, valueSubject,
  type Kafka, type Logger, type OpsServer,
} from '@cio-pipeline/core';
import type { CanonicalEvent, DeadLetter, DeliveryReceiptBatch } from '@cio-pipeline/core/generated/avro-types';
import type { SinkConfig } from './config.ts';
import { SinkConsumer } from './consumer.ts';
import { toDeadLetter } from './dead-letter.ts';
import { DeadLetterProducer } from './dlq-producer.ts';
import { createDeliveryEngine, type DeliveryEngine } from './delivery-engine.ts';
import type { DeadLetterInfo, SinkRecord } from './key-ordered-dispatcher.ts';
import type { DeadLetterReasonCode } from './dead-letter-reasons.ts';
import { createSinkMetrics, type SinkMetrics } from './metrics.ts';
import { RateShare } from './rate-share.ts';
import { toReceipt } from './receipt.ts';
import { ReceiptBatchEncoder } from './receipt-batch.ts';
import { ReceiptWorkerClient } from './receipt-worker-client.ts';
import { ReceiptWriter } from './receipt-writer.ts';

/**
 * The running sink: events.canonical (read_committed, own group) -> key-ordered delivery to
 * Customer.io -> offsets committed only past events that are delivered or durably dead-lettered.
 */
export interface SinkService {
  metrics: SinkMetrics;
  opsPort: number;
  /** True while Customer.io refuses our credentials (401/403) or endpoint (404/405). */
  isHalted(): boolean;
  /** This instance's share of the workspace rate limit (requests/s), from the group assignment. */
  rateCeiling(): number;
  /** Graceful: stop reading, finish what is in flight (bounded), commit, disconnect. */
  stop(drainTimeoutMs?: number): Promise<void>;
}

export interface StartSinkOptions {
  kafka?: Kafka;
  instanceId?: string;
}

export async function startSink(config: Readonly<SinkConfig>, logger: Logger, opts: StartSinkOptions = {}): Promise<SinkService> {
  const instanceId = opts.instanceId ?? randomUUID().slice(0, 8);
  const log = logger.child({ instance: instanceId });
  const { topics } = config.kafka;
  const kafka = opts.kafka ?? createKafka({
    brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-${instanceId}`, logger: log,
    // Capped back-off: a client finds a broker that is back within a couple of seconds. 20 tries
    // (about 35 s at a 2 s cap) ride out a broker restart without the consumer crashing: a crashed
    // one rejoins as a new member and waits out its old membership's session.
    retry: { initialRetryTime: 100, maxRetryTime: config.kafka.retryMaxMs, retries: 20 },
  });

  const partitionCount = async (admin: Admin): Promise<number> =>
    (await admin.fetchTopicMetadata({ topics: [topics.canonical] })).topics[0]?.partitions.length ?? 0;
  const admin = kafka.admin();
  await admin.connect();
  // Read before the first join (ensureTopics has waited for the partitions' leaders), so the first
  // assignment's rate share is set before its first fetch.
  let knownPartitions: number;
  try {
    await ensureTopics(admin, [
      { topic: topics.canonical }, { topic: topics.dlq },
      // Receipts are a time-bounded trail for trace and reconcile, not state: deleted by age.
      ...(config.receipts.enabled ? [{ topic: topics.receipts, config: { 'cleanup.policy': 'delete', 'retention.ms': String(config.receipts.retentionMs) } }] : []),
    ]);
    knownPartitions = await partitionCount(admin);
  } finally {
    await admin.disconnect();
  }
  /** Asked again on every join: partitions may have been added since. */
  const canonicalPartitions = async (): Promise<number> => {
    const a = kafka.admin();
    await a.connect();
    try {
      return await partitionCount(a);
    } finally {
      await a.disconnect();
    }
  };

  const registry = createRegistry(config.registry.url);
  const canonicalSerde = new AvroSerde<CanonicalEvent>({ registry, registryUrl: config.registry.url, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
  const dlqSerde = new AvroSerde<DeadLetter>({ registry, registryUrl: config.registry.url, subject: valueSubject(topics.dlq), schema: loadAvroSchema('dlq-record') });
  await withRetries(log, 'sink.dlq schema', () =>
    config.registry.autoRegister ? dlqSerde.init({ register: true, compatibility: 'FULL_TRANSITIVE' }) : dlqSerde.init({ register: false }));

  // Idempotent with acks=all: a dead letter counts as written only once every in-sync replica has it.
  // Client retries stay bounded (KafkaJS warns "may invalidate EoS"): the dispatcher retries a failed
  // dead-letter write itself, and a rare duplicate dead letter is harmless (replay is idempotent).
  // A producer that failed a send is replaced (see DeadLetterProducer).
  const producer = new DeadLetterProducer(() => kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner }), log);
  await producer.connect();

  let bucketRate = (): number => config.delivery.rateLimitPerSec;
  const metrics = createSinkMetrics({ rateLimit: () => bucketRate(), defaultMetrics: true });
  const receipts = config.receipts.enabled ? await startReceipts(config, registry, log, metrics) : null;

  let haltedSince: number | null = null;
  const halted = (): boolean => haltedSince !== null;

  const writeDeadLetter = async (key: string | null, letter: DeadLetter): Promise<void> => {
    // Resolves only after the broker acknowledged: the dispatcher advances offsets on this.
    await producer.send({ topic: topics.dlq, acks: -1, messages: [{ key, value: dlqSerde.encode(letter) }] });
  };

  const engine: DeliveryEngine = createDeliveryEngine(config, {
    metrics,
    logger: log,
    deadLetter: async (record: SinkRecord, info: DeadLetterInfo) => {
      await writeDeadLetter(record.key, toDeadLetter(record, info, topics.canonical));
      log.warn({ event_id: record.event.event_id, event_name: record.event.name, reason: info.reason, status: info.status, partition: record.partition, offset: String(record.offset) }, 'event dead-lettered');
    },
    onFinished: receipts ? (record, answer) => receipts.writer.add(toReceipt(record, answer, topics.canonical)) : undefined,
    onAuthFailure: (error, info) => {
      haltedSince ??= info.haltedSince;
      // Loud on purpose: every probe while halted is an error line someone's alert can match.
      log.error({ code: error.code, status: error.status, probes: info.probes, haltedForMs: Date.now() - info.haltedSince, alert: 'sink_halted' },
        'ALERT: Customer.io refuses the sink configuration; nothing is delivered or dead-lettered until it is fixed');
    },
    onAuthRecovered: (info) => {
      haltedSince = null;
      log.warn({ haltedForMs: info.haltedForMs }, 'Customer.io accepts the sink configuration again');
    },
    onPressure: (paused) => sinkConsumer.handlePressure(paused),
  });
  bucketRate = () => engine.bucket.currentRate();
  // One workspace limit across every instance of the group: each takes its partitions' share.
  const rateShare = new RateShare({ bucket: engine.bucket, workspaceRatePerSec: config.delivery.rateLimitPerSec, topicPartitions: canonicalPartitions, knownPartitions, logger: log });

  /** A canonical record that can never be decoded goes to sink.dlq rather than blocking its partition. */
  const onUndecodable = async (message: KafkaMessage, partition: number, error: unknown): Promise<boolean> => {
    // A registry outage is transient: rethrow, kafkajs retries the batch.
    if (!(error instanceof SerdeError) || error.retryable) return false;
    const key = message.key?.toString('utf8') ?? null;
    metrics.inFlightRequests.inc(); // a dead-letter write in flight, like the dispatcher's
    await writeDeadLetter(key, {
      dead_lettered_at: Date.now(),
      reason: 'undecodable' satisfies DeadLetterReasonCode,
      event_id: '',
      event_name: '',
      customer_key: key ?? '',
      status: null,
      error: `${error.code}: ${error.message}`,
      request_item: null,
      attempts: 0,
      first_attempt_at: null,
      source_topic: topics.canonical,
      source_partition: partition,
      source_offset: message.offset,
      original: message.value ?? Buffer.alloc(0),
    }).finally(() => metrics.inFlightRequests.dec());
    metrics.deadLettered.inc({ status: 'none', reason: 'undecodable' });
    log.warn({ partition, offset: message.offset, code: error.code }, 'undecodable canonical record dead-lettered');
    return true;
  };

  const newConsumer = (): Consumer => kafka.consumer({
    groupId: config.kafka.groupId,
    readUncommitted: false,
    maxWaitTimeInMs: 250,
    sessionTimeout: config.kafka.sessionTimeoutMs,
    heartbeatInterval: config.kafka.heartbeatIntervalMs,
    rebalanceTimeout: config.kafka.rebalanceTimeoutMs,
  });
  const sinkConsumer = new SinkConsumer({
    consumer: newConsumer(),
    recreate: newConsumer,
    restartDelayMs: Math.min(1_000, config.kafka.retryMaxMs),
    topic: topics.canonical,
    dispatcher: engine.dispatcher,
    decode: async (value) => (await canonicalSerde.decode(value)).value,
    onUndecodable,
    onAssignment: (partitions) => void rateShare.assigned(partitions),
    commitIntervalMs: config.delivery.commitIntervalMs,
    beforeCommit: receipts ? () => receipts.writer.flush() : undefined,
    logger: log,
    metrics,
  });

  let running = false;
  // Listening before the join, which waits out a killed predecessor's session: alive (/healthz)
  // at once, ready (/readyz) only once in the group.
  let ops: OpsServer | null = createOpsServer({ metrics: metrics.registry, ready: () => running && sinkConsumer.isJoined() && !halted() });
  const opsPort = await ops.listen(config.opsPort, config.opsHost);
  try {
    running = true;
    await sinkConsumer.start();
  } catch (err) {
    running = false;
    await ops.close().catch(() => undefined);
    throw err;
  }
  log.info({ opsPort, topic: topics.canonical, groupId: config.kafka.groupId, api: config.cio.api, trackUrl: config.cio.trackUrl }, 'sink started');

  let stopping: Promise<void> | undefined;
  return {
    metrics,
    opsPort,
    isHalted: halted,
    rateCeiling: () => engine.bucket.ceiling(),
    stop(drainTimeoutMs = config.drainTimeoutMs) {
      stopping ??= (async () => {
        const t0 = Date.now();
        await sinkConsumer.stop(drainTimeoutMs);
        await engine.close();
        await receipts?.close();
        await producer.close();
        await ops?.close();
        ops = null;
        log.info({ ms: Date.now() - t0, unfinished: engine.dispatcher.inFlightCount() }, 'sink stopped');
      })();
      return stopping;
    },
  };
}

/**
 * Receipts are encoded here, one DeliveryReceiptBatch per write, and produced from a worker thread
 * (receipt-worker.ts) with its own producer. One record per receipt cost KafkaJS about as much CPU
 * as delivering the event; per batch, the delivery thread pays a receipt's Avro encoding (~0.6 µs),
 * and the worker KafkaJS's ~25 ns per byte.
 */
async function startReceipts(config: Readonly<SinkConfig>, registry: ReturnType<typeof createRegistry>, log: Logger, metrics: SinkMetrics): Promise<{ writer: ReceiptWriter; close(): Promise<void> }> {
  const { topics } = config.kafka;
  const serde = new AvroSerde<DeliveryReceiptBatch>({ registry, registryUrl: config.registry.url, subject: valueSubject(topics.receipts), schema: loadAvroSchema('delivery-receipt-batch') });
  await withRetries(log, 'sink.receipt-batches schema', () =>
    config.registry.autoRegister ? serde.init({ register: true, compatibility: 'FULL_TRANSITIVE' }) : serde.init({ register: false }));
  const worker = await ReceiptWorkerClient.start({
    brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-receipts`, topic: topics.receipts,
    retryMaxMs: config.kafka.retryMaxMs, logLevel: config.logLevel,
  }, log);
  const { lingerMs, maxBatch } = config.receipts;
  const encoder = new ReceiptBatchEncoder(() => serde.schemaId);
  const writer = new ReceiptWriter({
    send: (receipts) => worker.send(encoder.encode(receipts)),
    lingerMs, maxBatch, retryMs: Math.min(1_000, config.kafka.retryMaxMs), logger: log, metrics,
  });
  return {
    writer,
    async close() {
      await writer.close().catch((err: unknown) => log.error({ err, unwritten: writer.buffered }, 'receipts not written at stop; their events are read again at the next start'));
      await worker.close();
    },
  };
}

/** A registry that is briefly unavailable at start-up should not cost a crash loop. */
async function withRetries<T>(log: Logger, what: string, fn: () => Promise<T>, attempts = 6): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !(err instanceof SerdeError) || !err.retryable) throw err;
      log.warn({ err, attempt }, `${what} unavailable; retrying`);
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
  }
}
