/**
 * The monitor against the real broker and registry: valid checkouts, then an injected burst of
 * quarantined ones fires the alert to a loopback webhook; a flood of valid events resolves it.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { AvroSerde, createLogger, createRegistry, loadAvroSchema, topicNames, valueSubject } from '@cio-pipeline/core';
import type { CanonicalEvent, DeadLetter, QuarantineRecord } from '@cio-pipeline/core/generated/avro-types';
import type { Producer } from 'kafkajs';
import { eventually } from '../../../test/support/eventually.ts';
import { createTestTopics, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { loadMonitorConfig } from '../src/config.ts';
import { createMonitorMetrics } from '../src/metrics.ts';
import { InvalidDataMonitor } from '../src/monitor.ts';
import { WebhookNotifier } from '../src/webhook-notifier.ts';

interface Hook { url: string; texts: string[]; close(): Promise<void> }

async function startHook(): Promise<Hook> {
  const texts: string[] = [];
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => { data += c.toString(); });
    req.on('end', () => {
      texts.push((JSON.parse(data) as { text: string }).text);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/services/T/B/secret`, texts, close: () => new Promise((r) => server.close(() => r())) };
}

let seq = 0;
function canonical(name: string): CanonicalEvent {
  const n = ++seq;
  return {
    event_id: `01JTEST${String(n).padStart(19, '0')}`, kind: 'event', name, customer_id: `c-${n % 50}`, anonymous_id: null,
    email: null, occurred_at: Date.now(), received_at: Date.now(), source: 'shopify', source_event_id: `s-${n}`,
    source_type: 'checkouts/create', tracking_version: '1.0.0', schema_version: 1, tier: 1, validation_warnings: [],
    commerce: null, properties: {}, attributes: {}, merge: null,
  };
}

function quarantined(): QuarantineRecord {
  const n = ++seq;
  return {
    quarantined_at: Date.now(), source: 'shopify', source_topic: 'raw.shopify', source_partition: 0, source_offset: String(n),
    source_key: null, event_name: 'checkout_started', tier: 1, tracking_version: '1.0.0',
    reasons: [{ code: 'missing_required_property', field: 'checkout_id', message: 'checkout_id is required' }],
    original: Buffer.from([0, 0, 0, 0, 1, 2]),
  };
}

function deadLetter(reason: 'rejected' | 'parked', original: Buffer): DeadLetter {
  const n = ++seq;
  return {
    dead_lettered_at: Date.now(), reason, event_id: `e-${n}`, event_name: 'checkout_started', customer_key: `c-${n}`,
    status: reason === 'rejected' ? 400 : 503, error: 'bad', request_item: null, attempts: 1, first_attempt_at: null,
    source_topic: 'events.canonical', source_partition: 0, source_offset: String(n), original,
  };
}

/** Writes in one committed transaction (as the normalizer does); `abort` leaves it invisible to read_committed. */
async function sendTx(producer: Producer, topic: string, values: Buffer[], abort = false): Promise<void> {
  const tx = await producer.transaction();
  await tx.send({ topic, messages: values.map((value, i) => ({ key: `k${i % 7}`, value })) });
  if (abort) await tx.abort();
  else await tx.commit();
}

