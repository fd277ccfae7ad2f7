import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { REDACTED, createLogger } from '../src/logger.ts';

function capture(): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>>; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { chunks.push(String(chunk)); cb(); } });
  const logger = createLogger('logger-test', 'debug', sink);
  return {
    logger,
    lines: () => chunks.map((c) => JSON.parse(c) as Record<string, unknown>),
    text: () => chunks.join(''),
  };
}

describe('createLogger redaction', () => {
  it('redacts the deep paths the shallow list missed (issue 13)', () => {
    const { logger, lines, text } = capture();
    logger.info({
      req: { headers: { 'x-shopify-hmac-sha256': 'HMAC-1', authorization: 'Basic d2s6', 'content-type': 'application/json' } },
      config: { cio: { apiKey: 'CIO-KEY', siteId: 'site' }, kafka: { brokers: ['b:9092'] } },
      webhook: { url: 'https://hooks.slack.com/services/T/B/TOKEN', host: 'hooks.slack.com' },
    }, 'deep');
    const [line] = lines();
    expect(line).toMatchObject({
      req: { headers: { 'x-shopify-hmac-sha256': REDACTED, authorization: REDACTED, 'content-type': 'application/json' } },
      config: { cio: { apiKey: REDACTED, siteId: 'site' }, kafka: { brokers: ['b:9092'] } },
      webhook: { url: REDACTED, host: 'hooks.slack.com' },
    });
    for (const secret of ['HMAC-1', 'd2s6', 'CIO-KEY', 'TOKEN']) expect(text()).not.toContain(secret);
  });

  it('redacts a secret key at every level, in arrays, and whatever its case', () => {
    const { logger, text } = capture();
    logger.info({ apiKey: 'L0' });
    logger.info({ a: { writeKey: 'L1' } });
    logger.info({ a: { b: { secret: 'L2' } } });
    logger.info({ a: { b: { c: { password: 'L3' } } } });
    logger.info({ a: { b: { c: { d: { token: 'L4' } } } } });
    logger.info({ sources: [{ name: 'web', writeKey: 'IN-ARRAY' }] });
    logger.info({ ingest: { shopify: { secrets: ['ROTATED-1', 'ROTATED-2'] } } });
    logger.info({ event: { headers: { 'x-recharge-hmac-sha256': 'RC-SIG', 'x-recharge-webhook-signature': 'RC-SIG2' } } });
    logger.info({ raw: { rawBody: '{"card":"4242"}' } });
    logger.info({ a: { b: { c: { d: { e: { f: { g: { apiKey: 'L7' } } } } } } } });
    logger.info({ request: { headers: { Authorization: 'Bearer CASED' } } });
    for (const secret of ['L0', 'L1', 'L2', 'L3', 'L4', 'IN-ARRAY', 'ROTATED-1', 'RC-SIG', '4242', 'L7', 'CASED']) expect(text()).not.toContain(secret);
  });

  it('redacts what a child logger binds', () => {
    const { logger, lines, text } = capture();
    logger.child({ config: { monitor: { webhook: { url: 'https://hooks.example/SECRET-PATH' } } } }).info('bound');
    expect(text()).not.toContain('SECRET-PATH');
    expect(lines()[0]).toMatchObject({ config: { monitor: { webhook: { url: REDACTED } } }, msg: 'bound' });
  });

  it('keeps errors intact for the error serialiser', () => {
    const { logger, lines } = capture();
    logger.error({ err: new Error('broker down') }, 'failed');
    expect(lines()[0]).toMatchObject({ err: { type: 'Error', message: 'broker down' } });
  });

  it('keeps what is not secret, including URLs outside `webhook`', () => {
    const { logger, lines } = capture();
    logger.info({ registry: { url: 'http://registry:8081' }, topic: 'raw.app', partition: 2, webhookHost: 'hooks.slack.com' }, 'plain');
    expect(lines()[0]).toMatchObject({ registry: { url: 'http://registry:8081' }, topic: 'raw.app', partition: 2, webhookHost: 'hooks.slack.com', msg: 'plain' });
  });

  it('does not change the logged object itself', () => {
    const { logger } = capture();
    const config = { cio: { apiKey: 'KEEP' } };
    logger.info({ config });
    expect(config.cio.apiKey).toBe('KEEP');
  });
});
