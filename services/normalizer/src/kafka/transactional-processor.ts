import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer, Transaction } from 'kafkajs';
import { PipelineError, type AvroSerde, type Logger } from '@cio-pipeline/core';
import type { AuditRecord, CanonicalEvent, QuarantineRecord } from '@cio-pipeline/core/generated/avro-types';
import type { NormalizerMetrics } from '../metrics.ts';
import { createPipeline, type Pipeline, type RecordResult } from '../stages/pipeline.ts';
import { inThreadRunner, type RecordRunner } from '../stages/record-workers.ts';
import type { StatelessPipeline } from '../stages/stateless.ts';
import type { ChangelogOffsets } from '../state/disk/disk-store.ts';
import type { StateStage } from '../state/state-stage.ts';
import type { ChangelogTables } from './changelog-tables.ts';
import { createOutputWriter, emptyOutputs, type OutputWriter, type Outputs } from './chunk-outputs.ts';
import type { RawDecoder } from './raw-decoder.ts';
import { sendSlices } from './send-slices.ts';

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
  /** Partitions whose batches KafkaJS hands over at once: their units of work overlap (one per partition). */
  partitionsConsumedConcurrently?: number;
  /**
   * Transactional producers per input partition (default 1): units of work of one partition in
   * flight at once. With two, a chunk is decided and sent while the one before it commits.
   */
  producersPerPartition?: number;
  sweepIntervalMs: number;
  /** How long a newly assigned partition waits for the state tail to read the changelogs' ends. */
  catchUpTimeoutMs: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /**
   * The processor cannot go on: KafkaJS gave up on the consumer (CRASH with restart=false: a
   * non-retriable error), or a local state write failed (the store refuses every later unit). The
   * service must end (exit non-zero, the supervisor restarts it; it resumes from the committed
   * offsets and restores what the disk lacks from the changelogs) rather than stay alive and stall.
   */
  onFatal?: (err: Error) => void;
  now?: () => number;
}

interface InputOffsets {
  topic: string;
  partition: number;
  offset: string;
}

/** Where one input partition's units of work are: each unit takes the next of its producers in turn. */
interface PartitionTurns {
  /** The producer the next unit takes. */
  next: number;
  /** Per producer, its last unit of work, settled: a producer has one transaction at a time. */
  producers: Array<Promise<unknown>>;
  /** The partition's last unit while it is in flight: the next one is decided after it. */
  last: UnitHandle | null;
}

/** What a unit's sends wait for, and tell the units after it. */
interface SendOrder {
  /** The partition's unit before this one: its offsets are appended before this one's. */
  before: UnitHandle | null;
  offsetsSent: Settleable;
  /** The unit applied before this one (any partition), its records sent: this one's go after them. */
  sentBefore: Promise<void>;
  markSent(): void;
}

/** A unit of work in flight. Each promise rejects when the unit failed before that point. */
interface UnitHandle {
  /** Its state changes applied: the partition's next unit may be decided on them. */
  applied: Promise<void>;
  /**
   * Its input offsets sent. Of two committed offset commits the broker keeps the one appended
   * last, so the partition's next unit sends its offsets only after these.
   */
  offsetsSent: Promise<void>;
  /** Committed, and its state changes kept. */
  done: Promise<void>;
}

