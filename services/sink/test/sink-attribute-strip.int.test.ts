/**
 * Customer.io refuses an identify because of one attribute (an ISO created_at). Through the real
 * broker into the emulator: the identify lands without it (name, plan, the anonymous-id link and
 * the anonymous cart merged), and only the refused attribute goes to sink.dlq with Customer.io's error.
 * Its replay sends that attribute alone: a later identify's values stay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from '@cio-pipeline/core';
import { testKafka } from '../../../test/support/kafka.ts';
import { readTopic } from '../../../test/support/read-topic.ts';
import {
  canonicalEvent, deleteTopics, produceCanonical, runReplay, startTestEmulator, startTestSink, testPipeline, type EmulatedPerson, type TestEmulator,
} from './int-support.ts';
import { eventually } from '../../../test/support/eventually.ts';

describe('sink strips the attribute Customer.io refuses', () => {
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

  for (const api of ['v2', 'v1'] as const) {
    it(`${api}: an identify with an ISO created_at lands whole but for created_at, which is dead-lettered`, async () => {
      const p = await testPipeline(`sink-strip-${api}`);
      const sink = await startTestSink(p, emu.url, { SINK_API: api });
      cleanups.push(async () => {
        await sink.stop(2_000);
        await deleteTopics(kafka, p.topics);
      });
      const who = `strip-${api}`;
      const anon = `anon-${api}`;
      // An anonymous cart first, then the identify that links it, then an event of the person.
      const cart = canonicalEvent(who, 1, { customer_id: null, anonymous_id: anon, name: 'added_to_cart' });
      const ident = canonicalEvent(who, 2, {
        kind: 'identify', name: 'identify', email: `${who}@example.com`, anonymous_id: anon, properties: {},
        attributes: { created_at: '2024-06-01T10:00:00Z', first_name: 'Ann', plan: 'tea-club' },
      });
      const after = canonicalEvent(who, 3, { name: 'checkout_started' });
      await produceCanonical(kafka, p, [{ key: anon, value: p.canonical.encode(cart) }, ident, after]);

      const people = await eventually('the person with both events', () => emu.people(), (ps) => (ps.find((x) => x.id === who)?.events.length ?? 0) >= 2, { timeoutMs: 60_000, intervalMs: 200 });
      const person = people.find((x) => x.id === who)! as EmulatedPerson & { anonymous_ids: string[] };
      expect(person.id).toBe(who);
      expect(person.email).toBe(`${who}@example.com`);
      expect(person.anonymous_ids).toEqual([anon]);
      expect(person.attributes).toEqual({ first_name: 'Ann', plan: 'tea-club' });
      expect(person.events.map((e) => [e.name, e.id])).toEqual([['added_to_cart', cart.event_id], ['checkout_started', after.event_id]]);

      const letters = await readTopic(kafka, p.topics.dlq, p.dlq, { until: (all) => all.length >= 1, settleMs: 1000 });
      expect(letters).toHaveLength(1);
      const letter = letters[0]!.value;
      expect(letter).toMatchObject({
        reason: 'attribute_rejected',
        event_id: ident.event_id,
        customer_key: who,
        status: api === 'v2' ? 207 : 400,
        request_item: JSON.stringify({ attributes: { created_at: '2024-06-01T10:00:00Z' } }),
        attempts: 1,
      });
      expect(letter.error).toMatch(/created_at/);
      expect(letter.error).toMatch(/unix seconds/);
      expect((await p.canonical.decode(letter.original)).value.event_id).toBe(ident.event_id);
      // Customer.io saw the refused identify, then the stripped one.
      const puts = (await emu.requests()).filter((r) => (api === 'v1' ? r.method === 'PUT' && r.path.endsWith(`/${who}`) : r.status === 207));
      expect(puts.some((r) => r.status === (api === 'v1' ? 400 : 207))).toBe(true);

      // A later identify changes the plan; a replay of the letter then sends the refused attribute
      // alone (refused again here: its value did not change), never the plan it was sent with.
      const newer = canonicalEvent(who, 4, { kind: 'identify', name: 'identify', email: `${who}@example.com`, properties: {}, attributes: { plan: 'pro' } });
      await produceCanonical(kafka, p, [newer]);
      await eventually('the newer plan', () => emu.people(), (ps) => ps.find((x) => x.id === who)?.attributes['plan'] === 'pro', { timeoutMs: 30_000, intervalMs: 200 });
      const sent = (await emu.requests()).length;
      const run = await runReplay(p, ['--reason', 'attribute_rejected']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('matched 1, replayed 1, errors 0');
      // Refused, then sent without it: two requests, and a second letter.
      await eventually('the replay refused and re-sent', () => emu.requests(), (rs) => rs.length >= sent + 2, { timeoutMs: 30_000, intervalMs: 200 });
      const again = await readTopic(kafka, p.topics.dlq, p.dlq, { until: (all) => all.length >= 2, settleMs: 1000 });
      expect(again.map((l) => [l.value.reason, l.value.request_item])).toEqual([
        ['attribute_rejected', JSON.stringify({ attributes: { created_at: '2024-06-01T10:00:00Z' } })],
        ['attribute_rejected', JSON.stringify({ attributes: { created_at: '2024-06-01T10:00:00Z' } })],
      ]);
      const replayedTo = (await emu.people()).find((x) => x.id === who)!;
      expect(replayedTo.attributes).toEqual({ first_name: 'Ann', plan: 'pro' });
      expect(replayedTo.email).toBe(`${who}@example.com`);
    });
  }
});
