/**
 * Recovery (#15): the broker dies mid-stream and comes back; the sink resumes on its own and
 * completes delivery with nothing lost, nothing repeated and each person's order kept, and the
 * dead letters written after the restart (a fresh producer) land once each. Prints the time from
 * the broker accepting connections again to the first event delivered (a figure, not an assertion).
 * Runs its own native stack, so killing its broker does not disturb the other integration tests.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde, createKafka, createRegistry, ensureTopics, loadAvroSchema, topicNames, valueSubject, type Kafka } from '@cio-pipeline/core';
import type { CanonicalEvent, DeadLetter } from '@cio-pipeline/core/generated/avro-types';
import { freePort, restartKafka, startStack, stopKafka, stopStack, wipeStack, type StackOptions } from '../../../scripts/local-stack.ts';
import { quietLogger, uniqueName } from '../../../test/support/kafka.ts';
import { readTopic } from '../../../test/support/read-topic.ts';
import { startSink, type SinkService } from '../src/app.ts';
import { loadSinkConfig } from '../src/config.ts';
import {
  canonicalEvent, deliveredCount, expectComplete, expectedTotal, journeys, sinkEnv, startTestEmulator,
  type TestEmulator, type TestPipeline,
} from './int-support.ts';
import { eventually } from '../../../test/support/eventually.ts';

let stack: StackOptions;
let brokers: string;
let registryUrl: string;
let kafka: Kafka;
let emu: TestEmulator;
let p: TestPipeline;
let sink: SinkService | undefined;
/** How long the broker stays down. */
const OUTAGE_MS = 45_000;

/** True once a TCP connection to the port is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

beforeAll(async () => {
  stack = { name: uniqueName('sink-outage-stack'), kafkaPort: await freePort(), controllerPort: await freePort(), registryPort: await freePort(), detached: false };
  const running = await startStack(stack);
  brokers = running.brokers;
  registryUrl = running.registryUrl;
  kafka = createKafka({ brokers: [brokers], clientId: uniqueName('sink-outage-test'), logger: quietLogger });
  const prefix = `${uniqueName('sink-outage')}.`;
  const topics = topicNames(prefix);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [{ topic: topics.canonical, partitions: 3 }, { topic: topics.dlq, partitions: 3 }]);
  await admin.disconnect();
  const registry = createRegistry(registryUrl);
  const canonical = new AvroSerde<CanonicalEvent>({ registry, registryUrl, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
  await canonical.init({ register: true, compatibility: 'FULL_TRANSITIVE' });
  const dlq = new AvroSerde<DeadLetter>({ registry, registryUrl, subject: valueSubject(topics.dlq), schema: loadAvroSchema('dlq-record') });
  p = { prefix, topics, groupId: uniqueName('sink'), canonical, dlq };
  emu = await startTestEmulator();
}, 240_000);

afterAll(async () => {
  await sink?.stop(2_000).catch(() => undefined);
  await emu?.close();
  if (stack !== undefined) {
    await stopStack(stack.name);
    wipeStack(stack.name);
  }
}, 60_000);

describe('sink through a broker outage', { timeout: 240_000 }, () => {
  it('resumes once the broker is back and completes delivery: nothing lost, repeated or reordered', async () => {
    // Every 8th event of a person is refused by Customer.io (name too long): dead letters before,
    // during and after the outage.
    const { events, expected } = journeys('outage', 60, 25);
    const refused = new Set<string>();
    const stream = events.map((e) => {
      const seq = e.properties['seq'] as number | undefined;
      if (e.kind !== 'event' || seq === undefined || seq % 8 !== 5) return e;
      const bad = canonicalEvent(e.customer_id!, seq, { name: 'n'.repeat(101) });
      refused.add(bad.event_id);
      expected.set(e.customer_id!, expected.get(e.customer_id!)!.filter((id) => id !== e.event_id));
      return bad;
    });
    const total = expectedTotal(expected);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let i = 0; i < stream.length; i += 500) {
      await producer.send({ topic: p.topics.canonical, acks: -1, messages: stream.slice(i, i + 500).map((e) => ({ key: e.customer_id, value: p.canonical.encode(e) })) });
    }
    await producer.disconnect();

    // Slow enough that the broker dies mid-stream: a small window in memory, a modest rate.
    await emu.setFaults({ latency_ms: 20 });
    sink = await startSink(loadSinkConfig(sinkEnv(p, emu.url, {
      KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl,
      SINK_RATE_LIMIT_PER_SEC: '40', SINK_MAX_BATCH_ITEMS: '10', SINK_MAX_IN_FLIGHT_EVENTS: '60', SINK_CONCURRENCY: '4',
    })), quietLogger);
    const delivered = async (): Promise<number> => deliveredCount(await emu.people(), expected);
    await eventually('a first part delivered', delivered, (n) => n >= 200, { timeoutMs: 90_000, intervalMs: 50 });

    await stopKafka(stack.name, 'SIGKILL');
    const killedAt = Date.now();
    // The events already in memory finish; then nothing moves until the broker is back.
    let before = await delivered();
    await eventually('delivery to stall without the broker', async () => {
      await new Promise((r) => setTimeout(r, 2_000));
      const now = await delivered();
      const stalled = now === before;
      before = now;
      return stalled;
    }, (stalled) => stalled, { timeoutMs: 60_000, intervalMs: 0 });
    expect(before).toBeLessThan(total);
    // Long enough that the clients exhaust their first retries and back off far (KafkaJS's own
    // waits grow to 30 s): the outage a real broker restart or failover causes.
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - killedAt))));

    const restarted = restartKafka(stack);
    const acceptingAt = await eventually('the broker to accept connections', () => accepts(stack.kafkaPort), { timeoutMs: 120_000, intervalMs: 20 }).then(() => performance.now());
    const firstDeliveryAt = await eventually('the first delivery after the restart', async () => (await delivered()) > before, { timeoutMs: 120_000, intervalMs: 20 }).then(() => performance.now());
    await restarted;

    const people = await eventually('every event delivered', () => emu.people(), (ps) => deliveredCount(ps, expected) >= total, { timeoutMs: 120_000, intervalMs: 200 });
    expectComplete(people, expected);

    const letters = await readTopic(kafka, p.topics.dlq, p.dlq, { until: (all) => all.length >= refused.size, settleMs: 2_000 });
    expect(letters.map((l) => l.value.event_id).sort()).toEqual([...refused].sort());

    const seconds = (firstDeliveryAt - acceptingAt) / 1000;
    process.stdout.write(`[sink-broker-outage] broker accepting connections -> first event delivered: ${seconds.toFixed(2)} s (target <= 10 s); ${before} of ${total} delivered before the restart\n`);
  });
});
