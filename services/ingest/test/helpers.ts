import { fileURLToPath } from 'node:url';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { createLogger } from '@cio-pipeline/core';
import type { IngestConfig } from '../src/config.ts';
import { KafkaUnavailableError, RecordEncodingError } from '../src/errors.ts';
import { createIngestServer, type IngestServer } from '../src/http-server.ts';
import { createIngestMetrics, type IngestMetrics } from '../src/metrics.ts';
import type { RawRecord, RawWriter } from '../src/raw-writer.ts';
import { RawRecordCheck } from '../src/record-check.ts';

export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures', import.meta.url));
export const fixture = (rel: string): Buffer => readFileSync(`${FIXTURES}/${rel}`);

export const SHOPIFY_SECRETS = ['shpss_old_secret', 'shpss_new_secret'];
export const RECHARGE_SECRETS = ['rc_secret_1', 'rc_secret_2'];
export const WRITE_KEYS = [
  { source: 'ios-app', key: 'wk_ios_123' },
  { source: 'web', key: 'wk_web_456' },
];

export function testConfig(overrides: Partial<IngestConfig> = {}): IngestConfig {
  return {
    port: 0,
    host: '127.0.0.1',
    shopifySecrets: SHOPIFY_SECRETS,
    rechargeSecrets: RECHARGE_SECRETS,
    // The legacy scheme is off by default; tests of it opt in.
    rechargeLegacySecrets: [],
    rechargeToleranceS: 300,
    writeKeys: WRITE_KEYS,
    corsOrigins: ['http://127.0.0.1:3000'],
    maxCallBytes: 32 * 1024,
    maxBatchBytes: 500 * 1024,
    maxWebhookBytes: 1024 * 1024,
    maxInflightBytes: 16 * 1024 * 1024,
    maxInflightRequests: 100,
    maxInflightPerAddress: 100,
    // Off in tests that send many bad credentials on purpose; hostile-connections.test.ts turns it on.
    maxRefusalsPerAddressPerS: 0,
    refusalBlockMs: 10_000,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    minBodyBytesPerS: 1024,
    bodyGraceMs: 5000,
    kafkaTimeoutMs: 500,
    retryAfterS: 7,
    drainTimeoutMs: 5000,
    kafkaBrokers: [],
    kafkaBrokersConfigured: false,
    kafkaClientId: 'test',
    kafkaCompression: 'none',
    schemaRegistryUrl: 'http://127.0.0.1:1',
    topicPrefix: 't.',
    autoRegisterSchemas: true,
    createTopics: true,
    logLevel: 'silent',
    ...overrides,
  };
}

/**
 * In-memory writer: records every acknowledged write; can be told to fail or hang. Like the Kafka
 * writer it refuses a record its schema cannot hold (test topics use the prefix 't.').
 */
export class FakeWriter implements RawWriter {
  written: RawRecord[] = [];
  private readonly check = new RawRecordCheck('t.');
  calls = 0;
  mode: 'ok' | 'unavailable' | 'hang' | 'throw' | 'unencodable' = 'ok';
  isReady = true;
  private pending: Array<() => void> = [];

  async write(records: RawRecord[]): Promise<void> {
    this.calls++;
    if (this.mode === 'unavailable') throw new KafkaUnavailableError('broker down');
    if (this.mode === 'throw') throw new Error('encoder exploded');
    if (this.mode === 'unencodable') throw new RecordEncodingError(0, ['timestamp']);
    const unencodable = this.check.firstUnencodable(records);
    if (unencodable !== null) throw unencodable;
    if (this.mode === 'hang') await new Promise<void>((resolve) => this.pending.push(resolve));
    this.written.push(...records);
  }

  /** Lets hung writes complete (they then count as written). */
  releaseHung(): void {
    for (const r of this.pending.splice(0)) r();
  }

  async ready(): Promise<boolean> {
    return this.isReady;
  }
}

export interface Harness {
  url: string;
  writer: FakeWriter;
  metrics: IngestMetrics;
  ingest: IngestServer;
  logs: string[];
  close(): Promise<void>;
}

export async function startHarness(
  overrides: Partial<IngestConfig> = {},
  opts: { now?: () => number; writer?: FakeWriter } = {},
): Promise<Harness> {
  const writer = opts.writer ?? new FakeWriter();
  const metrics = createIngestMetrics();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger('ingest-test', 'debug', sink);
  const ingest = createIngestServer({ config: testConfig(overrides), writer, logger, metrics, ...(opts.now ? { now: opts.now } : {}) });
  const url = await ingest.listen(0, '127.0.0.1');
  return { url, writer, metrics, ingest, logs, close: () => ingest.close() };
}

export const shopifyHmac = (body: Buffer | string, secret: string): string => createHmac('sha256', secret).update(body).digest('base64');
export const rechargeLegacy = (body: Buffer | string, secret: string): string => createHash('sha256').update(secret).update(body).digest('hex');
export const rechargeTimestamped = (body: Buffer | string, secret: string, ts: number | string): string =>
  `t=${ts},v1=${createHmac('sha256', secret).update(`${ts}.`).update(body).digest('hex')}`;
export const basic = (key: string): string => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

export function shopifyHeaders(body: Buffer, topic: string, secret = SHOPIFY_SECRETS[0] as string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'X-Shopify-Topic': topic,
    'X-Shopify-Hmac-Sha256': shopifyHmac(body, secret),
    'X-Shopify-Shop-Domain': 'tea-example.myshopify.com',
    'X-Shopify-API-Version': '2025-10',
    'X-Shopify-Webhook-Id': 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
    'X-Shopify-Event-Id': '98880550-7158-44d4-b7cd-2c97c8a091b5',
    'X-Shopify-Triggered-At': '2026-11-20T19:03:12.345Z',
  };
}

export async function post(url: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: unknown; text: string }> {
  const res = await fetch(url, { method: 'POST', body, headers });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, json, text };
}
