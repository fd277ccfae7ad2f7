import { AvroSerde, loadAvroSchema, rawTopics, valueSubject, type RawEnvelope, type SerdeError } from '@cio-pipeline/core';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Topics } from '@cio-pipeline/core';
import type { SourceName } from '../stages/candidate.ts';
import type { QuarantineReasonCode } from '../quarantine-reasons.ts';

export interface DecodedRaw {
  source: SourceName;
  envelope: RawEnvelope;
  schemaVersion: number;
}

/**
 * Decodes raw envelopes with the writer's schema from the registry, resolved to the schema this
 * normalizer was built with. A newer (backward-compatible) writer schema is fetched on first sight,
 * so the data team's changes are read without a restart.
 */
export class RawDecoder {
  private readonly byTopic = new Map<string, { source: SourceName; serde: AvroSerde<RawEnvelope> }>();

  constructor(registry: SchemaRegistry, registryUrl: string, topics: Topics) {
    for (const { topic, source, schema } of rawTopics(topics)) {
      this.byTopic.set(topic, { source, serde: new AvroSerde({ registry, registryUrl, subject: valueSubject(topic), schema: loadAvroSchema(schema) }) });
    }
  }

  get topics(): string[] {
    return [...this.byTopic.keys()];
  }

  /** The source a raw topic carries (`app` for a topic this decoder does not know). */
  sourceOf(topic: string): SourceName {
    return this.byTopic.get(topic)?.source ?? 'app';
  }

  serdeFor(topic: string): AvroSerde<RawEnvelope> | undefined {
    return this.byTopic.get(topic)?.serde;
  }

  /** Throws SerdeError: not retryable (corrupt, unknown schema) goes to quarantine; retryable is retried. */
  async decode(topic: string, value: Buffer): Promise<DecodedRaw> {
    const entry = this.byTopic.get(topic);
    if (!entry) throw new Error(`not a raw topic: ${topic}`);
    const decoded = await entry.serde.decode(value);
    return { source: entry.source, envelope: decoded.value, schemaVersion: decoded.schemaVersion };
  }
}

/** Maps a decoding failure to the quarantine reason code the data team sees. */
export function decodeReason(err: SerdeError): QuarantineReasonCode {
  switch (err.code) {
    case 'SERDE_UNKNOWN_SCHEMA': return 'unknown_schema';
    case 'SERDE_INCOMPATIBLE': return 'incompatible_schema';
    default: return 'corrupt_record';
  }
}
