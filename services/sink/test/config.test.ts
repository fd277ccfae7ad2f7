import { describe, expect, it } from 'vitest';
import { ConfigError } from '@cio-pipeline/core';
import { loadReplayConfig, loadSinkConfig, redactSinkConfig } from '../src/config.ts';

const base = { CIO_SITE_ID: 'site', CIO_API_KEY: 'secret-key' };

describe('loadSinkConfig', () => {
  it('has safe defaults', () => {
    const c = loadSinkConfig(base);
    expect(c.cio).toMatchObject({ trackUrl: 'https://track.customer.io', api: 'v2', region: 'us' });
    expect(c.delivery.rateLimitPerSec).toBe(100);
    expect(c.delivery.maxBatchBytes).toBeLessThan(500 * 1024);
    expect(c.opsPort).toBe(9102);
    expect(c.kafka.topics.canonical).toBe('events.canonical');
    expect(Object.isFrozen(c.delivery)).toBe(true);
    expect(c.kafka.retryMaxMs).toBe(2_000);
  });

  it('bounds the Kafka retry wait that decides how soon the broker\'s return is noticed', () => {
    expect(loadSinkConfig({ ...base, SINK_KAFKA_RETRY_MAX_MS: '500' }).kafka.retryMaxMs).toBe(500);
    expect(() => loadSinkConfig({ ...base, SINK_KAFKA_RETRY_MAX_MS: '60000' })).toThrow(/SINK_KAFKA_RETRY_MAX_MS/);
    expect(() => loadSinkConfig({ ...base, SINK_KAFKA_RETRY_MAX_MS: '10' })).toThrow(/SINK_KAFKA_RETRY_MAX_MS/);
  });

  it('takes region, URL override, API version and prefix', () => {
    expect(loadSinkConfig({ ...base, CIO_REGION: 'eu' }).cio.trackUrl).toBe('https://track-eu.customer.io');
    const c = loadSinkConfig({ ...base, CIO_TRACK_URL: 'http://127.0.0.1:8090/', SINK_API: 'v1', TOPIC_PREFIX: 't1.', SINK_CONCURRENCY: '4' });
    expect(c.cio.trackUrl).toBe('http://127.0.0.1:8090');
    expect(c.cio.api).toBe('v1');
    expect(c.kafka.topics.dlq).toBe('t1.sink.dlq');
    expect(c.delivery.concurrency).toBe(4);
  });

  it('validates the region against a Customer.io track URL at start-up', () => {
    expect(loadSinkConfig({ ...base, CIO_REGION: 'eu' }).cio).toMatchObject({ region: 'eu', trackUrl: 'https://track-eu.customer.io' });
    expect(loadSinkConfig({ ...base, CIO_TRACK_URL: 'https://track-eu.customer.io' }).cio.trackUrl).toBe('https://track-eu.customer.io');
    expect(() => loadSinkConfig({ ...base, CIO_REGION: 'us', CIO_TRACK_URL: 'https://track-eu.customer.io' })).toThrow(/eu host but CIO_REGION is us/);
    expect(() => loadSinkConfig({ ...base, CIO_TRACK_URL: 'http://track.customer.io' })).toThrow(/https for Customer.io/);
    expect(() => loadSinkConfig({ ...base, CIO_REGION: 'EU' })).toThrow(/CIO_REGION/);
  });

  it('reports every problem at once', () => {
    try {
      loadSinkConfig({ CIO_REGION: 'mars', SINK_API: 'v3', SINK_CONCURRENCY: 'x', SINK_MAX_BATCH_BYTES: '600000' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const name of ['CIO_SITE_ID', 'CIO_API_KEY', 'CIO_REGION', 'SINK_API', 'SINK_CONCURRENCY', 'SINK_MAX_BATCH_BYTES']) expect(problems).toContain(name);
    }
  });

  it('never shows the API key when redacted', () => {
    expect(JSON.stringify(redactSinkConfig(loadSinkConfig(base)))).not.toContain('secret-key');
  });

  it('reads the registry, auto-registration, drain and session settings', () => {
    const d = loadSinkConfig(base);
    expect(d.registry).toEqual({ url: 'http://127.0.0.1:8081/apis/ccompat/v7', autoRegister: true });
    expect(d.drainTimeoutMs).toBe(20_000);
    expect(d.kafka).toMatchObject({ sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, rebalanceTimeoutMs: 30_000, retryMaxMs: 2_000 });
    const c = loadSinkConfig({ ...base, SCHEMA_REGISTRY_URL: 'http://reg:8080/apis/ccompat/v7', SCHEMA_AUTO_REGISTER: 'false', SINK_DRAIN_TIMEOUT_MS: '500', SINK_SESSION_TIMEOUT_MS: '6000' });
    expect(c.registry).toEqual({ url: 'http://reg:8080/apis/ccompat/v7', autoRegister: false });
    expect(c.drainTimeoutMs).toBe(500);
    expect(c.kafka.sessionTimeoutMs).toBe(6000);
    // A heartbeat must fit three times in the session; a rebalance must outlast it.
    expect(() => loadSinkConfig({ ...base, SINK_SESSION_TIMEOUT_MS: '6000', SINK_HEARTBEAT_INTERVAL_MS: '2500' })).toThrow(/SINK_HEARTBEAT_INTERVAL_MS must be at most a third/);
    expect(() => loadSinkConfig({ ...base, SINK_SESSION_TIMEOUT_MS: '20000', SINK_REBALANCE_TIMEOUT_MS: '10000' })).toThrow(/SINK_REBALANCE_TIMEOUT_MS must be at least/);
    expect(() => loadSinkConfig({ ...base, SINK_SESSION_TIMEOUT_MS: '100', SCHEMA_AUTO_REGISTER: 'maybe' })).toThrow(/SINK_SESSION_TIMEOUT_MS[\s\S]*SCHEMA_AUTO_REGISTER|SCHEMA_AUTO_REGISTER[\s\S]*SINK_SESSION_TIMEOUT_MS/);
  });

  it('gives the replay tool Kafka and the registry without Customer.io credentials', () => {
    const r = loadReplayConfig({ TOPIC_PREFIX: 'x.', KAFKA_BROKERS: 'a:1,b:2' });
    expect(r.brokers).toEqual(['a:1', 'b:2']);
    expect(r.topics.dlq).toBe('x.sink.dlq');
    expect(r.topics.canonical).toBe('x.events.canonical');
    expect(() => loadReplayConfig({ SCHEMA_REGISTRY_URL: 'not a url' })).toThrow(/SCHEMA_REGISTRY_URL/);
  });
});
