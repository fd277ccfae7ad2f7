import { describe, expect, it } from 'vitest';
import { ConfigError } from '@cio-pipeline/core';
import { loadSinkConfig, redactSinkConfig } from '../src/config.ts';

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
  });

  it('takes region, URL override, API version and prefix', () => {
    expect(loadSinkConfig({ ...base, CIO_REGION: 'eu' }).cio.trackUrl).toBe('https://track-eu.customer.io');
    const c = loadSinkConfig({ ...base, CIO_TRACK_URL: 'http://127.0.0.1:8090/', SINK_API: 'v1', TOPIC_PREFIX: 't1.', SINK_CONCURRENCY: '4' });
    expect(c.cio.trackUrl).toBe('http://127.0.0.1:8090');
    expect(c.cio.api).toBe('v1');
    expect(c.kafka.topics.dlq).toBe('t1.sink.dlq');
    expect(c.delivery.concurrency).toBe(4);
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
});