describe('monitor (integration)', () => {
  let cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.reverse()) await c();
    cleanup = [];
  });

  it('fires on a burst of quarantined checkouts, ignores aborted writes and parked letters, and resolves when valid events dilute it', async () => {
    const kafka = testKafka();
    const prefix = `${uniqueName('mon')}.`;
    const topics = topicNames(prefix);
    cleanup.push(await createTestTopics(kafka, [topics.canonical, topics.quarantine, topics.dlq].map((topic) => ({ topic, partitions: 1 }))));
    const { brokers, registryUrl } = stackInfo();
    const registry = createRegistry(registryUrl);
    const canonicalSerde = new AvroSerde<CanonicalEvent>({ registry, registryUrl, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
    const quarantineSerde = new AvroSerde<QuarantineRecord>({ registry, registryUrl, subject: valueSubject(topics.quarantine), schema: loadAvroSchema('quarantine-record') });
    const dlqSerde = new AvroSerde<DeadLetter>({ registry, registryUrl, subject: valueSubject(topics.dlq), schema: loadAvroSchema('dlq-record') });
    for (const s of [canonicalSerde, quarantineSerde, dlqSerde]) await s.init({ register: true, compatibility: 'FULL_TRANSITIVE' });

    const hook = await startHook();
    cleanup.push(hook.close);
    const config = loadMonitorConfig({
      KAFKA_BROKERS: brokers,
      SCHEMA_REGISTRY_URL: registryUrl,
      TOPIC_PREFIX: prefix,
      MONITOR_GROUP_ID: uniqueName('monitor'),
      MONITOR_FROM_BEGINNING: 'true',
      MONITOR_EVAL_INTERVAL_MS: '200',
      MONITOR_WEBHOOK_URL: hook.url,
      MONITOR_WEBHOOK_BACKOFF_MS: '50',
      // The default rule, with a shorter window so the test stays quick to reason about.
      MONITOR_RULES: JSON.stringify([{ name: 'checkout-and-purchase', events: ['checkout_started', 'order_completed'], threshold: 0.01, window_ms: 120000, buckets: 12, min_events: 20 }]),
    });
    const logger = createLogger('monitor-int', process.env['TEST_LOG_LEVEL'] ?? 'silent');
    const metrics = createMonitorMetrics();
    const monitor = new InvalidDataMonitor({ config, kafka, registry, logger, metrics, notifier: new WebhookNotifier({ ...config.webhook, logger, metrics }) });
    await monitor.start();
    cleanup.push(() => monitor.stop());
    await eventually('the monitor to join its group', () => monitor.ready(), { timeoutMs: 30_000, intervalMs: 100 });

    const counted = async (verdict: string): Promise<number> =>
      (await metrics.events.get()).values.filter((v) => v.labels.verdict === verdict).reduce((s, v) => s + v.value, 0);

    const producer = kafka.producer({ transactionalId: uniqueName('mon-tx'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    cleanup.push(() => producer.disconnect());

    // 1000 valid checkouts, 2 rejected by Customer.io (0.2%: below 1%) and 3 parked (not invalid data).
    await sendTx(producer, topics.canonical, Array.from({ length: 1000 }, (_, i) => canonicalSerde.encode(canonical(i % 2 ? 'checkout_started' : 'order_completed'))));
    const original = canonicalSerde.encode(canonical('checkout_started'));
    await sendTx(producer, topics.dlq, [...[1, 2].map(() => dlqSerde.encode(deadLetter('rejected', original))), ...[1, 2, 3].map(() => dlqSerde.encode(deadLetter('parked', original)))]);
    // An aborted burst must stay invisible (read_committed), or it alone would fire the alert.
    await sendTx(producer, topics.quarantine, Array.from({ length: 200 }, () => quarantineSerde.encode(quarantined())), true);
    await eventually('valid and dead-lettered events counted', async () => (await counted('valid')) === 1000 && (await counted('parked')) === 3 && (await counted('rejected')) === 2, { timeoutMs: 30_000, intervalMs: 100 });
    await new Promise((r) => setTimeout(r, 500)); // a few evaluations
    expect(hook.texts).toEqual([]);
    // The dead letters carry no source or tier: they come from the decoded original.
    expect((await metrics.events.get()).values.find((v) => v.labels.verdict === 'rejected')?.labels).toMatchObject({ source: 'shopify', tier: '1' });

    // The injected burst: 20 quarantined checkouts -> 22 invalid of 1020 = 2.2%.
    await sendTx(producer, topics.quarantine, Array.from({ length: 20 }, () => quarantineSerde.encode(quarantined())));
    await eventually('the firing alert at the webhook', () => hook.texts.length >= 1, { timeoutMs: 30_000, intervalMs: 100 });
    expect(hook.texts[0]).toMatch(/^:rotating_light: FIRING: invalid data checkout-and-purchase: .* above the 1\.0% threshold$/);
    await eventually('the whole burst counted', async () => (await counted('quarantined')) === 20, { timeoutMs: 30_000, intervalMs: 100 });
    monitor.evaluate();
    expect((await metrics.windowEvents.get()).values[0]?.value).toBe(1020);
    expect((await metrics.invalidShare.get()).values[0]?.value).toBeCloseTo(22 / 1020);
    expect((await metrics.alertFiring.get()).values[0]?.value).toBe(1);

    // The rate falls back: 4000 more valid events -> 22 of 5020 = 0.44%, below the 0.8% clear level.
    await sendTx(producer, topics.canonical, Array.from({ length: 4000 }, () => canonicalSerde.encode(canonical('checkout_started'))));
    await eventually('the resolved alert at the webhook', () => hook.texts.length >= 2, { timeoutMs: 30_000, intervalMs: 100 });
    expect(hook.texts[1]).toMatch(/^:white_check_mark: RESOLVED: invalid data checkout-and-purchase: .* back at or below 0\.80%$/);
    await eventually('every valid event counted', async () => (await counted('valid')) === 5000, { timeoutMs: 30_000, intervalMs: 100 });
    await new Promise((r) => setTimeout(r, 500));
    expect(hook.texts).toHaveLength(2); // fired once, resolved once: no flapping
    expect((await metrics.alertFiring.get()).values[0]?.value).toBe(0);
    expect((await metrics.invalidShare.get()).values[0]?.value).toBeCloseTo(22 / 5020);
    expect(await counted('quarantined')).toBe(20);
  });

  it('main.ts serves /readyz and /metrics and stops cleanly on SIGTERM', async () => {
    const prefix = `${uniqueName('mon-main')}.`;
    const { brokers, registryUrl } = stackInfo();
    const kafka = testKafka();
    const topics = topicNames(prefix);
    // The service creates its input topics itself; this only deletes them afterwards.
    cleanup.push(async () => {
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topics.canonical, topics.quarantine, topics.dlq] }).catch(() => undefined);
      await admin.disconnect();
    });
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const child = spawn(process.execPath, [main], {
      env: { ...process.env, KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, MONITOR_GROUP_ID: uniqueName('monitor'), MONITOR_OPS_PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanup.push(async () => { if (child.exitCode === null) child.kill('SIGKILL'); });

    await eventually('the ops port in the log', () => /"opsPort":\d+/.test(out), { timeoutMs: 30_000, intervalMs: 100 });
    const port = Number(/"opsPort":(\d+)/.exec(out)![1]);
    await eventually('/readyz 200', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200, { timeoutMs: 60_000, intervalMs: 100 });
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toContain('monitor_alert_firing{rule="checkout-and-purchase",group="all"} 0');
    expect(out).toContain('MONITOR_WEBHOOK_URL is not set');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('stopping');
  });
});
