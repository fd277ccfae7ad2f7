import { describe, expect, it } from 'vitest';
import { ConfigError } from '@cio-pipeline/core';
import { loadIngestConfig } from '../src/config.ts';

describe('ingest config', () => {
  it('has working defaults', () => {
    const c = loadIngestConfig({});
    expect(c).toMatchObject({ port: 8080, rechargeToleranceS: 300, maxCallBytes: 32768, maxBatchBytes: 1048576, kafkaBrokersConfigured: false, topicPrefix: '', autoRegisterSchemas: true, createTopics: true, kafkaCompression: 'snappy' });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads secrets, write keys and Kafka settings', () => {
    const c = loadIngestConfig({
      SHOPIFY_WEBHOOK_SECRETS: 'old, new',
      RECHARGE_WEBHOOK_SECRETS: 'r1',
      APP_WRITE_KEYS: 'ios:k1,web:k2',
      KAFKA_BROKERS: 'a:9092,b:9092',
      TOPIC_PREFIX: 'dev.',
      RECHARGE_SIGNATURE_TOLERANCE_S: '60',
    });
    expect(c.shopifySecrets).toEqual(['old', 'new']);
    expect(c.writeKeys).toEqual([
      { source: 'ios', key: 'k1' },
      { source: 'web', key: 'k2' },
    ]);
    expect(c).toMatchObject({ kafkaBrokers: ['a:9092', 'b:9092'], kafkaBrokersConfigured: true, topicPrefix: 'dev.', rechargeToleranceS: 60 });
  });

  it('keeps the legacy Recharge scheme off unless a secret opts in to it', () => {
    expect(loadIngestConfig({ RECHARGE_WEBHOOK_SECRETS: 'r1' }).rechargeLegacySecrets).toEqual([]);
    const c = loadIngestConfig({ RECHARGE_WEBHOOK_SECRETS: 'r1,r2', RECHARGE_LEGACY_SECRETS: 'r2,r3' });
    expect(c.rechargeLegacySecrets).toEqual(['r2', 'r3']);
    expect(c.rechargeSecrets).toEqual(['r1', 'r2', 'r3']);
  });

  it('reads the connection limits and refuses a headers timeout longer than the request timeout', () => {
    const c = loadIngestConfig({ INGEST_MAX_INFLIGHT_PER_ADDRESS: '8', INGEST_MIN_BODY_BYTES_PER_S: '500', INGEST_BODY_GRACE_MS: '2000' });
    expect(c).toMatchObject({ maxInflightPerAddress: 8, minBodyBytesPerS: 500, bodyGraceMs: 2000, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 });
    expect(() => loadIngestConfig({ INGEST_HEADERS_TIMEOUT_MS: '5000', INGEST_REQUEST_TIMEOUT_MS: '1000' })).toThrow(/must not exceed INGEST_REQUEST_TIMEOUT_MS/);
  });

  it('reads the schema-registration and topic-creation switches', () => {
    const c = loadIngestConfig({ SCHEMA_AUTO_REGISTER: 'false', INGEST_CREATE_TOPICS: '0', KAFKA_COMPRESSION: 'none' });
    expect(c).toMatchObject({ autoRegisterSchemas: false, createTopics: false, kafkaCompression: 'none' });
  });

  it('reads the CORS origins and refuses anything that is not an origin', () => {
    expect(loadIngestConfig({ INGEST_CORS_ORIGINS: 'https://shop.example.com, http://127.0.0.1:3000/' }).corsOrigins).toEqual(['https://shop.example.com', 'http://127.0.0.1:3000']);
    expect(loadIngestConfig({}).corsOrigins).toEqual([]);
    try {
      loadIngestConfig({ INGEST_CORS_ORIGINS: 'shop.example.com,https://shop.example.com/cart,*,ftp://x.example' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.filter((p) => p.startsWith('INGEST_CORS_ORIGINS'))).toHaveLength(4);
    }
  });

  it('refuses a write key containing a colon, naming the source but not the key', () => {
    try {
      loadIngestConfig({ APP_WRITE_KEYS: 'web:wk_ok,ios:wk:secret' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/item 2 \(source ios\): a write key must not contain ':'/);
      expect(problems.join()).not.toContain('secret');
    }
  });

  it('reports every problem at once without echoing write keys', () => {
    try {
      loadIngestConfig({ INGEST_PORT: 'x', APP_WRITE_KEYS: 'nokeyhere,a:dup,b:dup', KAFKA_COMPRESSION: 'zstd' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems).toHaveLength(4);
      expect(problems.join()).not.toContain('nokeyhere');
      expect(problems.join()).not.toContain('dup');
    }
  });
});
