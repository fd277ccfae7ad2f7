import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { PipelineError, type AvroSerde, type Logger } from '@cio-pipeline/core';
import type { AuditRecord, CanonicalEvent, QuarantineRecord } from '@cio-pipeline/core/generated/avro-types';
import type { NormalizerMetrics } from '../metrics.ts';
import { createPipeline, type Pipeline, type RecordResult } from '../stages/pipeline.ts';
import { inThreadRunner, type RecordRunner } from '../stages/record-workers.ts';
import type { StatelessPipeline } from '../stages/stateless.ts';
import type { StateStage } from '../state/state-stage.ts';
import type { ChangelogTables } from './changelog-tables.ts';
import { createOutputWriter, emptyOutputs, type OutputWriter, type Outputs } from './chunk-outputs.ts';
import type { RawDecoder } from './raw-decoder.ts';
import { MAX_SEND_BYTES, sendSlices } from './send-slices.ts';

export interface ProcessorTopics {
  raw: string[];
  canonical: string;
  quarantine: string;
  conflicts: string;
  audit: string;
}

export interface ProcessorOptions {
  kafka: Kafka;
  groupId: string;
  topics: ProcessorTopics;
  decoder: RawDecoder;
  stateless: StatelessPipeline;
  state: StateStage;
  tables: ChangelogTables;
  canonicalSerde: AvroSerde<CanonicalEvent>;
  quarantineSerde: AvroSerde<QuarantineRecord>;
  /** Null: no audit records (NORMALIZER_AUDIT=off). */
  auditSerde: AvroSerde<AuditRecord> | null;
  auditPartitions?: number;
  metrics: NormalizerMetrics;
  logger: Logger;
  trackingVersion: string;
  maxRecordsPerTransaction: number;
  /** Steps 1-8 of a chunk's records on worker threads (stages/record-workers.ts); none: in this thread. */
  records?: RecordRunner;
  /** Partitions whose batches KafkaJS hands over at once: their decoding overlaps, units stay serial. */
  partitionsConsumedConcurrently?: number;
  sweepIntervalMs: number;
  /** How long a newly assigned partition waits for the state tail to read the changelogs' ends. */
  catchUpTimeoutMs: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /**
   * KafkaJS gave up on the consumer (CRASH with restart=false: a non-retriable error). It will not
   * consume again, so the service must end (exit non-zero, the supervisor restarts it and it
   * resumes from the committed offsets) rather than stay alive and never ready.
   */
  onFatal?: (err: Error) => void;
  now?: () => number;
}

interface InputOffsets {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * A chunk or sweep failed and the state was rolled back. `retriable` is KafkaJS's word: its runner
 * then re-fetches and re-delivers the input. Without it, a non-retriable cause (a fenced producer,
 * a transaction the broker expired) would stop the consumer for good instead of retrying.
 */
export class UnitOfWorkError extends PipelineError {
  readonly retriable = true;
  constructor(partitionKey: string, cause: unknown) {
    super('UNIT_OF_WORK_FAILED', `unit of work on ${partitionKey} failed, state rolled back: ${(cause as Error)?.message ?? String(cause)}`, { retryable: true, cause });
  }
}

/**
 * Exactly once from raw topics to events.canonical: each chunk of an input partition is read,
 * run through the stages, and written (canonical and quarantine records, state changelogs,
 * conflicts) together with its input offsets in one Kafka transaction. One transactional producer
 * per input partition, its id derived from the partition, because KafkaJS's sendOffsets carries no
 * group generation: a new owner of the partition fences the old one's producer instead.
 *
 * Each chunk, and each sweep, is one unit of work (`unitOfWork`): its state changes are kept only
 * once its transaction committed. Any failure from the first decode to the commit rolls the state
 * back to before the chunk and is rethrown, so KafkaJS re-delivers the chunk from the last
 * committed offset and it is decided afresh, never dropped as a duplicate of itself.
 */
export class TransactionalProcessor {
  private readonly o: ProcessorOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly pipeline: Pipeline;
  private readonly records: RecordRunner;
  private readonly outputs: OutputWriter;
  private readonly producers = new Map<string, Promise<Producer>>();
  private consumer: Consumer | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private assigned = new Set<string>();
  /** Set when partitions were newly assigned: the state tail must catch up before deciding. */
  private catchUpNeeded = false;
  /** Serialises chunks and sweeps: the state stages are one in-memory unit of work at a time. */
  private lock: Promise<unknown> = Promise.resolve();
  private running = false;
  /** In the group and consuming: false until the first join, and after a consumer crash until it rejoins. */
  private joined = false;

  constructor(options: ProcessorOptions) {
    this.o = options;
    this.log = options.logger.child({ component: 'processor' });
    this.now = options.now ?? Date.now;
    this.pipeline = createPipeline({ decoder: options.decoder, stateless: options.stateless, state: options.state, logger: options.logger });
    this.records = options.records ?? inThreadRunner(this.pipeline.runRecord);
    this.outputs = createOutputWriter({
      canonicalSerde: options.canonicalSerde, quarantineSerde: options.quarantineSerde, auditSerde: options.auditSerde, auditPartitions: options.auditPartitions, tables: options.tables,
      metrics: options.metrics, logger: options.logger, trackingVersion: options.trackingVersion, now: this.now,
    });
  }

