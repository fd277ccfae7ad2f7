import { readFile } from 'node:fs/promises';
import { CompressionTypes, Kafka, logLevel, type Admin, type Producer, type TopicMessages } from 'kafkajs';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { topicNames, valueSubject, type Logger } from '@cio-pipeline/core';
import { KafkaUnavailableError } from './errors.ts';
import type { RawRecord, RawWriter } from './raw-writer.ts';

type Registry = InstanceType<typeof SchemaRegistry>;

export interface KafkaRawWriterOptions {
  brokers: string[];
  clientId: string;
  schemaRegistryUrl: string;
  topicPrefix: string;
  compression: 'gzip' | 'none';
  /** A write not acknowledged by then fails with KafkaUnavailableError. */
  timeoutMs: number;
  logger: Logger;
}

const SCHEMA_FILES: Record<'rawShopify' | 'rawApp' | 'rawSubscriptions', string> = {
  rawShopify: 'raw-shopify.avsc',
  rawApp: 'raw-app.avsc',
  rawSubscriptions: 'raw-subscriptions.avsc',
};
const SCHEMA_DIR = new URL('../../../schemas/avro/', import.meta.url);

/**
 * Draft: Avro (Confluent framing, schema id looked up, never registered here: the schemas tool owns
 * registration) over an idempotent KafkaJS producer with acks=all. Not yet tested against a broker.
 */
export class KafkaRawWriter implements RawWriter {
  private readonly opts: KafkaRawWriterOptions;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly registry: Registry;
  private readonly schemaIds = new Map<string, Promise<number>>();
  private readonly schemaByTopic = new Map<string, string>();
  private connected: Promise<void> | null = null;

  constructor(opts: KafkaRawWriterOptions) {
    this.opts = opts;
    this.kafka = new Kafka({
      clientId: opts.clientId,
      brokers: opts.brokers,
      logLevel: logLevel.WARN,
      connectionTimeout: Math.min(3000, opts.timeoutMs),
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    // Idempotence needs one request in flight per connection in KafkaJS; acks=all is set per send.
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    this.admin = this.kafka.admin();
    this.registry = new SchemaRegistry({ host: opts.schemaRegistryUrl });
    const topics = topicNames(opts.topicPrefix);
    for (const [name, file] of Object.entries(SCHEMA_FILES)) this.schemaByTopic.set(topics[name as keyof typeof SCHEMA_FILES], file);
  }

  connect(): Promise<void> {
    this.connected ??= Promise.all([this.producer.connect(), this.admin.connect()]).then(
      () => undefined,
      (err: unknown) => {
        this.connected = null;
        throw err;
      },
    );
    return this.connected;
  }

  async write(records: RawRecord[]): Promise<void> {
    if (records.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KafkaUnavailableError(`Kafka did not acknowledge within ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
    });
    try {
      await Promise.race([this.send(records), timeout]);
    } catch (err) {
      if (err instanceof KafkaUnavailableError) throw err;
      throw new KafkaUnavailableError('Kafka write failed', { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  private async send(records: RawRecord[]): Promise<void> {
    await this.connect();
    const byTopic = new Map<string, TopicMessages>();
    for (const r of records) {
      const id = await this.schemaId(r.topic);
      const value = await this.registry.encode(id, r.value);
      let tm = byTopic.get(r.topic);
      if (tm === undefined) {
        tm = { topic: r.topic, messages: [] };
        byTopic.set(r.topic, tm);
      }
      tm.messages.push({ key: r.key, value });
    }
    await this.producer.sendBatch({
      topicMessages: [...byTopic.values()],
      acks: -1,
      timeout: this.opts.timeoutMs,
      compression: this.opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
    });
  }

  /** Id of the schema ingest writes with, looked up under `<topic>-value`; cached, retried on failure. */
  private schemaId(topic: string): Promise<number> {
    let id = this.schemaIds.get(topic);
    if (id === undefined) {
      const file = this.schemaByTopic.get(topic);
      if (file === undefined) return Promise.reject(new Error(`no raw schema for topic ${topic}`));
      id = readFile(new URL(file, SCHEMA_DIR), 'utf8').then((text) =>
        this.registry.getRegistryIdBySchema(valueSubject(topic), { type: SchemaType.AVRO, schema: text }),
      );
      id.catch(() => this.schemaIds.delete(topic));
      this.schemaIds.set(topic, id);
    }
    return id;
  }

  async ready(): Promise<boolean> {
    try {
      await this.connect();
      const cluster = await this.admin.describeCluster();
      return cluster.brokers.length > 0;
    } catch (err) {
      this.opts.logger.warn({ err }, 'Kafka not reachable');
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect()]);
  }
}