interface Settleable {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

/** A promise settled from outside; a rejection nobody awaited is not an unhandled one. */
function settleable(): Settleable {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

function producerKey(partitionKey: string, index: number): string {
  return `${partitionKey}#${index}`;
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
 * conflicts) together with its input offsets in one Kafka transaction. Transactional producers
 * per input partition, their ids derived from the partition, because KafkaJS's sendOffsets carries
 * no group generation: a new owner of the partition fences the old one's producers instead, all
 * of them before its first unit of work. With two (`producersPerPartition`), a partition's units
 * take them in turn: one is decided and sent while the one before it commits, and the next
 * transaction on a producer no longer meets the broker still writing its last commit's markers.
 *
 * Each chunk, and each sweep, is one unit of work (`unitOfWork`): its state changes are kept only
 * once its transaction committed. Any failure from the first decode to the commit rolls the state
 * back to before the chunk and is rethrown, so KafkaJS re-delivers the chunk from the last
 * committed offset and it is decided afresh, never dropped as a duplicate of itself.
 *
 * Units of work of different partitions overlap: while one's transaction is on its way to the
 * broker, the next one (another partition, another producer) is decided on top of its state
 * changes. They form a chain in the order they were applied: each commits only after the one
 * before it committed, and when one fails, it and every later one abort and the state rolls back
 * to before it, so the state always equals the committed units applied in commit order.
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
  /** Serialises the start of units of work: catching up, other instances' changes, the apply. */
  private lock: Promise<unknown> = Promise.resolve();
  /** The last unit of work applied, settled (committed or rolled back): the next commits only after it. */
  private tail: Promise<void> = Promise.resolve();
  /**
   * The last unit of work applied, its records sent (or given up). The next sends only after it:
   * a key's changelog records and a person's events are appended in the order they were decided,
   * so a compacted changelog keeps the latest value and the sink sees a person's events in order.
   */
  private sendTail: Promise<void> = Promise.resolve();
  /**
   * State rollbacks so far. A rollback reverts every unit applied and not yet committed, so a unit
   * that sees a rollback after its own apply was reverted with it and must fail too.
   */
  private rollbacks = 0;
  /** A local state write failed: reported once (the units queued behind it fail with it). */
  private localWriteFailed = false;
  /** Per input partition with units of work in flight: the order they take, and their producers. */
  private readonly turns = new Map<string, PartitionTurns>();
  private readonly producersPerPartition: number;
  private running = false;
  /** In the group and consuming: false until the first join, and after a consumer crash until it rejoins. */
  private joined = false;

  constructor(options: ProcessorOptions) {
    this.o = options;
    this.log = options.logger.child({ component: 'processor' });
    this.now = options.now ?? Date.now;
    this.pipeline = createPipeline({ decoder: options.decoder, stateless: options.stateless, state: options.state, logger: options.logger });
    this.records = options.records ?? inThreadRunner(this.pipeline.runRecord);
    this.producersPerPartition = options.producersPerPartition ?? 1;
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
      for (const key of this.assigned) if (!next.has(key)) void this.closeProducers(key);
      const added = [...next].filter((key) => !this.assigned.has(key));
      if (added.length > 0) this.catchUpNeeded = true;
      // Each new partition's transactional producers start now, all at once: their InitProducerId
      // (hundreds of ms) would otherwise hold up that partition's first unit of work, one after another.
      // A failed start is forgotten by producerFor, and the first unit tries again.
      for (const key of added) {
        // Off the event handler (which must not throw), errors included.
        Promise.resolve().then(() => this.producersOf(key)).catch((err: Error) => this.log.warn({ err, partition: key }, 'transactional producer did not start; the first unit of work retries'));
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
    await this.tail;
    await Promise.all([...this.producers.keys()].map((k) => this.closeProducer(k)));
  }

  private async onBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    this.o.metrics.lag.set({ topic, partition: String(partition) }, Number(batch.offsetLag()));
    const chunks: KafkaMessage[][] = [];
    for (let i = 0; i < batch.messages.length; i += this.o.maxRecordsPerTransaction) chunks.push(batch.messages.slice(i, i + this.o.maxRecordsPerTransaction));
    // Steps 1-8 of every chunk start now, so the workers decode the next chunks (of this
    // partition, or of another one) while this thread runs units of work.
    const decoded = chunks.map((chunk) => this.records.run(topic, partition, chunk));
    // A chunk given up below is redelivered; its decoding's outcome no longer matters.
    for (const d of decoded) d.catch(() => undefined);
    // A chunk's unit starts once the one before it was decided, and is in flight beside it while
    // that one commits (with more than one producer per partition). Units settle in order, and a
    // unit fails when one before it failed: the offsets resolve in order, up to the first failure.
    const settled: Array<Promise<void>> = [];
    let failed = false;
    for (const [i, chunk] of chunks.entries()) {
      if (failed || !isRunning() || isStale()) break;
      const unit = this.processChunk(topic, partition, chunk, decoded[i]!);
      const resolved = unit.done.then(() => resolveOffset(chunk[chunk.length - 1]!.offset));
      resolved.catch(() => { failed = true; });
      settled.push(resolved);
      if (await unit.applied.then(() => false, () => true)) break;
      await heartbeat();
    }
    // Every unit of the batch settles before KafkaJS hears of a failure: the batch it re-delivers
    // must not meet units of this one still in flight.
    const failure = (await Promise.allSettled(settled)).find((o) => o.status === 'rejected');
    if (failure) throw failure.reason;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const next = this.lock.then(work, work);
    this.lock = next.catch(() => undefined);
    return next;
  }

  private processChunk(topic: string, partition: number, chunk: KafkaMessage[], decoded: Promise<RecordResult[]>): UnitHandle {
    const started = performance.now();
    const partitionKey = `${topic}:${partition}`;
    const last = chunk[chunk.length - 1]!;
    const offsets = { topic, partition, offset: (BigInt(last.offset) + 1n).toString() };
    let results: RecordResult[] = [];
    const unit = this.unitOfWork(partitionKey, offsets, async () => {
      try {
        results = await decoded;
      } catch (err) {
        // A decoding failure (registry down, a record worker crashed) fails the chunk before it changed any state.
        this.log.error({ err, partition: partitionKey }, 'unit of work failed before its state stage; its input will be re-delivered');
        throw new UnitOfWorkError(partitionKey, err);
      }
    }, (outputs) => {
      this.outputs.addChunk(outputs, this.pipeline.foldChunk(results, this.now()));
    });
    const done = unit.done.then(() => {
      this.o.metrics.latency.observe((performance.now() - started) / 1000);
      this.updateStateGauges();
    });
    return { ...unit, done };
  }

  /** Releases held events whose time has come. Run by the owner of the first raw partition only. */
  private async sweep(): Promise<void> {
    if (!this.running) return;
    const owner = `${this.o.topics.raw[0]}:0`;
    if (!this.assigned.has(owner)) return;
    await this.unitOfWork(owner, null, async () => undefined, (outputs) => {
      this.outputs.addState(outputs, this.pipeline.sweep(this.now()));
    }).done;
    this.updateStateGauges();
  }

  /**
   * One unit of work, apply-or-rollback by construction: `decide` reads and changes the state and
   * fills the outputs; they are written, with the input offsets, in one transaction; only once it
   * committed (after every unit applied before it) are the state's changes kept (state.commit) and
   * the outcome counted. A throw anywhere in between (stages, encode, producer creation, send,
   * sendOffsets, commit, or an earlier unit's failure) rolls the state back to where the last
   * committed unit left it.
   */
  private unitOfWork(partitionKey: string, offsets: InputOffsets | null, ready: () => Promise<void>, decide: (outputs: Outputs) => void): UnitHandle {
    // A partition's units take its producers in turn; a sweep on the first raw partition is one of them.
    let turns = this.turns.get(partitionKey);
    if (!turns) {
      turns = { next: 0, producers: Array.from({ length: this.producersPerPartition }, () => Promise.resolve()), last: null };
      this.turns.set(partitionKey, turns);
    }
    const producer = turns.next;
    turns.next = (producer + 1) % this.producersPerPartition;
    const before = turns.last;
    const unit = { applied: settleable(), offsetsSent: settleable(), done: Promise.resolve() };
    // Decided after the partition's unit before it (never when that one failed), on a producer
    // whose last transaction ended.
    unit.done = Promise.all([turns.producers[producer], before?.applied.catch((err: unknown) => {
      throw new UnitOfWorkError(partitionKey, new Error(`a unit of work of this partition before this one failed: ${(err as Error)?.message ?? String(err)}`));
    })])
      .then(ready)
      .then(() => this.runUnit(partitionKey, producer, offsets, decide, unit, before));
    const handle: UnitHandle = { applied: unit.applied.promise, offsetsSent: unit.offsetsSent.promise, done: unit.done };
    turns.last = handle;
    const settled = unit.done.then(() => undefined, (err: unknown) => {
      unit.applied.reject(err);
      unit.offsetsSent.reject(err);
    }).then(() => {
      // A failure stops only the units in flight with it: the re-delivered chunk starts afresh.
      if (turns.last === handle) turns.last = null;
    });
    turns.producers[producer] = settled;
    return handle;
  }

  private async runUnit(
    partitionKey: string, producer: number, offsets: InputOffsets | null, decide: (outputs: Outputs) => void,
    unit: { applied: Settleable; offsetsSent: Settleable }, before: UnitHandle | null,
  ): Promise<void> {
    const outputs = emptyOutputs();
    let settle!: () => void;
    let markSent!: () => void;
    // The apply and the unit's place in the chain are taken together, one unit at a time.
    const applied = await this.exclusive(async () => {
      await this.prepareState();
      const previous = this.tail;
      this.tail = new Promise<void>((resolve) => { settle = resolve; });
      const sentBefore = this.sendTail;
      this.sendTail = new Promise<void>((resolve) => { markSent = resolve; });
      const rollbacks = this.rollbacks;
      let decideError: unknown = null;
      try {
        decide(outputs);
      } catch (err) {
        decideError = err;
      }
      return { previous, rollbacks, decideError, sentBefore };
    });
    if (applied.decideError === null) unit.applied.resolve();
    try {
      await this.finishUnit(partitionKey, producer, outputs, offsets, applied, { before, offsetsSent: unit.offsetsSent, sentBefore: applied.sentBefore, markSent });
    } finally {
      markSent();
      settle();
    }
  }

  /** Writes the unit's transaction, commits it after the unit before it, then keeps or rolls back its state. */
  private async finishUnit(
    partitionKey: string, producer: number, outputs: Outputs, offsets: InputOffsets | null,
    applied: { previous: Promise<void>; rollbacks: number; decideError: unknown },
    order: SendOrder,
  ): Promise<void> {
    let failure: unknown = applied.decideError;
    let tx: Transaction | null = null;
    const nothing = outputs.canonical.length + outputs.quarantine.length + outputs.conflicts.length + outputs.audit.length + outputs.changelog.length === 0;
    // A sweep with nothing due writes nothing; a chunk always commits its input offsets.
    if (failure === null && (offsets !== null || !nothing)) {
      try {
        tx = await this.beginTransaction(partitionKey, producer, outputs, offsets, order);
      } catch (err) {
        failure = err;
      }
    } else {
      // Nothing goes out: the units after this one need not wait for it.
      order.markSent();
      if (failure === null) order.offsetsSent.resolve();
    }
    // Never before the unit before it settled: its changes are under this one's.
    await applied.previous;
    // Rolled back with an earlier unit that failed after this one was applied on its changes.
    const reverted = this.rollbacks !== applied.rollbacks;
    if (failure === null && reverted) failure = new Error('a unit of work applied before this one failed, and this one was decided on its state changes');
    // The partition's unit before this one failed (settled by now: it was applied earlier), perhaps
    // after this one was applied on the state its rollback left: its input must be decided again
    // first, so this one must not commit offsets past it.
    if (failure === null && order.before !== null && await order.before.done.then(() => false, () => true)) {
      failure = new Error('the unit of work before this one, of the same partition, failed');
    }
    if (failure === null && tx !== null) {
      try {
        await this.commitTransaction(partitionKey, producer, tx);
      } catch (err) {
        failure = err;
      }
    } else if (tx !== null) {
      await this.abortTransaction(partitionKey, producer, tx);
    }
    if (failure !== null) {
      if (!reverted) {
        // This unit is the oldest open one: the rollback takes it and every later one (they fail
        // too). Counted first, so they see it even if the rollback throws.
        this.rollbacks++;
        try {
          this.o.state.rollback();
        } catch (err) {
          // Only a local store that refuses use (a write failed) gets here: the service is ending
          // (or ends now), and a restart restores the state from the changelogs.
          this.log.error({ err, partition: partitionKey }, 'state rollback failed; the state cannot be trusted until a restart restores it');
          if (!this.localWriteFailed) {
            this.localWriteFailed = true;
            this.o.onFatal?.(err as Error);
          }
        }
      }
      this.log.error({ err: failure, partition: partitionKey }, 'unit of work failed; state rolled back, its input will be re-delivered');
      throw new UnitOfWorkError(partitionKey, failure);
    }
    // A local store takes the unit's changes out of a rollback's reach now, with the changelog
    // positions as they stand before any later unit commits, and writes them in commit order
    // behind the units before it: it may lag Kafka, never lead it. The next unit does not wait for
    // the disk. A failed write makes the store refuse every later unit before its transaction,
    // so it ends the service: a restart reads what the disk lacks from the changelogs.
    const written = this.o.state.commit(this.positionsOnDisk());
    written?.catch((err: unknown) => {
      // The layers queued behind a failed write fail with it: one report, one stop (a second
      // onFatal during the stop would cut the stop short).
      if (this.localWriteFailed) return;
      this.localWriteFailed = true;
      this.log.error({ err, partition: partitionKey }, 'local state write failed; the store refuses further use until a restart restores it from the changelogs');
      this.o.onFatal?.(err as Error);
    });
    for (const effect of outputs.afterCommit) effect();
  }

  /**
   * Before a unit is applied: when partitions were newly assigned, the state tail must catch up;
   * links and keys other instances learned go in. Both only with no unit in flight: a rollback would
   * undo them. They are committed on their own (a local store records them with the changelog
   * positions read), so a unit that fails and rolls back does not take them with it.
   */
  private async prepareState(): Promise<void> {
    if (!this.catchUpNeeded && this.o.tables.remotePending === 0) return;
    // Under the lock no unit joins the chain, and the last one settles after every earlier one.
    await this.tail;
    if (this.catchUpNeeded) {
      // Our partitions' last owners' open transactions are aborted first: the catch-up waits for
      // every transaction open when it starts (see waitCaughtUp). Either failure fails the chunk
      // (re-delivered) rather than deciding on state another instance has not finished handing over.
      await Promise.all([...this.assigned].map((key) => this.producersOf(key)));
      await this.o.tables.waitCaughtUp(this.o.catchUpTimeoutMs);
      this.catchUpNeeded = false;
    }
    const positions = this.o.tables.handledPositions();
    const remote = this.o.tables.drainRemote();
    if (remote.length > 0) this.o.state.restore(remote);
    await this.o.state.commit(positions);
  }

  /**
   * The changelog positions a unit's commit may record on disk: every record read so far is on disk
   * once it is (own records of units committed before or with it, other instances' records applied
   * by prepareState), unless other instances' records wait to be applied.
   */
  private positionsOnDisk(): ChangelogOffsets | undefined {
    return this.o.tables.remotePending === 0 ? this.o.tables.handledPositions() : undefined;
  }

  /** Sends a unit's outputs and input offsets in a transaction of one of the partition's producers, left open. */
  private async beginTransaction(
    partitionKey: string, producer: number, outputs: Outputs, offsets: InputOffsets | null,
    order: SendOrder,
  ): Promise<Transaction> {
    const topicMessages = [
      { topic: this.o.topics.canonical, messages: outputs.canonical },
      { topic: this.o.topics.quarantine, messages: outputs.quarantine },
      { topic: this.o.topics.conflicts, messages: outputs.conflicts },
      { topic: this.o.topics.audit, messages: outputs.audit },
      ...outputs.changelog,
    ].filter((t) => t.messages.length > 0);
    let tx: Transaction | undefined;
    try {
      // Every producer of the partition has fenced its predecessor before the first transaction.
      const producers = await this.producersOf(partitionKey);
      tx = await producers[producer]!.transaction();
      // In the order the units were decided (see sendTail), and in slices: KafkaJS sends one record
      // batch per partition, and the broker refuses one over 1 MB.
      await order.sentBefore;
      for (const slice of sendSlices(topicMessages)) await tx.sendBatch({ topicMessages: slice, acks: -1 });
      order.markSent();
      // Appended after the offsets of the partition's unit before this one (the broker keeps the last appended).
      await order.before?.offsetsSent;
      if (offsets) {
        await tx.sendOffsets({ consumerGroupId: this.o.groupId, topics: [{ topic: offsets.topic, partitions: [{ partition: offsets.partition, offset: offsets.offset }] }] });
      }
      order.offsetsSent.resolve();
      return tx;
    } catch (err) {
      order.markSent();
      await this.failTransaction(partitionKey, producer, tx);
      throw err;
    }
  }

  private async commitTransaction(partitionKey: string, producer: number, tx: Transaction): Promise<void> {
    try {
      await tx.commit();
      this.o.metrics.transactions.inc({ outcome: 'committed' });
    } catch (err) {
      await this.failTransaction(partitionKey, producer, tx);
      throw err;
    }
  }

  /** An earlier unit failed: this one's transaction is aborted; its producer stays, unless the abort fails. */
  private async abortTransaction(partitionKey: string, producer: number, tx: Transaction): Promise<void> {
    this.o.metrics.transactions.inc({ outcome: 'aborted' });
    await tx.abort().catch(() => this.closeProducer(producerKey(partitionKey, producer)));
  }

  private async failTransaction(partitionKey: string, producer: number, tx: Transaction | undefined): Promise<void> {
    this.o.metrics.transactions.inc({ outcome: 'aborted' });
    if (tx?.isActive()) await tx.abort().catch(() => undefined);
    // A fenced or broken producer cannot be reused: the next attempt starts a new one.
    await this.closeProducer(producerKey(partitionKey, producer));
  }

  /** The partition's transactional producers, every one started and fenced (see `fence`). */
  private producersOf(partitionKey: string): Promise<Producer[]> {
    return Promise.all(Array.from({ length: this.producersPerPartition }, (_, i) => this.producerFor(partitionKey, i)));
  }

  private producerFor(partitionKey: string, index: number): Promise<Producer> {
    const key = producerKey(partitionKey, index);
    let producer = this.producers.get(key);
    if (!producer) {
      const created = this.o.kafka.producer({
        // The first keeps the one-producer layout's id, so going from one to two fences the old
        // producer. Going back down leaves the second id unfenced: do that with the group stopped.
        transactionalId: index === 0 ? `${this.o.groupId}-${partitionKey}` : `${this.o.groupId}-${partitionKey}.${index}`,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: 60_000,
        // The next transaction's AddPartitionsToTxn often meets the broker still writing the last
        // commit's markers (CONCURRENT_TRANSACTIONS); the Java client retries that after 20 ms,
        // KafkaJS after the client's 100 ms. Only the send path uses this retry (docs/benchmarks.md).
        retry: { initialRetryTime: 20 },
      });
      producer = created.connect().then(() => fence(created)).catch(async (err: unknown) => {
        // Half started: its connections must not outlive it (the next unit starts a new one).
        await created.disconnect().catch(() => undefined);
        throw err;
      });
      producer.catch(() => this.producers.delete(key));
      this.producers.set(key, producer);
    }
    return producer;
  }

  /** A revoked partition's producers. */
  private async closeProducers(partitionKey: string): Promise<void> {
    await Promise.all(Array.from({ length: this.producersPerPartition }, (_, i) => this.closeProducer(producerKey(partitionKey, i))));
  }

  private async closeProducer(key: string): Promise<void> {
    const producer = this.producers.get(key);
    this.producers.delete(key);
    if (producer) await producer.then((p) => p.disconnect()).catch(() => undefined);
  }

  private updateStateGauges(): void {
    const stats = this.o.state.stats();
    this.o.metrics.held.set(stats.heldEvents);
    this.o.metrics.identityNodes.set(stats.identityNodes);
  }
}

/**
 * Claims the producer's transactional id: KafkaJS's connect() asks only for an idempotent producer
 * id, and the id's last owner is fenced (its open transaction aborted, the abort's markers
 * written) only when the first transaction begins. An empty transaction begun and aborted does
 * that without a record, and without an EndTxn.
 */
async function fence(producer: Producer): Promise<Producer> {
  const tx = await producer.transaction();
  await tx.abort();
  return producer;
}
