/** The dispatcher's batching, flow control and lifecycle (revoke, drain, stop). */
import { afterEach, describe, expect, it } from 'vitest';
import { CioClient } from '../src/cio-client.ts';
import { CioAuthError } from '../src/errors.ts';
import type { SinkRecord } from '../src/key-ordered-dispatcher.ts';
import { mapEvent, v2BatchBytes, type V1Delivery } from '../src/mapping.ts';
import { createSinkMetrics } from '../src/metrics.ts';
import { TokenBucket } from '../src/token-bucket.ts';
import { make, rec, stopAll } from './dispatcher-fixtures.ts';
import { FakeSender, itemInfo, makeEvent, metricValue, sleep, startServer } from './helpers.ts';
import { eventually } from '../../../test/support/eventually.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  await stopAll(); // dispatchers first, as they were made after the servers they talk to
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('batching', () => {
  it('never puts two items of one person in one batch and respects the item limit', async () => {
    const sender = new FakeSender();
    sender.latency = () => sleep(1);
    const { d } = make(sender, { maxBatchItems: 7, concurrency: 2 });
    d.push(Array.from({ length: 90 }, (_, i) => rec(0, i, `k${i % 20}`, i)));
    await eventually('nothing in flight', () => d.inFlightCount() === 0, { timeoutMs: 3000 });
    expect(sender.violations).toEqual([]);
    expect(Math.max(...sender.batches.map((b) => b.length))).toBe(7);
    expect(sender.batches.flat()).toHaveLength(90);
  });

  it('keeps every batch body under the byte limit and rejects an oversized item without sending it', async () => {
    const sender = new FakeSender();
    const { d, dead } = make(sender, { maxBatchBytes: 50_000, concurrency: 1 });
    const big = 'x'.repeat(10_000);
    const records = Array.from({ length: 20 }, (_, i) => rec(0, i, `k${i}`, i, { pad: big }));
    const huge = rec(0, 20, 'k0', 20, { pad: 'y'.repeat(40_000) });
    d.push([...records, huge, rec(0, 21, 'k0', 21)]);
    await eventually('nothing in flight', () => d.inFlightCount() === 0, { timeoutMs: 3000 });
    for (const batch of sender.batches) {
      const bytes = v2BatchBytes(batch.reduce((n, i) => n + i.bytes, 0), batch.length);
      expect(bytes).toBeLessThan(50_000);
      expect(Buffer.byteLength(`{"batch":[${batch.map((i) => i.json).join(',')}]}`)).toBe(bytes);
    }
    expect(sender.batches.length).toBeGreaterThanOrEqual(5);
    expect(dead.map((x) => x.rec)).toEqual([huge]);
    expect(dead[0]!.info).toMatchObject({ reason: 'rejected', status: null, attempts: 0 });
    expect(sender.delivered.get('k0')).toEqual([0, 21]);
  });

  it('dead-letters an unmappable event and moves its key on', async () => {
    const sender = new FakeSender();
    const { d, dead } = make(sender);
    const unmappable: SinkRecord = { ...rec(0, 1, 'k', 1), event: { ...makeEvent({ kind: 'mystery' }) } };
    d.push([rec(0, 0, 'k', 0), unmappable, rec(0, 2, 'k', 2)]);
    await eventually('nothing in flight', () => d.inFlightCount() === 0);
    expect(sender.delivered.get('k')).toEqual([0, 2]);
    expect(dead[0]!.info).toMatchObject({ reason: 'rejected', requestItem: null });
    expect(dead[0]!.info.error).toContain('mystery');
  });

  // v1 puts the id in the path; URL parsing turns `..` into a parent step (silent loss to
  // /api/v1/events) and `.`/`..` on identify into a 404 (a config halt nothing gets past).
  it('dead-letters v1 events whose customer id a path cannot address, without halting or sending them', async () => {
    const urls: string[] = [];
    const srv = await startServer((req, _b, res) => {
      urls.push(`${req.method} ${req.url}`);
      const known = /^\/api\/v1\/(customers\/[^/]+(\/events)?|events)$/.test(req.url!);
      res.writeHead(known ? 200 : 404, { 'content-type': 'application/json' });
      res.end(known ? '{}' : '{"meta":{"error":"not found"}}');
    });
    const client = new CioClient({ baseUrl: srv.url, siteId: 's', apiKey: 'k', timeoutMs: 2000 });
    cleanups.push(srv.close, () => client.close());
    // `raw` stands for a path built elsewhere than mapEvent: the client's own check must catch it.
    const rawPath: V1Delivery = { api: 'v1', method: 'PUT', path: '/api/v1/customers/%2e%2E', body: '{}', json: '{"method":"PUT","path":"/api/v1/customers/%2e%2E","body":{}}', bytes: 2 };
    const metrics = createSinkMetrics();
    const { d, dead } = make(client, { prepare: (e) => (e.customer_id === 'raw' ? rawPath : mapEvent(e, 'v1')), metrics });
    const at = (offset: number, key: string, kind: 'event' | 'identify'): SinkRecord => ({ ...rec(0, offset, key, offset), event: makeEvent({ kind, customer_id: key }) });
    d.push([at(0, '..', 'event'), at(1, '..', 'identify'), at(2, '.', 'identify'), at(3, 'raw', 'identify'), at(4, 'ok', 'event')]);
    await eventually('nothing in flight', () => d.inFlightCount() === 0, { timeoutMs: 3000 });
    expect(d.isHalted()).toBe(false);
    expect(urls).toEqual(['POST /api/v1/customers/ok/events']);
    expect(dead.map((x) => x.rec.offset).sort()).toEqual(['0', '1', '2', '3']);
    for (const { info } of dead) {
      expect(info).toMatchObject({ reason: 'rejected', status: null });
      expect(info.error).toContain('unaddressable_id');
    }
    expect(d.committableOffsets()).toEqual([{ partition: 0, offset: '5' }]);
    const text = await metrics.registry.metrics();
    expect(metricValue(text, 'sink_events_dead_lettered_total{status="none",reason="rejected"}')).toBe(4);
    expect(metricValue(text, 'sink_events_delivered_total{kind="event"}')).toBe(1);
  });

  // Speed itself is measured in bench/sink.bench.ts; this checks the mechanism that makes it fast.
  it('fills batches with many people while waiting for the rate limit (50 ms latency, 100 req/s)', async () => {
    let requests = 0;
    let maxItems = 0;
    const srv = await startServer((_req, body, res) => {
      requests++;
      maxItems = Math.max(maxItems, (JSON.parse(body) as { batch: unknown[] }).batch.length);
      setTimeout(() => res.end('{}'), 50);
    });
    const bucket = new TokenBucket({ ratePerSec: 100, burst: 10 });
    const client = new CioClient({ baseUrl: srv.url, siteId: 's', apiKey: 'k', timeoutMs: 5000, bucket });
    cleanups.push(srv.close, () => client.close(), () => bucket.close());
    const { d } = make(client, { bucket, concurrency: 16, maxBatchItems: 200 });
    const n = 10_000;
    // Events arrive in chunks, as from Kafka fetches, over 2,500 people (4 each, strictly ordered).
    for (let i = 0; i < n; i += 500) {
      d.push(Array.from({ length: 500 }, (_, j) => rec((i + j) % 4, i + j, `p${(i + j) % 2500}`, i + j)));
      await sleep(5);
    }
    await eventually('nothing in flight', () => d.inFlightCount() === 0, { timeoutMs: 30_000 });
    // One request per event would be 10,000 requests; batching across people needs at most 1/20.
    expect(requests).toBeLessThanOrEqual(n / 20);
    expect(maxItems).toBeGreaterThan(50);
  });
});

