/**
 * Dead letters through the real broker: events Customer.io rejects and records that cannot be
 * decoded land in sink.dlq with status, error and source coordinates while everything else flows;
 * a key that keeps failing is parked there; and the replay CLI re-delivers once the cause is fixed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from '@cio-pipeline/core';
import { testKafka } from '../../../test/support/kafka.ts';
import { readTopic } from '../../../test/support/read-topic.ts';
import type { SinkService } from '../src/app.ts';
import {
  canonicalEvent, deleteTopics, runReplay, deliveredCount, dlqOffsets, expectComplete, expectedTotal, identify, journeys, metricValue, produceCanonical,
  startTestEmulator, startTestSink, testPipeline, type TestEmulator, type TestPipeline,
} from './int-support.ts';
import { eventually } from '../../../test/support/eventually.ts';

describe('sink dead letters and replay', () => {
  let kafka: Kafka;
  let emu: TestEmulator;
  let p: TestPipeline;
  let sink: SinkService;

  beforeAll(async () => {
    kafka = testKafka();
    emu = await startTestEmulator();
    p = await testPipeline('sink-dlq');
    sink = await startTestSink(p, emu.url, { SINK_PARK_AFTER_MS: '1500', SINK_MAX_BATCH_ITEMS: '50' });
  });

  afterAll(async () => {
    await sink?.stop(2_000);
    await emu?.close();
    if (p) await deleteTopics(kafka, p.topics);
  });

  it('dead-letters rejected and undecodable records with their coordinates while the rest flow', async () => {
    const good = journeys('dl-good', 60, 4);
    const longName = canonicalEvent('dl-bad-1', 2, { name: 'n'.repeat(101) });
    const blankName = canonicalEvent('dl-bad-1', 3, { name: ' ' });
    const bigAttribute = identify('dl-bad-2', 1, { bio: 'b'.repeat(1001) });
    const bad1 = [canonicalEvent('dl-bad-1', 1), longName, blankName, canonicalEvent('dl-bad-1', 4)];
    const bad2 = [canonicalEvent('dl-bad-2', 0), bigAttribute, canonicalEvent('dl-bad-2', 2)];
    const garbage = { key: 'dl-garbage', value: Buffer.from('not avro at all') };
    const unknownSchema = { key: 'dl-garbage', value: Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2, 3]) };
    await produceCanonical(kafka, p, [...good.events.slice(0, 100), ...bad1, garbage, ...bad2, unknownSchema, ...good.events.slice(100)]);

    const expected = new Map(good.expected);
    // The bad persons keep their valid events, in order: a rejected event blocks no one.
    expected.set('dl-bad-1', [bad1[0]!.event_id, bad1[3]!.event_id]);
    expected.set('dl-bad-2', [bad2[0]!.event_id, bad2[2]!.event_id]);
    const total = expectedTotal(expected);
    const people = await eventually('valid events delivered', () => emu.people(), (ps) => deliveredCount(ps, expected) >= total, { timeoutMs: 60_000, intervalMs: 200 });
    expectComplete(people, expected);

    const letters = await readTopic(kafka, p.topics.dlq, p.dlq, { until: (all) => all.length >= 5, settleMs: 1000 });
    expect(letters).toHaveLength(5);
    const rejected = letters.filter((l) => l.value.reason === 'rejected').map((l) => l.value);
    expect(rejected.map((l) => l.event_id).sort()).toEqual([longName.event_id, blankName.event_id].sort());
    for (const l of rejected) {
      expect(l.status).toBe(207); // v2 batch: the item, not the batch, was refused
      expect(l.error).toMatch(/too_long|required|too_large/);
      expect(l.request_item).toContain(l.event_id);
      expect(l.source_topic).toBe(p.topics.canonical);
      expect(l.source_partition).toBeGreaterThanOrEqual(0);
      expect(BigInt(l.source_offset)).toBeGreaterThanOrEqual(0n);
      expect(l.attempts).toBe(1);
      expect((await p.canonical.decode(l.original)).value.event_id).toBe(l.event_id);
    }
    expect(rejected.find((l) => l.event_id === longName.event_id)!.error).toContain('name must be at most 100 bytes');
    // The identify with one oversized attribute: only that attribute is dead-lettered, the profile lands.
    const stripped = letters.filter((l) => l.value.reason === 'attribute_rejected').map((l) => l.value);
    expect(stripped).toHaveLength(1);
    expect(stripped[0]).toMatchObject({ event_id: bigAttribute.event_id, customer_key: 'dl-bad-2', status: 207, request_item: JSON.stringify({ attributes: { bio: 'b'.repeat(1001) } }) });
    expect(stripped[0]!.error).toContain('attributes.bio');
    const bad2Person = people.find((x) => x.id === 'dl-bad-2')!;
    expect(bad2Person.email).toBe('dl-bad-2@example.com');
    expect(bad2Person.attributes).toEqual({ plan: 'tea-club' });

    const undecodable = letters.filter((l) => l.value.reason === 'undecodable').map((l) => l.value);
    expect(undecodable).toHaveLength(2);
    expect(undecodable.map((l) => l.customer_key)).toEqual(['dl-garbage', 'dl-garbage']);
    expect(undecodable.map((l) => l.error).join('\n')).toMatch(/SERDE_CORRUPT/);
    expect(undecodable.map((l) => l.error).join('\n')).toMatch(/SERDE_UNKNOWN_SCHEMA/);
    expect(undecodable.some((l) => l.original.equals(garbage.value))).toBe(true);
    const m = await sink.metrics.deadLettered.get();
    expect(m.values.reduce((n, v) => n + v.value, 0)).toBe(5);

    // What Prometheus scrapes: each outcome under its closed labels, process metrics named as the
    // other services name theirs, and nothing left in flight once every dead letter is written.
    const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${sink.opsPort}/metrics`)).text();
    const text = await eventually('every outcome counted', scrape, (t) => metricValue(t, 'sink_events_delivered_total{kind="event"}') === total && metricValue(t, 'sink_events_in_flight') === 0, { timeoutMs: 60_000, intervalMs: 200 });
    expect(metricValue(text, 'sink_events_dead_lettered_total{status="207",reason="rejected"}')).toBe(2);
    expect(metricValue(text, 'sink_events_dead_lettered_total{status="207",reason="attribute_rejected"}')).toBe(1);
    expect(metricValue(text, 'sink_events_dead_lettered_total{status="none",reason="undecodable"}')).toBe(2);
    expect(metricValue(text, 'sink_events_delivered_total{kind="identify"}')).toBe(61); // 60 journeys + the stripped one
    expect(metricValue(text, 'sink_events_pending')).toBe(0);
    expect(metricValue(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(metricValue(text, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(text).not.toMatch(/^sink_process_|^process_process_/m);
  });

  it('parks a key that keeps failing, then replay re-delivers it once Customer.io is fixed', async () => {
    const since = new Date().toISOString();
    await emu.setFaults({ error_rate: 1, error_statuses: [503] });
    const parked = [identify('dl-park', 0), canonicalEvent('dl-park', 1), canonicalEvent('dl-park', 2), canonicalEvent('dl-park', 3)];
    await produceCanonical(kafka, p, parked);
    const letters = await readTopic(kafka, p.topics.dlq, p.dlq, { until: (all) => all.filter((l) => l.value.reason === 'parked').length >= 4, settleMs: 500, timeoutMs: 30_000 });
    const parkedLetters = letters.filter((l) => l.value.reason === 'parked').map((l) => l.value);
    expect(parkedLetters.map((l) => l.event_id)).toEqual(parked.map((e) => e.event_id));
    expect(parkedLetters[0]!.status).toBe(503);
    expect(parkedLetters[0]!.attempts).toBeGreaterThan(1);
    expect((await emu.people()).find((x) => x.id === 'dl-park')).toBeUndefined();

    // The cause is fixed (Customer.io answers again); a dry run only counts.
    await emu.setFaults({ error_rate: 0 });
    const dry = await runReplay(p, ['--reason', 'parked', '--since', since, '--dry-run']);
    expect(dry.stderr).toMatch(/\[#+\] 9\/9 100%/);
    expect(dry.stdout).toContain('dry run: read 9, matched 4, replayed 0, errors 0');
    expect(dry.code).toBe(0);
    expect(await dlqOffsets(kafka, p.topics.dlq)).toBe(9);

    const run = await runReplay(p, ['--reason', 'parked', '--since', since]);
    expect(run.stdout).toContain('read 9, matched 4, replayed 4, errors 0');
    expect(run.code).toBe(0);
    const want = new Map([['dl-park', parked.slice(1).map((e) => e.event_id)]]);
    const people = await eventually('the parked person delivered', () => emu.people(), (ps) => deliveredCount(ps, want) >= 3, { timeoutMs: 30_000, intervalMs: 200 });
    expectComplete(people, want);
    expect(people.find((x) => x.id === 'dl-park')!.email).toBe('dl-park@example.com');

    // A second replay is harmless: the deterministic ids make Customer.io ignore the repeats.
    const again = await runReplay(p, ['--reason', 'parked', '--event', 'product_viewed']);
    expect(again.stdout).toContain('matched 3, replayed 3');
    await new Promise((r) => setTimeout(r, 1500));
    expectComplete(await emu.people(), want);
  });

  it('rejects bad usage with exit code 2', async () => {
    const bad = await runReplay(p, ['--reason', 'nope', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--reason must be one of rejected, parked, undecodable');
    expect(bad.stderr).toContain('--since must be an ISO date-time');
  });
});
