/**
 * The sink through the real broker and registry into the emulator, under the faults Customer.io
 * can show: random latency with concurrency, 429 storms, 5xx bursts, timeouts and resets, and bad
 * credentials. Each scenario asserts what Customer.io ends up holding: every event of every person,
 * in order, none missing, none twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from '@cio-pipeline/core';
import { testKafka } from '../../../test/support/kafka.ts';
import type { SinkService } from '../src/app.ts';
import {
  deleteTopics, deliveredCount, dlqOffsets, expectComplete, expectedTotal, journeys, metricValue, produceCanonical,
  startRandomLatencyProxy, startTestEmulator, startTestSink, testPipeline, type TestEmulator, type TestPipeline,
} from './int-support.ts';
import { eventually } from '../../../test/support/eventually.ts';

describe('sink delivery through the real broker into the emulator', () => {
  let kafka: Kafka;
  let emu: TestEmulator;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    kafka = testKafka();
    emu = await startTestEmulator();
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await emu?.close();
  });

  async function sinkFor(name: string, trackUrl: string, extra: Record<string, string> = {}): Promise<{ p: TestPipeline; sink: SinkService }> {
    const p = await testPipeline(name);
    const sink = await startTestSink(p, trackUrl, extra);
    cleanups.push(async () => {
      await sink.stop(2_000);
      await deleteTopics(kafka, p.topics);
    });
    return { p, sink };
  }

  async function deliveredAll(expected: Map<string, string[]>, timeoutMs = 60_000): Promise<void> {
    const total = expectedTotal(expected);
    const people = await eventually(`${total} events at the emulator`, () => emu.people(), (ps) => deliveredCount(ps, expected) >= total, { timeoutMs, intervalMs: 200 });
    expectComplete(people, expected);
  }

  it('keeps per-person order under concurrency and random latency (v2 batches and v1 calls)', async () => {
    const proxy = await startRandomLatencyProxy(emu.url, 40);
    cleanups.push(proxy.close);
    const v2 = await sinkFor('sink-order-v2', proxy.url, { SINK_CONCURRENCY: '8', SINK_MAX_BATCH_ITEMS: '25' });
    const v1 = await sinkFor('sink-order-v1', proxy.url, { SINK_API: 'v1', SINK_CONCURRENCY: '16', SINK_MAX_BATCH_ITEMS: '10' });
    const a = journeys('order-v2', 120, 6);
    const b = journeys('order-v1', 60, 5);
    // In chunks while the sinks run, so records arrive mid-delivery.
    for (let i = 0; i < a.events.length; i += 180) await produceCanonical(kafka, v2.p, a.events.slice(i, i + 180));
    for (let i = 0; i < b.events.length; i += 90) await produceCanonical(kafka, v1.p, b.events.slice(i, i + 90));
    await deliveredAll(a.expected);
    await deliveredAll(b.expected);
    const people = await emu.people();
    // Identify reached Customer.io (attributes and email on the profile).
    const someone = people.find((x) => x.id === 'order-v1-7')!;
    expect(someone.email).toBe('order-v1-7@example.com');
    expect(someone.attributes['plan']).toBe('tea-club');
    const delivered = (await v2.sink.metrics.delivered.get()).values.reduce((n, v) => n + v.value, 0);
    expect(delivered).toBeGreaterThanOrEqual(expectedTotal(a.expected) + 120);
  });

  it('rides out 429 storms, with and without Retry-After', async () => {
    const { p } = await sinkFor('sink-429', emu.url, { SINK_RATE_LIMIT_PER_SEC: '200', SINK_MAX_BATCH_ITEMS: '40', SINK_CONCURRENCY: '8' });
    await emu.setFaults({ rate_limit_per_sec: 8, retry_after: true });
    const withHeader = journeys('rl-ra', 80, 4);
    await produceCanonical(kafka, p, withHeader.events);
    await deliveredAll(withHeader.expected);

    await emu.setFaults({ rate_limit_per_sec: 8, retry_after: false });
    const withoutHeader = journeys('rl-nora', 80, 4);
    await produceCanonical(kafka, p, withoutHeader.events);
    await deliveredAll(withoutHeader.expected);
    await emu.setFaults({ rate_limit_per_sec: 0, retry_after: true });

    const throttled = (await emu.requests()).filter((r) => r.status === 429);
    expect(throttled.length).toBeGreaterThan(5);
    expect(await dlqOffsets(kafka, p.topics.dlq)).toBe(0);
  });

  it('retries through 5xx bursts, timeouts and connection resets without loss or repeats', async () => {
    const { p, sink } = await sinkFor('sink-5xx', emu.url, { SINK_REQUEST_TIMEOUT_MS: '400', SINK_MAX_BATCH_ITEMS: '30', SINK_CONCURRENCY: '8' });
    const before = (await emu.requests()).length;
    await emu.setFaults({ error_rate: 0.3, seed: 7 });
    const bursts = journeys('e5xx', 80, 5);
    await produceCanonical(kafka, p, bursts.events);
    await deliveredAll(bursts.expected);

    await emu.setFaults({ error_rate: 0.1, timeout_rate: 0.1, reset_rate: 0.1 });
    const flaky = journeys('eflaky', 80, 5);
    await produceCanonical(kafka, p, flaky.events);
    await deliveredAll(flaky.expected, 90_000);
    await emu.setFaults({ error_rate: 0, timeout_rate: 0, reset_rate: 0 });

    const faults = new Set((await emu.requests()).slice(before).map((r) => r.fault).filter(Boolean));
    expect([...faults].sort()).toEqual(['error', 'reset', 'timeout']);
    const retried = await sink.metrics.retried.get();
    expect(retried.values.reduce((n, v) => n + v.value, 0)).toBeGreaterThan(0);
    expect(await dlqOffsets(kafka, p.topics.dlq)).toBe(0);
  });

  it('halts loudly on 401: nothing delivered, nothing dead-lettered, not ready; resumes when fixed', async () => {
    const { p, sink } = await sinkFor('sink-401', emu.url);
    await emu.setFaults({ invalid_credentials: true });
    const before = (await emu.requests()).length;
    const batch = journeys('auth', 30, 3);
    await produceCanonical(kafka, p, batch.events);
    // Several probes refused (one every SINK_AUTH_PROBE_MS), and still nothing moved.
    await eventually('three refused probes', () => emu.requests(), (rs) => rs.slice(before).filter((r) => r.status === 401).length >= 3, { timeoutMs: 30_000, intervalMs: 200 });
    const ops = `http://127.0.0.1:${sink.opsPort}`;
    expect((await fetch(`${ops}/readyz`)).status).toBe(503);
    expect(metricValue(await (await fetch(`${ops}/metrics`)).text(), 'sink_halted')).toBe(1);
    expect(sink.isHalted()).toBe(true);
    expect(deliveredCount(await emu.people(), batch.expected)).toBe(0);
    expect(await dlqOffsets(kafka, p.topics.dlq)).toBe(0);

    await emu.setFaults({ invalid_credentials: false });
    await deliveredAll(batch.expected);
    expect((await fetch(`${ops}/readyz`)).status).toBe(200);
    expect(metricValue(await (await fetch(`${ops}/metrics`)).text(), 'sink_halted')).toBe(0);
    expect(await dlqOffsets(kafka, p.topics.dlq)).toBe(0);
  });
});
