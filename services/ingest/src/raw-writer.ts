import type { RawEnvelope } from '@cio-pipeline/core';

export interface RawRecord {
  topic: string;
  /** Partition key keeping one shopper's raw events together; null lets Kafka spread the record. */
  key: string | null;
  value: RawEnvelope;
}

/**
 * Where ingest puts raw events. `write` resolves only once every record is durably acknowledged
 * (acks=all); it throws `KafkaUnavailableError` when that cannot be confirmed within its timeout.
 * The HTTP layer depends on this interface only, never on a Kafka client.
 */
export interface RawWriter {
  write(records: RawRecord[]): Promise<void>;
  /** True when Kafka is reachable (used by /readyz). */
  ready(): Promise<boolean>;
}
