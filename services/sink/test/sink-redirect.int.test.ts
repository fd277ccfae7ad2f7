/**
 * Customer.io redirects a call to the other region's host. Through the real broker: the sink
 * follows the redirect within Customer.io's hosts (here: the configured emulator host), nothing is
 * dead-lettered, and delivery goes on at the target; a redirect elsewhere halts like a 401.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from '@cio-pipeline/core';
import { testKafka } from '../../../test/support/kafka.ts';
import type { SinkService } from '../src/app.ts';
import {
  deleteTopics, deliveredCount, dlqOffsets, expectComplete, expectedTotal, journeys, produceCanonical, startTestEmulator, startTestSink,
  testPipeline, type TestEmulator, type TestPipeline,
} from './int-support.ts';
import { eventually } from '../../../test/support/eventually.ts';

describe('sink behind a Customer.io redirect', () => {
  let kafka: Kafka;
  let us: TestEmulator;
  let eu: TestEmulator;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    kafka = testKafka();
    us = await startTestEmulator();
    eu = await startTestEmulator();
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await us?.close();
    await eu?.close();
  });

  async function sinkFor(name: string, extra: Record<string, string> = {}): Promise<{ p: TestPipeline; sink: SinkService }> {
    const p = await testPipeline(name);
    const sink = await startTestSink(p, us.url, extra);
    cleanups.push(async () => {
      await sink.stop(2_000);
      await deleteTopics(kafka, p.topics);
    });
    return { p, sink };
  }

  for (const [status, api] of [[307, 'v2'], [308, 'v1']] as const) {
    it(`follows a ${status} to the account's region (${api}): everything lands there, nothing dead-lettered`, async () => {
      await us.setFaults({ redirect_to: eu.url, redirect_status: status });
      const { p } = await sinkFor(`sink-redirect-${status}`, { SINK_API: api });
      const tag = `redir-${status}`;
      const batch = journeys(tag, 25, 4);
      await produceCanonical(kafka, p, batch.events);
      const total = expectedTotal(batch.expected);
      const people = await eventually(`${total} events at the target`, () => eu.people(), (ps) => deliveredCount(ps, batch.expected) >= total, { timeoutMs: 60_000, intervalMs: 200 });
      expectComplete(people, batch.expected);
      expect(people.find((x) => x.id === `${tag}-3`)).toMatchObject({ email: `${tag}-3@example.com`, attributes: { plan: 'tea-club' } });
      expect(deliveredCount(await us.people(), batch.expected)).toBe(0);
      const redirected = (await us.requests()).filter((r) => r.status === status);
      expect(redirected.length).toBeGreaterThan(0);
      if (status === 308) {
        // Permanent: once answered, later calls go straight to the target.
        const more = journeys(`${tag}-later`, 10, 2);
        await produceCanonical(kafka, p, more.events);
        const later = expectedTotal(more.expected);
        await eventually(`${later} later events at the target`, () => eu.people(), (ps) => deliveredCount(ps, more.expected) >= later, { timeoutMs: 60_000, intervalMs: 200 });
        expect((await us.requests()).filter((r) => r.status === status)).toHaveLength(redirected.length);
      }
      expect(await dlqOffsets(kafka, p.topics.dlq)).toBe(0);
      await us.setFaults({ redirect_to: null });
    });
  }

  it('halts on a redirect outside the trusted hosts, dead-letters nothing, and resumes once it is gone', async () => {
    // Same emulator under another host name: not the configured host, so not trusted with the key.
    await us.setFaults({ redirect_to: eu.url.replace('127.0.0.1', 'localhost'), redirect_status: 302 });
    const { p, sink } = await sinkFor('sink-redirect-foreign', { SINK_AUTH_PROBE_MS: '200' });
    const batch = journeys('redir-foreign', 10, 2);
    await produceCanonical(kafka, p, batch.events);
    await eventually('the sink to halt', async () => sink.isHalted(), (h) => h, { timeoutMs: 30_000, intervalMs: 200 });
    const before = (await eu.requests()).length;
    await eventually('three refused probes', () => us.requests(), (rs) => rs.filter((r) => r.status === 302).length >= 3, { timeoutMs: 30_000, intervalMs: 200 });
    expect((await eu.requests()).length).toBe(before);
    expect(await dlqOffsets(kafka, p.topics.dlq)).toBe(0);

    await us.setFaults({ redirect_to: null });
    const total = expectedTotal(batch.expected);
    const people = await eventually(`${total} events at the emulator`, () => us.people(), (ps) => deliveredCount(ps, batch.expected) >= total, { timeoutMs: 60_000, intervalMs: 200 });
    expectComplete(people, batch.expected);
    expect(sink.isHalted()).toBe(false);
    expect(await dlqOffsets(kafka, p.topics.dlq)).toBe(0);
  });
});
