// ConfigResourceTypes is not among the names Node finds in KafkaJS's CommonJS exports: read it off the default export.
import kafkajs, { CompressionTypes, Partitioners, type Admin, type Producer, type TopicMessages } from 'kafkajs';
import {
  AvroSerde,
  createKafka,
  createRegistry,
  ensureTopics,
  loadAvroSchema,
  RAW_RECORD_OVERHEAD_BYTES,
  rawTopicConfig,
  rawTopics,
  topicNames,
  valueSubject,
  type Kafka,
  type Logger,
  type RawEnvelope,
} from '@cio-pipeline/core';
import type { IngestConfig } from './config.ts';
import { KafkaUnavailableError, RecordEncodingError } from './errors.ts';
import { GroupCommitQueue } from './group-commit-queue.ts';
import type { RawRecord, RawWriter } from './raw-writer.ts';
import { RawRecordCheck } from './record-check.ts';

export interface KafkaRawWriterOptions {
  brokers: readonly string[];
  clientId: string;
  schemaRegistryUrl: string;
  topicPrefix: string;
  compression: 'snappy' | 'gzip' | 'none';
  /** A write not acknowledged by then fails with KafkaUnavailableError. */
  timeoutMs: number;
  /** Register the raw schemas (BACKWARD_TRANSITIVE) instead of only looking them up. */
  autoRegisterSchemas: boolean;
  /** Create the raw topics when missing. */
  createTopics: boolean;
  /** Largest single record ingest may write; raw topics it creates accept at least this much. */
  maxRecordBytes: number;
  logger: Logger;
}

export function kafkaRawWriterOptions(config: IngestConfig, logger: Logger): KafkaRawWriterOptions {
  return {
    brokers: config.kafkaBrokers,
    clientId: config.kafkaClientId,
    schemaRegistryUrl: config.schemaRegistryUrl,
    topicPrefix: config.topicPrefix,
    compression: config.kafkaCompression,
    timeoutMs: config.kafkaTimeoutMs,
    autoRegisterSchemas: config.autoRegisterSchemas,
    createTopics: config.createTopics,
    maxRecordBytes: Math.max(config.maxWebhookBytes, config.maxBatchBytes, config.maxCallBytes),
    logger,
  };
}

/** Uncompressed bytes merged into one produce request (the broker's default record-batch cap is 1 MiB). */
const MAX_COALESCED_BYTES = 1024 * 1024;
const READY_TIMEOUT_MS = 1500;

interface EncodedRecord {
  topic: string;
  key: string | null;
  value: Buffer;
}

/**
 * Raw records onto Kafka: Avro in the registry wire format, one idempotent KafkaJS producer, acks=all.
 *
 * KafkaJS serialises an idempotent producer's requests per broker (one in flight, so sequence numbers
 * stay in order), which would make every HTTP request wait for the previous one's round trip.
 * Instead, writes that arrive while a request is in flight are queued and sent together as the next
 * request (group commit, `GroupCommitQueue`): one request in flight, in arrival order, so the order
 * per partition is the order of `write` calls, and each write still resolves only on the broker's
 * acknowledgement.
 *
 * Failure: a write answers within `timeoutMs` either way. A queued write that times out is dropped
 * before it is sent; a sent one may still land after its caller got 503 (the source's retry is then
 * a duplicate, which downstream dedupe removes). Client retries are bounded below the timeout so a
 * request abandoned during an outage does not land much later.
 */
export class KafkaRawWriter implements RawWriter {
  private readonly opts: KafkaRawWriterOptions;
  private readonly log: Logger;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly serdes = new Map<string, AvroSerde<RawEnvelope>>();
  private readonly check: RawRecordCheck;
  private readonly compression: CompressionTypes;
  private readonly queue: GroupCommitQueue<RawRecord[], EncodedRecord>;
  private producerConnected = false;
  private adminConnected = false;
  /** Set after a failed send or check: the next use reconnects from scratch. */
  private producerStale = false;
  private adminStale = false;
  private prepared: Promise<void> | null = null;
  private readyCheck: Promise<boolean> | null = null;

