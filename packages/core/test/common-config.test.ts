import { describe, expect, it } from 'vitest';
import {
  ConfigError, DEFAULT_SCHEMA_REGISTRY_URL, EnvReader, readKafkaSettings, readLogLevel, readOpsSettings, readRegistrySettings, readTopicSettings,
} from '../src/index.ts';

function read(env: Record<string, string>) {
  const r = new EnvReader(env);
  return r.done({
    kafka: readKafkaSettings(r, { clientId: 'cio-test' }),
    topics: readTopicSettings(r),
    registry: readRegistrySettings(r),
    logLevel: readLogLevel(r),
    ops: readOpsSettings(r, { host: 'TEST_OPS_HOST', port: 'TEST_OPS_PORT' }, 9100),
  });
}

describe('common settings', () => {
  it('defaults to the local stack, no prefix, info logs and loopback ops', () => {
    const c = read({});
    expect(c.kafka).toEqual({ brokers: ['127.0.0.1:9092'], brokersConfigured: false, clientId: 'cio-test' });
    expect(c.topics.topicPrefix).toBe('');
    expect(c.topics.topics.canonical).toBe('events.canonical');
    expect(c.registry).toEqual({ url: DEFAULT_SCHEMA_REGISTRY_URL, autoRegister: true });
    expect(c.logLevel).toBe('info');
    expect(c.ops).toEqual({ opsHost: '127.0.0.1', opsPort: 9100 });
  });

  it('reads the shared variable names', () => {
    const c = read({
      KAFKA_BROKERS: 'a:9092,b:9092', KAFKA_CLIENT_ID: 'mine', TOPIC_PREFIX: 'dev.', SCHEMA_REGISTRY_URL: 'http://r:8081',
      SCHEMA_AUTO_REGISTER: 'false', LOG_LEVEL: 'debug', TEST_OPS_HOST: '0.0.0.0', TEST_OPS_PORT: '0',
    });
    expect(c.kafka).toEqual({ brokers: ['a:9092', 'b:9092'], brokersConfigured: true, clientId: 'mine' });
    expect(c.topics.topics.dlq).toBe('dev.sink.dlq');
    expect(c.registry).toEqual({ url: 'http://r:8081', autoRegister: false });
    expect(c.logLevel).toBe('debug');
    expect(c.ops).toEqual({ opsHost: '0.0.0.0', opsPort: 0 });
  });

  it('reports a bad registry URL, log level and ops port together', () => {
    const err = (() => {
      try {
        read({ SCHEMA_REGISTRY_URL: 'registry', LOG_LEVEL: 'loud', TEST_OPS_PORT: '70000' });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'SCHEMA_REGISTRY_URL must be a URL, got "registry"',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      'TEST_OPS_PORT must be <= 65535, got 70000',
    ]);
  });

  it('lets a command default its log level to warn', () => {
    expect(readLogLevel(new EnvReader({}), 'warn')).toBe('warn');
  });
});
