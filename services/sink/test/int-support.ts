/**
 * What the sink's integration tests share: an in-process emulator on a free port, canonical events
 * built and produced through the real registry, the sink's environment, and the assertion that
 * Customer.io (the emulator) holds every person's events complete, in order and without repeats.
 */
import { createServer, request as httpRequest, Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AvroSerde, createRegistry, loadAvroSchema, topicNames, valueSubject, type Kafka, type Topics } from '@cio-pipeline/core';
import type { CanonicalEvent, DeadLetter } from '@cio-pipeline/core/generated/avro-types';
import { expect } from 'vitest';
import { loadConfig as loadEmulatorConfig, type FaultSettings } from '../../emulator/src/config.ts';
import { createEmulator, type Emulator } from '../../emulator/src/server.ts';
import { deterministicUlid } from '../../normalizer/src/stages/deterministic-ulid.ts';
import { createTestTopics, quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { runCli } from '../../../test/support/run-cli.ts';
import { startSink, type SinkService } from '../src/app.ts';
import { loadSinkConfig } from '../src/config.ts';

export const SITE_ID = 'site';
export const API_KEY = 'key';

export interface EmulatedPerson {
  id: string | null;
  email: string | null;
  attributes: Record<string, unknown>;
  events: Array<{ name: string; id: string | null; timestamp: number; data: Record<string, unknown> }>;
}

export interface TestEmulator {
  emulator: Emulator;
  url: string;
  setFaults(patch: Partial<FaultSettings>): Promise<void>;
  people(): Promise<EmulatedPerson[]>;
  requests(): Promise<Array<{ method: string; path: string; status: number; fault?: string; item_count?: number; error?: string }>>;
  close(): Promise<void>;
}

export async function startTestEmulator(): Promise<TestEmulator> {
  const emulator = createEmulator(loadEmulatorConfig({ EMULATOR_PORT: '0', CIO_SITE_ID: SITE_ID, CIO_API_KEY: API_KEY, LOG_LEVEL: 'silent', EMULATOR_REQUEST_LOG_LIMIT: '1000000' }));
  const { url } = await emulator.listen(0);
  const json = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const res = await fetch(`${url}${path}`, init);
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  return {
    emulator,
    url,
    // Through the HTTP config endpoint, as an operator or the demo would.
    setFaults: async (patch) => {
      await json('/_emulator/config', { method: 'POST', body: JSON.stringify(patch), headers: { 'content-type': 'application/json' } });
    },
    people: () => json('/_emulator/people'),
    requests: () => json('/_emulator/requests'),
    close: () => emulator.close(),
  };
}

/** A loopback proxy that delays each request by a random 0..maxDelayMs before forwarding it. */
export async function startRandomLatencyProxy(target: string, maxDelayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const t = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      setTimeout(() => {
        const up = httpRequest({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        up.on('error', () => res.destroy());
        up.end(Buffer.concat(chunks));
      }, Math.random() * maxDelayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TestPipeline {
  prefix: string;
  topics: Topics;
  groupId: string;
  canonical: AvroSerde<CanonicalEvent>;
  dlq: AvroSerde<DeadLetter>;
}

/** Unique topics (created here, so records can be produced before a sink starts) and serdes. */
export async function testPipeline(name: string): Promise<TestPipeline> {
  const { registryUrl } = stackInfo();
  const prefix = `${uniqueName(name)}.`;
  const topics = topicNames(prefix);
  await createTestTopics(testKafka(), [{ topic: topics.canonical }, { topic: topics.dlq }]);
  const registry = createRegistry(registryUrl);
  const canonical = new AvroSerde<CanonicalEvent>({ registry, registryUrl, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
  await canonical.init({ register: true, compatibility: 'FULL_TRANSITIVE' });
  const dlq = new AvroSerde<DeadLetter>({ registry, registryUrl, subject: valueSubject(topics.dlq), schema: loadAvroSchema('dlq-record') });
  return { prefix, topics, groupId: uniqueName('sink'), canonical, dlq };
}

/** The sink's environment for a test: fast retries and commits, loopback everything. */
export function sinkEnv(p: TestPipeline, trackUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  const { brokers, registryUrl } = stackInfo();
  return {
    CIO_SITE_ID: SITE_ID,
    CIO_API_KEY: API_KEY,
    CIO_TRACK_URL: trackUrl,
    KAFKA_BROKERS: brokers,
    SCHEMA_REGISTRY_URL: registryUrl,
    TOPIC_PREFIX: p.prefix,
    SINK_GROUP_ID: p.groupId,
    SINK_OPS_PORT: '0',
    SINK_RATE_LIMIT_PER_SEC: '1000',
    SINK_RETRY_BASE_MS: '50',
    SINK_RETRY_MAX_MS: '1000',
    SINK_COMMIT_INTERVAL_MS: '200',
    SINK_AUTH_PROBE_MS: '300',
    SINK_SESSION_TIMEOUT_MS: '6000',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    ...extra,
  };
}

const BASE_TIME = Date.parse('2026-11-20T10:00:00Z');

export function canonicalEvent(customerId: string, seq: number, over: Partial<CanonicalEvent> = {}): CanonicalEvent {
  const at = BASE_TIME + seq * 1000;
  return {
    event_id: deterministicUlid(`sink-test:${customerId}:${seq}:${over.name ?? ''}`),
    kind: 'event',
    name: 'product_viewed',
    customer_id: customerId,
    anonymous_id: null,
    email: null,
    occurred_at: at,
    received_at: at + 50,
    source: 'app',
    source_event_id: `${customerId}-${seq}`,
    source_type: 'track',
    tracking_version: '1.0.0',
    schema_version: 1,
    tier: 2,
    validation_warnings: [],
    commerce: null,
    properties: { seq, sku: `SKU-${seq % 7}` },
    attributes: {},
    merge: null,
    ...over,
  };
}

export function identify(customerId: string, seq: number, attributes: Record<string, string | number | boolean | null> = {}): CanonicalEvent {
  return canonicalEvent(customerId, seq, { kind: 'identify', name: 'identify', email: `${customerId}@example.com`, properties: {}, attributes: { plan: 'tea-club', ...attributes } });
}

/** `people` customers: an identify, then `perPerson` events each, as the expected ids per person. */
export function journeys(tag: string, people: number, perPerson: number): { events: CanonicalEvent[]; expected: Map<string, string[]> } {
  const expected = new Map<string, string[]>();
  const byPerson: CanonicalEvent[][] = [];
  for (let p = 0; p < people; p++) {
    const id = `${tag}-${p}`;
    const list = [identify(id, 0)];
    for (let i = 1; i <= perPerson; i++) list.push(canonicalEvent(id, i, { name: i % 3 === 0 ? 'added_to_cart' : 'product_viewed' }));
    byPerson.push(list);
    expected.set(id, list.filter((e) => e.kind === 'event').map((e) => e.event_id));
  }
  // Interleave people, as a real stream would, keeping each person's own order.
  const events: CanonicalEvent[] = [];
  for (let i = 0; i <= perPerson; i++) for (const list of byPerson) events.push(list[i]!);
  return { events, expected };
}

export async function produceCanonical(kafka: Kafka, p: TestPipeline, records: Array<CanonicalEvent | { key: string; value: Buffer }>): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += 500) {
      await producer.send({
        topic: p.topics.canonical,
        acks: -1,
        messages: records.slice(i, i + 500).map((r) => ('kind' in r ? { key: r.customer_id, value: p.canonical.encode(r) } : r)),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Delivered events of the expected people, counted (a repeat would count twice). */
export function deliveredCount(people: EmulatedPerson[], expected: Map<string, string[]>): number {
  let n = 0;
  for (const person of people) if (person.id !== null && expected.has(person.id)) n += person.events.length;
  return n;
}

export function expectedTotal(expected: Map<string, string[]>): number {
  let n = 0;
  for (const ids of expected.values()) n += ids.length;
  return n;
}

/** Every expected person holds exactly their events: all present, in order, none twice. */
export function expectComplete(people: EmulatedPerson[], expected: Map<string, string[]>): void {
  const byId = new Map(people.filter((p) => p.id !== null).map((p) => [p.id!, p]));
  const wrong: string[] = [];
  for (const [id, ids] of expected) {
    const got = byId.get(id)?.events.map((e) => e.id) ?? [];
    if (got.length !== ids.length || got.some((g, i) => g !== ids[i])) wrong.push(`${id}: expected ${ids.length} [${ids.join(',')}] got ${got.length} [${got.join(',')}]`);
    const unique = new Set(got);
    expect(unique.size, `${id} has a repeated event id`).toBe(got.length);
  }
  expect(wrong.slice(0, 5)).toEqual([]);
}

export async function dlqOffsets(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(kafka: Kafka, topics: Topics): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  // The sink creates sink.receipt-batches itself (receipts are on by default).
  await admin.deleteTopics({ topics: [topics.canonical, topics.dlq, topics.receipts] }).catch(() => undefined);
  await admin.disconnect();
}

export async function startTestSink(p: TestPipeline, trackUrl: string, extra: Record<string, string> = {}): Promise<SinkService> {
  return startSink(loadSinkConfig(sinkEnv(p, trackUrl, extra)), quietLogger);
}

export { metricValue } from './helpers.ts';

/** Runs the replay CLI (services/sink/src/replay.ts) against a test pipeline's topics. */
export function runReplay(p: TestPipeline, args: string[]): ReturnType<typeof runCli> {
  const { brokers, registryUrl } = stackInfo();
  return runCli('services/sink/src/replay.ts', args, { KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: p.prefix, LOG_LEVEL: 'warn' });
}