  constructor(opts: KafkaRawWriterOptions) {
    this.opts = opts;
    this.log = opts.logger.child({ component: 'kafka-raw-writer' });
    const retry = { retries: 3, initialRetryTime: 100, maxRetryTime: Math.max(200, Math.floor(opts.timeoutMs / 8)) };
    this.kafka = createKafka({
      brokers: opts.brokers,
      clientId: opts.clientId,
      logger: opts.logger,
      connectionTimeout: Math.min(1000, Math.max(100, Math.floor(opts.timeoutMs / 4))),
      requestTimeout: opts.timeoutMs,
      retry,
    });
    // Bounded retries (KafkaJS warns this "may invalidate EoS"): the guarantee ingest needs is that a
    // 200 means acknowledged, and a sender that gave up must not keep retrying for minutes.
    // The default (Java-compatible murmur2) partitioner, named so KafkaJS does not warn about its v2 change.
    this.producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry,
    });
    this.producer.on(this.producer.events.DISCONNECT, () => {
      this.producerConnected = false;
    });
    this.admin = this.kafka.admin({ retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 300 } });
    this.admin.on(this.admin.events.DISCONNECT, () => {
      this.adminConnected = false;
    });
    // Snappy by default: gzip halves ingest's throughput on two cores for a little more compression.
    this.compression = { snappy: CompressionTypes.Snappy, gzip: CompressionTypes.GZIP, none: CompressionTypes.None }[opts.compression];

    this.check = new RawRecordCheck(opts.topicPrefix);
    const registry = createRegistry(opts.schemaRegistryUrl);
    const topics = topicNames(opts.topicPrefix);
    for (const { topic, schema } of rawTopics(topics)) {
      this.serdes.set(
        topic,
        new AvroSerde<RawEnvelope>({ registry, registryUrl: opts.schemaRegistryUrl, subject: valueSubject(topic), schema: loadAvroSchema(schema) }),
      );
    }
    this.queue = new GroupCommitQueue({
      prepare: () => this.prepareSend(),
      encode: (records) => this.encode(records),
      send: (messages) => this.send(messages),
      maxBatchBytes: MAX_COALESCED_BYTES,
      timeoutMs: opts.timeoutMs,
      timeoutError: () => new KafkaUnavailableError(`Kafka did not acknowledge within ${opts.timeoutMs} ms`),
      closedError: () => new KafkaUnavailableError('ingest is shutting down'),
    });
  }

  /** No write queued or in flight, including one whose caller already gave up (tests wait for this). */
  get idle(): boolean {
    return this.queue.idle;
  }

  /** The raw topics this writer writes to. */
  get topics(): string[] {
    return [...this.serdes.keys()];
  }

  /**
   * Connects, creates the raw topics (when configured) and registers or looks up the schemas.
   * Safe to call again after a failure; writes call it lazily, so a start-up failure is not fatal.
   */
  start(): Promise<void> {
    this.prepared ??= this.prepare().catch((err: unknown) => {
      this.prepared = null;
      throw err;
    });
    return this.prepared;
  }

  private async prepare(): Promise<void> {
    await this.connectAdmin();
    if (this.opts.createTopics) {
      const config = rawTopicConfig(Math.max(this.opts.maxRecordBytes, MAX_COALESCED_BYTES) + RAW_RECORD_OVERHEAD_BYTES);
      await ensureTopics(this.admin, this.topics.map((topic) => ({ topic, config })));
    }
    await this.checkTopicLimits();
    for (const serde of this.serdes.values()) {
      await (this.opts.autoRegisterSchemas ? serde.init({ register: true, compatibility: 'BACKWARD_TRANSITIVE' }) : serde.init({ register: false }));
    }
    await this.connectProducer();
  }

  /**
   * A raw topic made by hand (INGEST_CREATE_TOPICS=false), or by an older version, keeps the
   * broker's max.message.bytes (1 MB by default), below the largest record ingest accepts: such a
   * record fails as a Kafka write on every retry of its sender (503s, then Shopify gives up). Said
   * at start, per topic, so the operator learns it from the log and not from a lost webhook.
   */
  private async checkTopicLimits(): Promise<void> {
    const needed = this.opts.maxRecordBytes + RAW_RECORD_OVERHEAD_BYTES;
    try {
      const { resources } = await this.admin.describeConfigs({
        includeSynonyms: false,
        resources: this.topics.map((name) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] })),
      });
      for (const r of resources) {
        const limit = Number(r.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
        if (!Number.isFinite(limit) || limit >= needed) continue;
        this.log.error(
          { topic: r.resourceName, maxMessageBytes: limit, neededBytes: needed },
          'raw topic refuses records ingest accepts: raise its max.message.bytes, or lower INGEST_MAX_WEBHOOK_BYTES / INGEST_MAX_BATCH_BYTES',
        );
      }
    } catch (err) {
      this.log.warn({ err: { name: (err as Error).name, message: (err as Error).message } }, 'could not read the raw topics\' max.message.bytes');
    }
  }

  private async connectProducer(): Promise<void> {
    if (this.producerStale) {
      // After a failed send the client's connections may point at a broker that went away; a fresh
      // connect rebuilds them. The idempotent producer keeps its id, so sequences stay valid.
      this.producerStale = false;
      await this.producer.disconnect().catch(() => undefined);
      this.producerConnected = false;
    }
    if (!this.producerConnected) {
      await this.producer.connect();
      this.producerConnected = true;
    }
  }

  private async connectAdmin(): Promise<void> {
    if (this.adminStale) {
      this.adminStale = false;
      await this.admin.disconnect().catch(() => undefined);
      this.adminConnected = false;
    }
    if (!this.adminConnected) {
      await this.admin.connect();
      this.adminConnected = true;
    }
  }

  /**
   * Rejects with RecordEncodingError, before anything is queued, when a record does not fit its
   * schema; with KafkaUnavailableError when Kafka does not acknowledge in time.
   */
  write(records: RawRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const invalid = this.check.firstUnencodable(records);
    if (invalid !== null) return Promise.reject(invalid);
    return this.queue.submit(records);
  }

  private async prepareSend(): Promise<void> {
    try {
      await this.start();
      await this.connectProducer();
    } catch (err) {
      this.producerStale = true;
      throw new KafkaUnavailableError('Kafka or the schema registry is unreachable', { cause: err });
    }
  }

  private encode(records: RawRecord[]): { messages: EncodedRecord[]; bytes: number } {
    try {
      const messages = records.map((r) => ({ topic: r.topic, key: r.key, value: this.serdeFor(r.topic).encode(r.value) }));
      return { messages, bytes: messages.reduce((n, m) => n + m.value.length + (m.key?.length ?? 0), 0) };
    } catch (err) {
      // write() checked every record, so this is a backstop: the write fails alone, as the
      // request's fault, and never as an outage.
      throw this.check.firstUnencodable(records) ?? new RecordEncodingError(0, [], { cause: err });
    }
  }

  private async send(messages: EncodedRecord[]): Promise<void> {
    const byTopic = new Map<string, TopicMessages>();
    for (const m of messages) {
      let tm = byTopic.get(m.topic);
      if (tm === undefined) {
        tm = { topic: m.topic, messages: [] };
        byTopic.set(m.topic, tm);
      }
      tm.messages.push({ key: m.key, value: m.value });
    }
    try {
      await this.producer.sendBatch({ topicMessages: [...byTopic.values()], acks: -1, timeout: this.opts.timeoutMs, compression: this.compression });
    } catch (err) {
      this.producerStale = true;
      this.log.warn({ err: { name: (err as Error).name, message: (err as Error).message }, records: messages.length }, 'Kafka write failed');
      throw new KafkaUnavailableError('Kafka write failed', { cause: err });
    }
  }

  private serdeFor(topic: string): AvroSerde<RawEnvelope> {
    const serde = this.serdes.get(topic);
    if (serde === undefined) throw new Error(`no raw schema for topic ${topic}`);
    return serde;
  }

  /** Kafka answers a metadata request for the raw topics, and the schemas are known. */
  ready(): Promise<boolean> {
    this.readyCheck ??= this.checkReady().finally(() => {
      this.readyCheck = null;
    });
    return this.readyCheck;
  }

  private async checkReady(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const check = async (): Promise<boolean> => {
      await this.start();
      await this.connectAdmin();
      const { topics } = await this.admin.fetchTopicMetadata({ topics: this.topics });
      return topics.length === this.serdes.size && topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
    };
    try {
      return await Promise.race([
        check(),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      this.adminStale = true;
      this.log.debug({ err: { name: (err as Error).name, message: (err as Error).message } }, 'Kafka not ready');
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Refuses new writes, lets queued and in-flight ones finish (each bounded by its timeout), disconnects. */
  async close(): Promise<void> {
    await this.queue.close();
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect()]);
  }
}