describe('flow control and lifecycle', () => {
  function gatedSender() {
    const sender = new FakeSender();
    let open!: () => void;
    let gate = new Promise<void>((r) => (open = r));
    sender.latency = () => gate;
    return {
      sender,
      release: () => {
        open();
        gate = Promise.resolve();
      },
    };
  }

  it('signals pressure above the bound and release at the low watermark', async () => {
    const { sender, release } = gatedSender();
    const events: boolean[] = [];
    const { d } = make(sender, { maxInFlightEvents: 10, resumeBelowEvents: 4, onPressure: (p) => events.push(p) });
    expect(d.push(Array.from({ length: 10 }, (_, i) => rec(0, i, `k${i}`, i)))).toBe(true);
    expect(d.push([rec(0, 10, 'k0', 10)])).toBe(false);
    expect(events).toEqual([true]);
    expect(d.inFlightCount()).toBe(11);
    release();
    await eventually('nothing in flight', () => d.inFlightCount() === 0);
    expect(events).toEqual([true, false]);
  });

  it('revoke drops queued work of the revoked partitions, waits for their requests, and answers the offsets to commit', async () => {
    const sender = new FakeSender();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    sender.latency = () => gate;
    const { d } = make(sender, { concurrency: 1, maxBatchItems: 10 });
    // Heads of A (p0) and C (p1) go out in the first batch; A's and C's second events wait behind them.
    d.push([rec(0, 0, 'A', 0), rec(1, 0, 'C', 1), rec(0, 1, 'A', 2), rec(1, 1, 'C', 3)]);
    await eventually('one batch sent', () => sender.batches.length === 1);
    d.push([rec(0, 2, 'B', 4)]); // queued: the only batch slot is taken
    let revoked: unknown;
    const p = d.revoke([0]).then((r) => (revoked = r));
    await sleep(20);
    expect(revoked).toBeUndefined(); // A's head is still in flight
    open();
    await p;
    expect(revoked).toEqual([{ partition: 0, offset: '1' }]); // A:0 delivered; A:1 and B:2 dropped for redelivery
    await eventually('nothing in flight', () => d.inFlightCount() === 0);
    const sent = sender.batches.flat().map((i) => itemInfo(i).seq);
    expect(sent).not.toContain(2);
    expect(sent).not.toContain(4);
    expect(sender.delivered.get('C')).toEqual([1, 3]);
    expect(d.committableOffsets()).toEqual([{ partition: 1, offset: '2' }]);
    // Reassigned later: the partition starts fresh from what is pushed.
    d.push([rec(0, 1, 'A', 5)]);
    await eventually('nothing in flight', () => d.inFlightCount() === 0);
    expect(sender.delivered.get('A')).toEqual([0, 5]);
  });

  it('drain delivers what is queued, then refuses new records', async () => {
    const sender = new FakeSender();
    sender.latency = () => sleep(5);
    const { d } = make(sender);
    d.push(Array.from({ length: 30 }, (_, i) => rec(0, i, `k${i % 3}`, i)));
    expect(await d.drain(5000)).toBe(true);
    expect([...sender.delivered.values()].flat()).toHaveLength(30);
    expect(() => d.push([rec(0, 30, 'k', 30)])).toThrow(/draining/);
  });

  it('drain gives up at the timeout while halted, keeping offsets', async () => {
    const sender = new FakeSender();
    sender.decide = () => ({ ok: false, error: new CioAuthError(401) });
    const { d, dead } = make(sender, { authProbeIntervalMs: 10_000 });
    d.push([rec(0, 5, 'k', 0)]);
    expect(await d.drain(100)).toBe(false);
    expect(dead).toEqual([]);
    expect(d.committableOffsets()).toEqual([{ partition: 0, offset: '5' }]);
  });
});
