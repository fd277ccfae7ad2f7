import { describe, expect, it } from 'vitest';
import type { RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { createLogger, topicNames } from '@cio-pipeline/core';
import { RecordEncodingError } from '../src/errors.ts';
import { KafkaRawWriter, kafkaRawWriterOptions } from '../src/kafka-raw-writer.ts';
import { testConfig } from './helpers.ts';

const message = (timestamp: number | null): RawAppMessage => ({
  ingest_id: 'i-1',
  received_at: Date.now(),
  write_key_id: 'web',
  type: 'track',
  message_id: 'm-1',
  message_id_generated: false,
  timestamp,
  sent_at: null,
  ip: null,
  user_agent: null,
  body: Buffer.from('{}'),
  rejection: null,
});

describe('KafkaRawWriter record checks', () => {
  it('refuses a record its schema cannot hold as the request’s fault, before contacting Kafka', async () => {
    // Nothing listens on port 1: reaching Kafka would fail as KafkaUnavailableError instead.
    const config = testConfig({ kafkaBrokers: ['127.0.0.1:1'], schemaRegistryUrl: 'http://127.0.0.1:1' });
    const writer = new KafkaRawWriter(kafkaRawWriterOptions(config, createLogger('test', 'silent')));
    const topic = topicNames(config.topicPrefix).rawApp;
    const err = await writer.write([{ topic, key: 'u', value: message(0) }, { topic, key: 'u', value: message(2 ** 60) }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordEncodingError);
    expect(err).toMatchObject({ recordIndex: 1, fields: ['timestamp'], retryable: false });
    expect(writer.idle).toBe(true);
    await writer.close();
  });
});
