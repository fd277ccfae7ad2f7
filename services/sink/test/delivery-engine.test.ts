import { afterEach, describe, expect, it } from 'vitest';
import { loadSinkConfig } from '../src/config.ts';
import { toDeadLetter } from '../src/dead-letter.ts';
import { createDeliveryEngine, type DeliveryEngine } from '../src/delivery-engine.ts';
import type { DeadLetterInfo, SinkRecord } from '../src/key-ordered-dispatcher.ts';
import { makeEvent, startServer } from './helpers.ts';
import { eventually } from '../../../test/support/eventually.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('delivery engine (config -> bucket + client + dispatcher + metrics)', () => {
  it('delivers through a loopback Customer.io, dead-letters a 207 item as a DLQ record, and counts it all', async () => {
    const seen: Array<{ auth?: string; items: number }> = [];
    const srv = await startServer((req, body, res) => {
      const batch = (JSON.parse(body) as { batch: Array<{ attributes: { bad?: boolean } }> }).batch;
      seen.push({ auth: req.headers.authorization, items: batch.length });
      const errors = batch.flatMap((b, i) => (b.attributes.bad ? [{ batch_index: i, reason: 'invalid', message: 'nope' }] : []));
      res.writeHead(errors.length ? 207 : 200);
      res.end(JSON.stringify(errors.length ? { errors } : {}));
    });
    const config = loadSinkConfig({ CIO_SITE_ID: 'site', CIO_API_KEY: 'key', CIO_TRACK_URL: srv.url, SINK_RATE_LIMIT_PER_SEC: '1000' });
    const dlq: Array<{ record: SinkRecord; info: DeadLetterInfo }> = [];
    const engine: DeliveryEngine = createDeliveryEngine(config, { deadLetter: async (record, info) => void dlq.push({ record, info }) });
    cleanups.push(srv.close, () => engine.close());
    const records: SinkRecord[] = Array.from({ length: 6 }, (_, i) => {
      const event = makeEvent({ customer_id: `c${i % 3}`, properties: i === 4 ? { bad: true } : {} });
      return { topic: 'events.canonical', partition: 1, offset: String(40 + i), key: `c${i % 3}`, event, raw: Buffer.from(`raw${i}`) };
    });
    engine.dispatcher.push(records);
    await eventually('nothing in flight', () => engine.dispatcher.inFlightCount() === 0);
    expect(seen[0]!.auth).toBe(`Basic ${Buffer.from('site:key').toString('base64')}`);
    expect(engine.dispatcher.committableOffsets()).toEqual([{ partition: 1, offset: '46' }]);
    expect(dlq).toHaveLength(1);
    const letter = toDeadLetter(dlq[0]!.record, dlq[0]!.info, 'events.canonical', 123);
    expect(letter).toMatchObject({
      dead_lettered_at: 123, reason: 'rejected', event_id: records[4]!.event.event_id, event_name: 'product_viewed', customer_key: 'c1',
      status: 207, attempts: 1, source_topic: 'events.canonical', source_partition: 1, source_offset: '44',
    });
    expect(letter.original.toString()).toBe('raw4');
    expect(letter.error).toContain('nope');
    const text = await engine.metrics.registry.metrics();
    expect(text).toMatch(/sink_events_delivered_total\{kind="event"\} 5/);
    expect(text).toMatch(/sink_events_dead_lettered_total\{status="207",reason="rejected"\} 1/);
    expect(text).toMatch(/sink_cio_requests_total\{status="207",api="v2"\} \d/);
    expect(text).toContain('sink_rate_limit_per_second 1000');
    expect(text).toContain('sink_delivery_lag_seconds_count 5');
  });
});