  async start(): Promise<void> {
    const consumer = this.o.kafka.consumer({
      groupId: this.o.groupId,
      readUncommitted: false,
      maxBytesPerPartition: 2 * 1024 * 1024,
      sessionTimeout: this.o.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: this.o.heartbeatIntervalMs ?? 1_000,
      rebalanceTimeout: this.o.rebalanceTimeoutMs ?? 30_000,
      // A fetch long-polls this long when idle; shutdown waits for it, so keep it short.
      maxWaitTimeInMs: 500,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assignment = e.payload.memberAssignment as Record<string, number[]>;
      const next = new Set<string>();
      for (const [topic, partitions] of Object.entries(assignment)) for (const p of partitions) next.add(`${topic}:${p}`);
      for (const key of this.assigned) if (!next.has(key)) void this.closeProducer(key);
      const added = [...next].filter((key) => !this.assigned.has(key));
      if (added.length > 0) this.catchUpNeeded = true;
      // Each new partition's transactional producer starts now, all at once: its InitProducerId
      // (hundreds of ms) would otherwise hold up that partition's first unit of work, one after another.
      // A failed start is forgotten by producerFor, and the first unit tries again.
      for (const key of added) {
        // Off the event handler (which must not throw), errors included.
        Promise.resolve().then(() => this.producerFor(key)).catch((err: Error) => this.log.warn({ err, partition: key }, 'transactional producer did not start; the first unit of work retries'));
      }
      this.assigned = next;
      this.joined = true;
      this.log.info({ assignment }, 'partitions assigned');
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.joined = false;
      this.log.error({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed');
      // restart=true: KafkaJS restarts the runner itself and GROUP_JOIN marks it ready again.
      if (!e.payload.restart && this.running) this.o.onFatal?.(e.payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.o.topics.raw, fromBeginning: true });
    this.running = true;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.o.partitionsConsumedConcurrently ?? 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.sweepTimer = setInterval(() => void this.sweep().catch((err: Error) => this.log.error({ err }, 'sweep failed')), this.o.sweepIntervalMs);
    this.sweepTimer.unref();
  }

  /** For /readyz: consuming, not stopped or crashed. */
  isReady(): boolean {
    return this.running && this.joined;
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.consumer?.disconnect().catch(() => undefined);
    await this.lock.catch(() => undefined);
    await Promise.all([...this.producers.keys()].map((k) => this.closeProducer(k)));
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    this.o.metrics.lag.set({ topic, partition: String(partition) }, Number(batch.offsetLag()));
    const chunks: KafkaMessage[][] = [];
    for (let i = 0; i < batch.messages.length; i += this.o.maxRecordsPerTransaction) chunks.push(batch.messages.slice(i, i + this.o.maxRecordsPerTransaction));
    // Steps 1-8 of every chunk start now, so the workers decode the next chunks (of this
    // partition, or of another one waiting for the lock) while this thread runs a unit of work.
    const decoded = chunks.map((chunk) => this.records.run(topic, partition, chunk));
    // A chunk given up below is redelivered; its decoding's outcome no longer matters.
    for (const d of decoded) d.catch(() => undefined);
    for (const [i, chunk] of chunks.entries()) {
      if (!isRunning() || isStale()) return;
      await this.exclusive(() => this.processChunk(topic, partition, chunk, decoded[i]!));
      resolveOffset(chunk[chunk.length - 1]!.offset);
      await heartbeat();
    }
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const next = this.lock.then(work, work);
    this.lock = next.catch(() => undefined);
    return next;
  }

  private async processChunk(topic: string, partition: number, chunk: KafkaMessage[], decoded: Promise<RecordResult[]>): Promise<void> {
    const started = performance.now();
    if (this.catchUpNeeded) {
      // Fails the chunk (re-delivered) rather than deciding on state another instance has not
      // finished handing over.
      await this.o.tables.waitCaughtUp(this.o.catchUpTimeoutMs);
      this.catchUpNeeded = false;
    }
    await this.applyRemoteChanges();
    const last = chunk[chunk.length - 1]!;
    const offsets = { topic, partition, offset: (BigInt(last.offset) + 1n).toString() };
    await this.unitOfWork(`${topic}:${partition}`, offsets, async (outputs) => {
      // A decoding failure (registry down, a record worker crashed) fails the unit like any other step.
      this.outputs.addChunk(outputs, this.pipeline.foldChunk(await decoded, this.now()));
    });
    this.o.metrics.latency.observe((performance.now() - started) / 1000);
    this.updateStateGauges();
  }

  /** Releases held events whose time has come. Run by the owner of the first raw partition only. */
  private async sweep(): Promise<void> {
    if (!this.running) return;
    const owner = `${this.o.topics.raw[0]}:0`;
    if (!this.assigned.has(owner)) return;
    await this.exclusive(async () => {
      await this.applyRemoteChanges();
      await this.unitOfWork(owner, null, async (outputs) => {
        this.outputs.addState(outputs, this.pipeline.sweep(this.now()));
      });
      this.updateStateGauges();
    });
  }

  /**
   * One unit of work, apply-or-rollback by construction: `decide` reads and changes the state and
   * fills the outputs; they are written, with the input offsets, in one transaction; only once it
   * committed are the state's changes kept (state.commit) and the outcome counted. A throw anywhere
   * in between (decode, stages, encode, producer creation, send, sendOffsets, commit) rolls the
   * state back to where the last committed unit left it.
   */
  private async unitOfWork(partitionKey: string, offsets: InputOffsets | null, decide: (outputs: Outputs) => Promise<void>): Promise<void> {
    const outputs = emptyOutputs();
    try {
      await decide(outputs);
      const nothing = outputs.canonical.length + outputs.quarantine.length + outputs.conflicts.length + outputs.audit.length + outputs.changelog.length === 0;
      // A sweep with nothing due writes nothing; a chunk always commits its input offsets.
      if (offsets !== null || !nothing) await this.writeTransaction(partitionKey, outputs, offsets);
    } catch (err) {
      this.o.state.rollback();
      this.log.error({ err, partition: partitionKey }, 'unit of work failed; state rolled back, its input will be re-delivered');
      throw new UnitOfWorkError(partitionKey, err);
    }
    // A local store writes the unit's changes to disk only now: it may lag Kafka, never lead it.
    await this.o.state.commit();
    for (const effect of outputs.afterCommit) effect();
  }

  /**
   * Links and keys other instances learned since the last unit of work. They are committed on their
   * own (a local store records them with the changelog positions read), so a unit that fails and
   * rolls back does not take them with it.
   */
  private async applyRemoteChanges(): Promise<void> {
    const positions = this.o.tables.handledPositions();
    const remote = this.o.tables.drainRemote();
    if (remote.length > 0) this.o.state.restore(remote);
    await this.o.state.commit(positions);
  }

  /** Writes a unit's outputs and input offsets in one transaction of the partition's producer. */
  private async writeTransaction(partitionKey: string, outputs: Outputs, offsets: InputOffsets | null): Promise<void> {
    const topicMessages = [
      { topic: this.o.topics.canonical, messages: outputs.canonical },
      { topic: this.o.topics.quarantine, messages: outputs.quarantine },
      { topic: this.o.topics.conflicts, messages: outputs.conflicts },
      { topic: this.o.topics.audit, messages: outputs.audit },
      ...outputs.changelog,
    ].filter((t) => t.messages.length > 0);
    let tx;
    try {
      const producer = await this.producerFor(partitionKey);
      tx = await producer.transaction();
      // In slices: KafkaJS sends one record batch per partition, and the broker refuses one over 1 MB.
      for (const slice of sendSlices(topicMessages, MAX_SEND_BYTES)) await tx.sendBatch({ topicMessages: slice, acks: -1 });
      if (offsets) {
        await tx.sendOffsets({ consumerGroupId: this.o.groupId, topics: [{ topic: offsets.topic, partitions: [{ partition: offsets.partition, offset: offsets.offset }] }] });
      }
      await tx.commit();
      this.o.metrics.transactions.inc({ outcome: 'committed' });
    } catch (err) {
      this.o.metrics.transactions.inc({ outcome: 'aborted' });
      if (tx?.isActive()) await tx.abort().catch(() => undefined);
      // A fenced or broken producer cannot be reused: the next attempt starts a new one.
      await this.closeProducer(partitionKey);
      throw err;
    }
  }

  private producerFor(partitionKey: string): Promise<Producer> {
    let producer = this.producers.get(partitionKey);
    if (!producer) {
      const created = this.o.kafka.producer({
        transactionalId: `${this.o.groupId}-${partitionKey}`,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: 60_000,
        // The next transaction's AddPartitionsToTxn often meets the broker still writing the last
        // commit's markers (CONCURRENT_TRANSACTIONS); the Java client retries that after 20 ms,
        // KafkaJS after the client's 100 ms. Only the send path uses this retry (docs/benchmarks.md).
        retry: { initialRetryTime: 20 },
      });
      producer = created.connect().then(() => created);
      producer.catch(() => this.producers.delete(partitionKey));
      this.producers.set(partitionKey, producer);
    }
    return producer;
  }

  private async closeProducer(partitionKey: string): Promise<void> {
    const producer = this.producers.get(partitionKey);
    this.producers.delete(partitionKey);
    if (producer) await producer.then((p) => p.disconnect()).catch(() => undefined);
  }

  private updateStateGauges(): void {
    const stats = this.o.state.stats();
    this.o.metrics.held.set(stats.heldEvents);
    this.o.metrics.identityNodes.set(stats.identityNodes);
  }
}
