/**
 * One workspace rate limit across sink instances (#15). Three sinks in one consumer group, each
 * configured with the workspace's limit, against an emulator enforcing that same limit: each takes
 * its partitions' share, so together they stay under it. Everything is delivered in order, and at
 * most 1% of the emulator's answers are 429 (each sink at the full limit drew 8% in a trial run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from '@cio-pipeline/core';
import { testKafka } from '../../../test/support/kafka.ts';
import type { SinkService } from '../src/app.ts';
import {
  deleteTopics, deliveredCount, expectComplete, expectedTotal, journeys, produceCanonical, startTestEmulator, startTestSink, testPipeline,
  type TestEmulator, type TestPipeline,
} from './int-support.ts';
import { eventually } from '../../../test/support/eventually.ts';

const LIMIT = 30;

describe('rate limit shared across sink instances', () => {
  let kafka: Kafka;
  let emu: TestEmulator;
  let p: TestPipeline;
  const sinks: SinkService[] = [];

  beforeAll(async () => {
    kafka = testKafka();
    emu = await startTestEmulator();
    p = await testPipeline('sink-rate-share'); // 3 partitions
  });

  afterAll(async () => {
    await Promise.all(sinks.map((s) => s.stop(2_000).catch(() => undefined)));
    await emu?.close();
    if (p) await deleteTopics(kafka, p.topics);
  });

  it('three sinks share the workspace limit by their partitions: at most 1% 429s, nothing lost or reordered', async () => {
    await emu.setFaults({ rate_limit_per_sec: LIMIT, retry_after: true });
    // v1: one request per event, so delivery is bound by the rate limit, not by batching.
    const env = { SINK_API: 'v1', SINK_RATE_LIMIT_PER_SEC: String(LIMIT), SINK_CONCURRENCY: '8' };
    for (let i = 0; i < 3; i++) sinks.push(await startTestSink(p, emu.url, env));
    const ceilings = () => sinks.map((s) => s.rateCeiling());
    // The group settles: one partition each, a third of the limit each.
    await eventually('each sink to hold a third of the limit', async () => ceilings(), (c) => c.every((x) => Math.abs(x - LIMIT / 3) < 1e-9), { timeoutMs: 60_000, intervalMs: 200 });
    expect(ceilings().reduce((a, b) => a + b)).toBeCloseTo(LIMIT);

    const before = (await emu.requests()).length;
    const load = journeys('share', 45, 5); // 270 requests: about 9 s at the limit
    await produceCanonical(kafka, p, load.events);
    const total = expectedTotal(load.expected);
    const people = await eventually(`${total} events at the emulator`, () => emu.people(), (ps) => deliveredCount(ps, load.expected) >= total, { timeoutMs: 90_000, intervalMs: 200 });
    expectComplete(people, load.expected);

    const answers = (await emu.requests()).slice(before);
    const throttled = answers.filter((r) => r.status === 429).length;
    expect(answers.length).toBeGreaterThanOrEqual(load.events.length);
    expect(throttled / answers.length).toBeLessThanOrEqual(0.01);
  });
});
