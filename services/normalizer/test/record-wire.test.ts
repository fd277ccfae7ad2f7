/**
 * What a record worker sends back is what the main thread would have made itself: every record's
 * result survives the trip (in one Avro buffer, or as objects when something cannot be encoded),
 * its bytes, key and coordinates put back and its candidates sharing one origin, over the
 * synthetic stream the benchmarks and exactly-once tests use, the fixture journey and the store
 * and subscription webhooks.
 */
import { describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import { originOf } from '../src/stages/candidate.ts';
import type { RecordResult } from '../src/stages/pipeline.ts';
import type { StatelessInput } from '../src/stages/stateless.ts';
import { fromWire, toWire } from '../src/stages/record-wire.ts';
import { appInput, fixture, journeyMessages, pipeline, rechargeInput, shopifyInput } from './helpers.ts';
import { syntheticStream } from './synthetic-stream.ts';

type Raw = KafkaMessage & { value: Buffer };

const TOPIC = 'raw.app';
const PARTITION = 1;

/** Steps 2-8 of each input as the record stage runs them (pipeline.ts), without the decode. */
function resultsOf(inputs: StatelessInput[]): { results: RecordResult[]; messages: Raw[] } {
  const stages = pipeline();
  const messages: Raw[] = [];
  const results = inputs.map((input, i): RecordResult => {
    const message = { offset: String(i), key: i % 3 === 0 ? null : Buffer.from(`key-${i}`), value: Buffer.from(`raw ${i}`) } as Raw;
    messages.push(message);
    const at = { topic: TOPIC, partition: PARTITION, offset: message.offset, key: message.key };
    const out = stages.process({ ...input, coordinates: at });
    const origin = originOf(at, out.seen.sourceEvent);
    for (const c of out.candidates) c.origin = origin;
    return {
      at, source: input.source,
      quarantined: out.quarantine ? { source: input.source, at, original: message.value, verdict: out.quarantine } : null,
      drops: out.drops, candidates: out.candidates, seen: out.seen,
    };
  });
  return { results, messages };
}

/** Through a worker's reply and back (structuredClone stands for postMessage). */
function roundTrip(results: RecordResult[], messages: Raw[]): { form: string; back: RecordResult[] } {
  const wire = structuredClone(toWire(results));
  return { form: 'packed' in wire ? 'packed' : 'objects', back: fromWire(wire, TOPIC, PARTITION, messages) };
}

const definedKeys = (o: object): string[] => Object.entries(o).filter(([, v]) => v !== undefined).map(([k]) => k).sort();

/** Equal values, and no property that was absent comes back as null, nor the other way round. */
function expectSame(back: RecordResult[], results: RecordResult[], messages: Raw[]): void {
  expect(back).toEqual(results);
  back.forEach((r, i) => {
    const sent = results[i]!;
    expect(r.drops.map(definedKeys)).toEqual(sent.drops.map(definedKeys));
    expect(r.candidates.map(definedKeys)).toEqual(sent.candidates.map(definedKeys));
    expect(r.candidates.map((c) => definedKeys(c.identifiers))).toEqual(sent.candidates.map((c) => definedKeys(c.identifiers)));
    expect(r.seen.identifiers.map(definedKeys)).toEqual(sent.seen.identifiers.map(definedKeys));
    // One origin per record, as the audit finds a record's decisions by it.
    for (const c of r.candidates) expect(c.origin).toBe(r.candidates[0]!.origin);
    if (r.quarantined) expect(r.quarantined.original).toBe(messages[i]!.value);
    expect(r.at.key).toBe(messages[i]!.key ?? null);
  });
}

const webhooks = (): StatelessInput[] => [
  shopifyInput('orders/create', fixture('shopify/orders-create.json')),
  shopifyInput('carts/update', fixture('shopify/carts-update.json')),
  shopifyInput('checkouts/create', fixture('shopify/checkouts-create.json')),
  shopifyInput('customers/create', fixture('shopify/customers-create.json')),
  rechargeInput('charge/paid', fixture('recharge/charge-paid.json')),
  rechargeInput('subscription/created', fixture('recharge/subscription-created.json')),
];

describe('record results between threads', () => {
  it('come back equal for the synthetic stream, in one Avro buffer', () => {
    const records = syntheticStream({ appEvents: 3_000, people: 300, duplicateRate: 0.05, anonymousRate: 0.2, shopifyOrders: 0, orderDuplicateRate: 0 });
    const inputs = records.filter((r) => r.source === 'app').map((r): StatelessInput => ({ source: 'app', envelope: r.value, schemaVersion: 1, coordinates: { topic: TOPIC, partition: 0, offset: '0', key: null }, receivedAt: r.value.received_at }));
    const { results, messages } = resultsOf(inputs);
    expect(results.flatMap((r) => r.candidates).length).toBeGreaterThan(2_900);
    const { form, back } = roundTrip(results, messages);
    expect(form).toBe('packed');
    expectSame(back, results, messages);
  });

  it('come back equal from a slice larger than the worker\'s first encoding buffer (1 MiB)', () => {
    const records = syntheticStream({ appEvents: 8_000, people: 500, duplicateRate: 0, anonymousRate: 0.2, shopifyOrders: 0, orderDuplicateRate: 0 });
    const inputs = records.filter((r) => r.source === 'app').map((r): StatelessInput => ({ source: 'app', envelope: r.value, schemaVersion: 1, coordinates: { topic: TOPIC, partition: 0, offset: '0', key: null }, receivedAt: r.value.received_at }));
    const { results, messages } = resultsOf(inputs);
    const wire = toWire(results);
    expect('packed' in wire && wire.packed.byteLength).toBeGreaterThan(1024 * 1024);
    expectSame(fromWire(structuredClone(wire), TOPIC, PARTITION, messages), results, messages);
  });

  it('come back equal for the fixture journey and the webhooks: quarantined records with their own bytes, drops, cart lines', () => {
    const inputs = [
      ...journeyMessages().map((m) => appInput(m)),
      appInput({ type: 'track', event: 'Order Completed', properties: {} }),
      appInput({ type: 'track', event: 'Product Viewed', userId: 'u-1', context: { userAgent: 'Googlebot/2.1 (+http://www.google.com/bot.html)' } }),
      ...webhooks(),
    ];
    const { results, messages } = resultsOf(inputs);
    expect(results.some((r) => r.quarantined)).toBe(true);
    expect(results.some((r) => r.drops.length > 0)).toBe(true);
    expect(results.some((r) => r.candidates.some((c) => c.cartSnapshot !== undefined))).toBe(true);
    const { form, back } = roundTrip(results, messages);
    expect(form).toBe('packed');
    expectSame(back, results, messages);
  });

  it('come back equal as objects when an event cannot be encoded, which then reaches the output encoder as it is', () => {
    const { results, messages } = resultsOf(journeyMessages().map((m) => appInput(m)));
    const broken = results.find((r) => r.candidates.length > 0)!.candidates[0]!;
    broken.event = { ...broken.event, name: 42 as unknown as string };
    const { form, back } = roundTrip(results, messages);
    expect(form).toBe('objects');
    expectSame(back, results, messages);
  });
});
