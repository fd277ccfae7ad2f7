/**
 * The long-lived reader behind the trace index: pipeline.audit, sink.receipt-batches and, where older
 * sinks left it, sink.receipts (one receipt per record), read_committed,
 * each batch decoded and written to the index together with the offsets after it. Offsets live in
 * the index, not in Kafka: the consumer group only spreads partitions (each monitor has its own
 * group and reads every partition into its own index), and a restart seeks each partition to the
 * offset the index holds, so only the tail is read again.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, EachBatchPayload } from 'kafkajs';
import {
  AvroSerde, PipelineError, ensureTopics, loadAvroSchema, seekOnEveryJoin, valueSubject,
  type Kafka, type Logger, type createRegistry,
} from '@cio-pipeline/core';
import type { AuditRecord, DeliveryReceipt, DeliveryReceiptBatch } from '@cio-pipeline/core/generated/avro-types';
import type { IndexedRecord } from './indexed-record.ts';
import type { TraceIndex } from './trace-index.ts';

export interface TraceIndexerOptions {
  kafka: Kafka;
  registry: ReturnType<typeof createRegistry>;
  registryUrl: string;
  topics: { audit: string; receipts: string; legacyReceipts: string };
  index: TraceIndex;
  /** retention.ms of audit and receipts if the indexer is the first to create them (as the sink would). */
  retentionMs: number;
  groupId?: string;
  logger: Logger;
  /** Records written to the index: a batch of receipts counts each receipt. */
  onIndexed?: (topic: string, records: number) => void;
  /** Records fetched that the index already held (before a seek took effect). */
  onReread?: (topic: string, records: number) => void;
  onSkipped?: (topic: string, code: string) => void;
  onFatal?: (err: unknown) => void;
}

export class TraceIndexer {
  private readonly o: TraceIndexerOptions;
  private readonly audit: AvroSerde<AuditRecord>;
  private readonly receipts: AvroSerde<DeliveryReceiptBatch>;
  private readonly legacyReceipts: AvroSerde<DeliveryReceipt>;
  /** Next offset per topic and partition, as stored in the index. */
  private readonly next = new Map<string, Map<number, bigint>>();
  private consumer: Consumer | null = null;
  private joined = false;
  private crashed = false;
  indexed = 0;

  constructor(opts: TraceIndexerOptions) {
    this.o = opts;
    const common = { registry: opts.registry, registryUrl: opts.registryUrl };
    this.audit = new AvroSerde({ ...common, subject: valueSubject(opts.topics.audit), schema: loadAvroSchema('audit-record') });
    this.receipts = new AvroSerde({ ...common, subject: valueSubject(opts.topics.receipts), schema: loadAvroSchema('delivery-receipt-batch') });
    this.legacyReceipts = new AvroSerde({ ...common, subject: valueSubject(opts.topics.legacyReceipts), schema: loadAvroSchema('delivery-receipt') });
  }

  ready(): boolean {
    return this.joined && !this.crashed;
  }

  async start(): Promise<void> {
    const { kafka, topics, index, logger } = this.o;
    const inputs = [topics.audit, topics.receipts];
    const admin = kafka.admin();
    await admin.connect();
    try {
      // Time retention, as the normalizer and the sink create them: whoever starts first.
      const config = { 'cleanup.policy': 'delete', 'retention.ms': String(this.o.retentionMs) };
      await ensureTopics(admin, inputs.map((topic) => ({ topic, config })));
      // No sink writes the legacy topic any more: read it if older sinks left one, but do not
      // create it, or every new install would get an empty topic nobody writes. (A sink rolled
      // back to an old version would create it; the monitor reads it from its next start.)
      if ((await admin.listTopics()).includes(topics.legacyReceipts)) inputs.push(topics.legacyReceipts);
    } finally {
      await admin.disconnect();
    }
    for (const topic of inputs) {
      const stored = await index.offsets(topic);
      this.next.set(topic, new Map([...stored].map(([p, o]) => [p, BigInt(o)])));
    }
    const consumer = kafka.consumer({ groupId: this.o.groupId ?? `cio-monitor-trace-${randomUUID().slice(0, 8)}`, readUncommitted: false, maxWaitTimeInMs: 500 });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.joined = true;
      this.crashed = false;
    });
    // Resume where the index stops (seek only moves the fetch position: autoCommit is off).
    seekOnEveryJoin(consumer, (topic, partition) => this.next.get(topic)?.get(partition));
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      logger.error({ err: payload.error, restart: payload.restart }, 'trace indexer consumer crashed');
      if (!payload.restart) {
        this.crashed = true;
        this.o.onFatal?.(payload.error);
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topics: inputs, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (payload) => this.eachBatch(payload) });
    logger.info({ topics: inputs, resumed: Object.fromEntries([...this.next].map(([t, m]) => [t, Object.fromEntries(m)])) }, 'trace indexer started');
  }

  async stop(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = null;
    this.joined = false;
    if (consumer) await consumer.disconnect();
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const from = this.next.get(topic)?.get(partition) ?? 0n;
    const records: IndexedRecord[] = [];
    let last: string | undefined;
    let reread = 0;
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break;
      last = message.offset;
      // Fetched before the seek took effect: already in the index.
      if (BigInt(message.offset) < from) {
        reread++;
        continue;
      }
      if (message.value === null) continue;
      records.push(...(await this.decode(topic, partition, message.offset, message.value)));
    }
    if (reread > 0) this.o.onReread?.(topic, reread);
    if (last === undefined) return;
    const nextOffset = BigInt(last) + 1n;
    if (nextOffset > from) {
      await this.o.index.add(records, [{ topic, partition, offset: nextOffset.toString() }]);
      let m = this.next.get(topic);
      if (!m) this.next.set(topic, (m = new Map()));
      m.set(partition, nextOffset);
      this.indexed += records.length;
      this.o.onIndexed?.(topic, records.length);
    }
    resolveOffset(last);
    await heartbeat();
  }

  /** A batch gives a record per receipt, all at the batch's offset: receipts are stored by event id and outcome. */
  private async decode(topic: string, partition: number, offset: string, value: Buffer): Promise<IndexedRecord[]> {
    const origin = { partition, offset };
    try {
      if (topic === this.o.topics.audit) return [{ kind: 'audit', origin, audit: (await this.audit.decode(value)).value }];
      if (topic === this.o.topics.legacyReceipts) return [{ kind: 'receipt', origin, receipt: (await this.legacyReceipts.decode(value)).value }];
      const { receipts } = (await this.receipts.decode(value)).value;
      return receipts.map((receipt) => ({ kind: 'receipt', origin, receipt }));
    } catch (err) {
      // The registry being away is worth waiting for (KafkaJS retries the batch); a record that
      // can never be decoded is skipped and counted, so it cannot stall the index.
      if (!(err instanceof PipelineError) || err.retryable) throw err;
      this.o.onSkipped?.(topic, err.code);
      this.o.logger.warn({ topic, partition, offset, code: err.code }, 'trace index: record skipped, cannot decode');
      return [];
    }
  }
}
