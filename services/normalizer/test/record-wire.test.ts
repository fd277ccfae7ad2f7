/**
 * What a record worker sends back is what the main thread would have made itself: every record's
 * result survives the trip (events through Avro, bytes and keys put back), over the synthetic
 * stream the benchmarks and exactly-once tests use and the fixture journey.
 */
import { describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import type { RecordResult } from '../src/stages/pipeline.ts';
import { fromWire, toWire } from '../src/stages/record-wire.ts';
import { appInput, journeyMessages, pipeline } from './helpers.ts';
import { syntheticStream } from './synthetic-stream.ts';

type Raw = KafkaMessage & { value: Buffer };

function resultsOf(inputs: ReturnType<typeof appInput>[]): { results: RecordResult[]; messages: Raw[] } {
  const stages = pipeline();
  const messages: Raw[] = [];
  const results = inputs.map((input, i): RecordResult => {
    const message = { offset: String(i), key: Buffer.from(`key-${i}`), value: Buffer.from(`raw ${i}`) } as Raw;
    messages.push(message);
    const at = { topic: 'raw.app', partition: 1, offset: message.offset, key: message.key };
    const out = stages.process({ ...input, coordinates: at });
    return {
      at, source: input.source,
      quarantined: out.quarantine ? { source: input.source, at, original: message.value, verdict: out.quarantine } : null,
      drops: out.drops, candidates: out.candidates, seen: out.seen,
    };
  });
  return { results, messages };
}

describe('record results between threads', () => {
  it('come back equal for the synthetic stream', () => {
    const records = syntheticStream({ appEvents: 3_000, people: 300, duplicateRate: 0.05, anonymousRate: 0.2, shopifyOrders: 0, orderDuplicateRate: 0 });
    const inputs = records.filter((r) => r.source === 'app').map((r) => ({ source: 'app' as const, envelope: r.value, schemaVersion: 1, coordinates: { topic: 'raw.app', partition: 1, offset: '0', key: null }, receivedAt: r.value.received_at }));
    const { results, messages } = resultsOf(inputs);
    expect(results.flatMap((r) => r.candidates).length).toBeGreaterThan(2_900);
    const back = fromWire(structuredClone(toWire(results)), messages);
    expect(back).toEqual(results);
  });

  it('come back equal for the fixture journey, quarantined records with their own bytes', () => {
    const inputs = [...journeyMessages().map((m) => appInput(m)), appInput({ type: 'track', event: 'Order Completed', properties: {} })];
    const { results, messages } = resultsOf(inputs);
    expect(results.some((r) => r.quarantined)).toBe(true);
    const back = fromWire(structuredClone(toWire(results)), messages);
    expect(back).toEqual(results);
    expect(back.find((r) => r.quarantined)!.quarantined!.original).toBe(messages[results.findIndex((r) => r.quarantined)]!.value);
  });
});
