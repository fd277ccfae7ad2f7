import type { Producer, ProducerRecord } from 'kafkajs';
import type { Logger } from '@cio-pipeline/core';
import { SinkStoppedError } from './errors.ts';

/**
 * The producer behind sink.dlq, re-created after a failed send. After a broker outage an idempotent
 * producer can stay stuck on its old connection or producer id; a fresh one reconnects at once, and
 * the dispatcher retries the dead letter on it. A rare duplicate dead letter is harmless (replay is
 * idempotent); a lost one is not, so every write resolves only once acknowledged.
 */
export class DeadLetterProducer {
  private readonly create: () => Producer;
  private readonly logger: Logger | undefined;
  /** The producer in use (connected or connecting) and its connection. */
  private current: { producer: Producer; connected: Promise<Producer> } | undefined;
  private closed = false;
  /** Producers created so far (1 while nothing failed). */
  generations = 0;

  constructor(create: () => Producer, logger?: Logger) {
    this.create = create;
    this.logger = logger;
  }

  /** Connects the first producer (at start-up, so a broker that is away fails the start). */
  async connect(): Promise<void> {
    await this.producer();
  }

  async send(record: ProducerRecord): Promise<void> {
    if (this.closed) throw new SinkStoppedError('the dead-letter producer');
    const producer = await this.producer();
    try {
      await producer.send(record);
    } catch (err) {
      this.discard(producer, err);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const current = this.current;
    this.current = undefined;
    if (current) await current.producer.disconnect().catch(() => undefined);
  }

  private async producer(): Promise<Producer> {
    if (!this.current) {
      const producer = this.create();
      this.generations++;
      this.current = { producer, connected: producer.connect().then(() => producer) };
    }
    const { producer, connected } = this.current;
    try {
      return await connected;
    } catch (err) {
      this.discard(producer, err);
      throw err;
    }
  }

  private discard(producer: Producer, err: unknown): void {
    if (this.current?.producer !== producer) return; // already replaced
    this.current = undefined;
    this.logger?.warn({ err, generation: this.generations }, 'dead-letter producer failed; a new one is created for the next write');
    void producer.disconnect().catch(() => undefined);
  }
}
