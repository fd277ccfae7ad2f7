import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { ItemResult } from '../src/cio-client.ts';
import { CioClient } from '../src/cio-client.ts';
import { CioAuthError, CioRejectedError, CioRetryableError } from '../src/errors.ts';
import { KeyOrderedDispatcher, type DeadLetterInfo, type DispatcherOptions, type SinkRecord } from '../src/key-ordered-dispatcher.ts';
import { stripRejectedAttributes } from '../src/attribute-strip.ts';
import { mapEvent, v2BatchBytes } from '../src/mapping.ts';
import { createSinkMetrics } from '../src/metrics.ts';
import { TokenBucket } from '../src/token-bucket.ts';
import { FakeSender, itemInfo, makeEvent, sleep, startServer, until } from './helpers.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A record whose event carries its key and a globally unique seq the fakes read back. */
function rec(partition: number, offset: number, key: string, seq: number, props: Record<string, string | number | boolean | null> = {}): SinkRecord {
  const event = makeEvent({ customer_id: key, properties: { key, seq, ...props } });
  return { topic: 'events.canonical', partition, offset: String(offset), key, event, raw: Buffer.from(`raw-${seq}`) };
}

/** Builds records from (key, partition) picks, with per-partition increasing offsets. */
function buildRecords(picks: ReadonlyArray<readonly [number, number]>): SinkRecord[] {
  const next = new Map<number, number>();
  return picks.map(([k, p], i) => {
    const off = next.get(p) ?? 100;
    next.set(p, off + 1 + (i % 2)); // gaps, as transaction markers leave
    return rec(p, off, `k${k}`, i);
  });
}

interface Dead {
  rec: SinkRecord;
  info: DeadLetterInfo;
}

function make(sender: DispatcherOptions['sender'], overrides: Partial<DispatcherOptions> = {}) {
  const dead: Dead[] = [];
  const d = new KeyOrderedDispatcher({
    sender,
    prepare: (e) => mapEvent(e, 'v2'),
    deadLetter: async (r, info) => {
      dead.push({ rec: r, info });
    },
    concurrency: 4,
    maxBatchItems: 50,
    maxBatchBytes: 500_000,
    maxInFlightEvents: 100_000,
    retryBaseMs: 5,
    retryMaxMs: 40,
    parkAfterMs: 60_000,
    authProbeIntervalMs: 40,
    ...overrides,
  });
  cleanups.push(() => d.stop());
  return { d, dead };
}

const rejected = (): ItemResult => ({ ok: false, error: new CioRejectedError(207, '{"errors":[{"reason":"invalid"}]}') });
const retryable = (retryAfterMs?: number): ItemResult => ({ ok: false, error: new CioRetryableError(503, 'unavailable', { retryAfterMs }) });

/** Checks the offset invariant: everything below each committable offset is finished. */
function checkOffsets(d: KeyOrderedDispatcher, records: SinkRecord[], finished: Set<number>, last: Map<number, bigint>): void {
  for (const { partition, offset } of d.committableOffsets()) {
    const c = BigInt(offset);
    const prev = last.get(partition);
    if (prev !== undefined && c < prev) throw new Error(`partition ${partition} went back from ${prev} to ${c}`);
    last.set(partition, c);
    for (const r of records) {
      if (r.partition === partition && BigInt(r.offset) < c && !finished.has(r.event.properties.seq as number)) {
        throw new Error(`partition ${partition} committable ${c} skips unfinished offset ${r.offset}`);
      }
    }
  }
}

describe('per-key order and offsets (property)', () => {
  it('keeps every key in offset order under any interleaving, never two of one key at once, and never commits past an unfinished offset', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
        fc.integer({ min: 1, max: 4 }),
        async (s, picks, concurrency, maxBatchItems, rejects, chunks) => {
          // One key always lives on one partition, as with a keyed topic.
          const records = buildRecords(picks.map(([k]) => [k, k % 3] as const));
          const sender = new FakeSender();
          const finished = new Set<number>();
          sender.latency = () => s.schedule(Promise.resolve(), 'response');
          sender.decide = (item) => {
            const { seq } = itemInfo(item);
            if (rejects[seq]) return rejected();
            finished.add(seq);
            return { ok: true };
          };
          const { d, dead } = make(sender, {
            concurrency,
            maxBatchItems,
            deadLetter: (r, info) =>
              s.schedule(Promise.resolve(), 'dlq').then(() => {
                const seq = r.event.properties.seq as number;
                const list = sender.delivered.get(r.key) ?? [];
                list.push(seq);
                sender.delivered.set(r.key, list);
                finished.add(seq);
                dead.push({ rec: r, info });
              }),
          });
          const last = new Map<number, bigint>();
          const size = Math.ceil(records.length / chunks);
          for (let i = 0; i < records.length; i += size) {
            d.push(records.slice(i, i + size));
            checkOffsets(d, records, finished, last);
            if (s.count() > 0) await s.waitOne();
            checkOffsets(d, records, finished, last);
          }
          for (let guard = 0; d.inFlightCount() > 0; guard++) {
            if (guard > 10_000) throw new Error('did not finish');
            if (s.count() > 0) await s.waitOne();
            else await new Promise((r) => setImmediate(r));
            checkOffsets(d, records, finished, last);
          }
          expect(sender.violations).toEqual([]);
          // sender.delivered holds, per key, every finished seq (delivered, or dead-lettered above).
          for (const [key, seqs] of sender.delivered) {
            const expected = records.filter((r) => r.key === key).map((r) => r.event.properties.seq as number);
            expect(seqs).toEqual(expected);
          }
          expect(dead.length).toBe(records.filter((r) => rejects[r.event.properties.seq as number]).length);
          // All finished: each partition commits past its last record.
          for (const { partition, offset } of d.committableOffsets()) {
            const lastOffset = Math.max(...records.filter((r) => r.partition === partition).map((r) => Number(r.offset)));
            expect(offset).toBe(String(lastOffset + 1));
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('keeps order with random latencies and random retryable failures (real timers)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 1 })), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        async (picks, seed) => {
          let x = seed;
          const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
          const records = buildRecords(picks.map(([k]) => [k, k % 2] as const));
          const sender = new FakeSender();
          const finished = new Set<number>();
          sender.latency = () => sleep(Math.floor(rand() * 4));
          sender.decide = (item, attempt) => {
            if (attempt < 3 && rand() < 0.3) return retryable();
            finished.add(itemInfo(item).seq);
            return { ok: true };
          };
          const { d } = make(sender, { concurrency: 3, maxBatchItems: 4, retryBaseMs: 1, retryMaxMs: 4 });
          const last = new Map<number, bigint>();
          d.push(records);
          while (d.inFlightCount() > 0) {
            checkOffsets(d, records, finished, last);
            await sleep(1);
          }
          expect(sender.violations).toEqual([]);
          for (const [key, seqs] of sender.delivered) {
            expect(seqs).toEqual(records.filter((r) => r.key === key).map((r) => r.event.properties.seq as number));
          }
          expect([...sender.delivered.values()].flat().length).toBe(records.length);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('failures', () => {
  it('lets other keys flow while one key retries, and delivers the retrying key in order afterwards', async () => {
    const sender = new FakeSender();
    sender.latency = () => sleep(2);
    sender.decide = (item, attempt) => (itemInfo(item).key === 'A' && attempt <= 4 ? retryable() : { ok: true });
    const { d } = make(sender, { retryBaseMs: 40, retryMaxMs: 40 });
    const records = [rec(0, 0, 'A', 0), rec(0, 1, 'A', 1), ...Array.from({ length: 20 }, (_, i) => rec(0, 2 + i, `B${i % 4}`, 2 + i))];
    d.push(records);
    await until(() => [0, 1, 2, 3].every((i) => (sender.delivered.get(`B${i}`)?.length ?? 0) === 5), 2000, 'B keys delivered');
    expect(sender.delivered.get('A')).toBeUndefined();
    expect(d.committableOffsets()).toEqual([{ partition: 0, offset: '0' }]); // A's head holds the partition back
    await until(() => d.inFlightCount() === 0, 3000, 'A delivered');
    expect(sender.delivered.get('A')).toEqual([0, 1]);
    expect(d.committableOffsets()).toEqual([{ partition: 0, offset: '22' }]);
  });

  it('does not skip a record whose prepare() threw something other than a rejection (#15)', async () => {
    const sender = new FakeSender();
    let failOnce = true;
    const { d, dead } = make(sender, {
      prepare: (e) => {
        if (e.properties.seq === 1 && failOnce) {
          failOnce = false;
          throw new Error('registry hiccup while mapping');
        }
        return mapEvent(e, 'v2');
      },
    });
    const records = [rec(0, 10, 'A', 0), rec(0, 11, 'B', 1), rec(0, 12, 'C', 2)];
    expect(() => d.push(records)).toThrow('registry hiccup');
    // The record that threw was not seen: nothing at or past it may be committed.
    await until(() => d.inFlightCount() === 0, 2000, 'the record before it delivered');
    expect(d.committableOffsets()).toEqual([{ partition: 0, offset: '11' }]);
    // Kafka redelivers the batch from the last resolved offset, as the consumer's retry does.
    d.push(records);
    await until(() => d.inFlightCount() === 0, 2000, 'redelivered records delivered');
    expect(sender.delivered.get('A')).toEqual([0]);
    expect(sender.delivered.get('B')).toEqual([1]);
    expect(sender.delivered.get('C')).toEqual([2]);
    expect(dead).toEqual([]);
    expect(d.committableOffsets()).toEqual([{ partition: 0, offset: '13' }]);
  });

  it('re-sends an identify without the attributes Customer.io names; only those are dead-lettered, and the key waits for it', async () => {
    const sender = new FakeSender();
    const sent: Array<Record<string, unknown>> = [];
    sender.decide = (item) => {
      const json = itemInfo(item).json as { action?: string; attributes: Record<string, unknown> };
      if (json.action !== 'identify') return { ok: true };
      sent.push(json.attributes);
      const bad = ['created_at', 'score'].filter((k) => typeof json.attributes[k] === 'string');
      if (bad.length === 0) return { ok: true };
      // One attribute per answer, as if Customer.io stopped at the first problem.
      return { ok: false, error: new CioRejectedError(207, JSON.stringify({ errors: [{ batch_index: 0, reason: 'invalid_value', field: `attributes.${bad[0]}`, message: 'must be unix seconds' }] })) };
    };
    const { d, dead } = make(sender, { stripRejected: stripRejectedAttributes });
    const ident = makeEvent({ kind: 'identify', name: 'identify', customer_id: 'A', anonymous_id: 'anon-1', attributes: { key: 'A', seq: 0, created_at: '2024-06-01T10:00:00Z', score: 'high', first_name: 'Ann' } });
    d.push([{ topic: 'events.canonical', partition: 0, offset: '0', key: 'A', event: ident, raw: Buffer.from('raw-0') }, rec(0, 1, 'A', 1)]);
    await until(() => d.inFlightCount() === 0, 2000, 'identify and event finished');
    expect(sent).toHaveLength(3);
    expect(sent[2]).toEqual({ key: 'A', seq: 0, first_name: 'Ann', anonymous_id: 'anon-1' });
    expect(sender.delivered.get('A')).toEqual([0, 1]); // identify (stripped) before the event
    expect(dead.map((x) => [x.info.reason, x.info.requestItem, x.info.status])).toEqual([
      ['attribute_rejected', JSON.stringify({ attributes: { created_at: '2024-06-01T10:00:00Z' } }), 207],
      ['attribute_rejected', JSON.stringify({ attributes: { score: 'high' } }), 207],
    ]);
    expect(dead[0]!.info.error).toContain('must be unix seconds');
    expect(d.committableOffsets()).toEqual([{ partition: 0, offset: '2' }]);
  });

  it('waits at least Retry-After before retrying a key', async () => {
    const sender = new FakeSender();
    const attemptsAt: number[] = [];
    sender.decide = (item, attempt) => {
      if (itemInfo(item).key !== 'A') return { ok: true };
      attemptsAt.push(Date.now());
      return attempt === 1 ? retryable(300) : { ok: true };
    };
    const { d } = make(sender, { retryBaseMs: 1, retryMaxMs: 2 });
    d.push([rec(0, 0, 'A', 0), rec(0, 1, 'B', 1)]);
    await until(() => d.inFlightCount() === 0, 3000);
    expect(attemptsAt).toHaveLength(2);
    expect(attemptsAt[1]! - attemptsAt[0]!).toBeGreaterThanOrEqual(295);
  });

  it('honours an HTTP Retry-After end to end (429 from a loopback Customer.io)', async () => {
    const hits: number[] = [];
    const srv = await startServer((_req, _body, res) => {
      hits.push(Date.now());
      if (hits.length === 1) {
        res.writeHead(429, { 'retry-after': '1' });
        res.end();
      } else res.end('{}');
    });
    const client = new CioClient({ baseUrl: srv.url, siteId: 's', apiKey: 'k', timeoutMs: 2000 });
    cleanups.push(srv.close, () => client.close());
    const { d } = make(client, { retryBaseMs: 1, retryMaxMs: 2 });
    d.push([rec(0, 0, 'A', 0)]);
    await until(() => d.inFlightCount() === 0, 4000);
    expect(hits).toHaveLength(2);
    expect(hits[1]! - hits[0]!).toBeGreaterThanOrEqual(990);
  });

  it('dead-letters a 207 item with request, error, attempts and coordinates, and the key moves on', async () => {
    const bodies: Array<Array<{ attributes: { seq: number; bad?: boolean } }>> = [];
    const srv = await startServer((_req, body, res) => {
      const batch = (JSON.parse(body) as { batch: Array<{ attributes: { seq: number; bad?: boolean } }> }).batch;
      bodies.push(batch);
      const errors = batch.flatMap((b, i) => (b.attributes.bad ? [{ batch_index: i, reason: 'invalid', field: 'name', message: 'name cannot be blank' }] : []));
      res.writeHead(errors.length ? 207 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(errors.length ? { errors } : {}));
    });
    const client = new CioClient({ baseUrl: srv.url, siteId: 's', apiKey: 'k', timeoutMs: 2000 });
    cleanups.push(srv.close, () => client.close());
    const { d, dead } = make(client);
    const bad = rec(3, 11, 'A', 1, { bad: true });
    d.push([rec(3, 10, 'A', 0), bad, rec(3, 12, 'A', 2), rec(3, 13, 'B', 3)]);
    await until(() => d.inFlightCount() === 0, 3000);
    const sentSeqs = bodies.flat().map((b) => b.attributes.seq);
    expect(sentSeqs.filter((s) => s !== 3)).toEqual([0, 1, 2]);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.rec).toBe(bad);
    expect(dead[0]!.info).toMatchObject({ reason: 'rejected', status: 207, attempts: 1 });
    expect(dead[0]!.info.error).toContain('name cannot be blank');
    expect(JSON.parse(dead[0]!.info.requestItem!)).toMatchObject({ id: bad.event.event_id, action: 'event' });
    expect(dead[0]!.info.firstAttemptAt).toBeTypeOf('number');
    expect(d.committableOffsets()).toEqual([{ partition: 3, offset: '14' }]);
  });

  it('isolates the bad item of a whole-batch 400 and delivers the rest', async () => {
    const accepted: number[] = [];
    const srv = await startServer((_req, body, res) => {
      const batch = (JSON.parse(body) as { batch: Array<{ attributes: { seq: number; bad?: boolean } }> }).batch;
      if (batch.some((b) => b.attributes.bad)) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ reason: 'invalid', field: 'attributes', message: 'bad value' }] }));
        return;
      }
      accepted.push(...batch.map((b) => b.attributes.seq));
      res.end('{}');
    });
    const client = new CioClient({ baseUrl: srv.url, siteId: 's', apiKey: 'k', timeoutMs: 2000 });
    cleanups.push(srv.close, () => client.close());
    const { d, dead } = make(client, { concurrency: 1 });
    const records = Array.from({ length: 12 }, (_, i) => rec(0, i, `k${i}`, i, i === 7 ? { bad: true } : {}));
    d.push(records);
    await until(() => d.inFlightCount() === 0, 3000);
    expect(accepted.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11]);
    expect(dead.map((x) => x.rec.event.properties.seq)).toEqual([7]);
    expect(dead[0]!.info).toMatchObject({ reason: 'rejected', status: 400 });
    expect(dead[0]!.info.error).toContain('bad value');
  });

  it('parks a key that keeps failing past the bound: its queued events go to the DLQ in order, others flow', async () => {
    const sender = new FakeSender();
    let aFails = true;
    sender.decide = (item) => (itemInfo(item).key === 'A' && aFails ? retryable() : { ok: true });
    const { d, dead } = make(sender, { parkAfterMs: 150, retryBaseMs: 10, retryMaxMs: 30 });
    const t0 = Date.now();
    d.push([rec(0, 0, 'A', 0), rec(0, 1, 'B', 1), rec(0, 2, 'A', 2), rec(0, 3, 'A', 3), rec(0, 4, 'B', 4)]);
    await until(() => dead.length === 3, 3000, 'parked');
    const parkedAfter = Date.now() - t0;
    expect(parkedAfter).toBeGreaterThanOrEqual(140);
    expect(parkedAfter).toBeLessThan(1000);
    expect(dead.map((x) => x.rec.event.properties.seq)).toEqual([0, 2, 3]);
    expect(dead.every((x) => x.info.reason === 'parked')).toBe(true);
    expect(dead[0]!.info.status).toBe(503);
    expect(dead[0]!.info.attempts).toBeGreaterThanOrEqual(2);
    expect(dead[1]!.info).toMatchObject({ attempts: 0, status: null, error: null });
    expect(sender.delivered.get('B')).toEqual([1, 4]);
    await until(() => d.inFlightCount() === 0);
    expect(d.committableOffsets()).toEqual([{ partition: 0, offset: '5' }]);
    // The key is cleared: a later event of A is delivered normally.
    aFails = false;
    d.push([rec(0, 5, 'A', 5)]);
    await until(() => d.inFlightCount() === 0);
    expect(sender.delivered.get('A')).toEqual([5]);
  });

  it('halts on 401 without dead-lettering or committing, alerts, probes, and resumes when fixed', async () => {
    let authOk = false;
    let requests = 0;
    const delivered: number[] = [];
    const srv = await startServer((_req, body, res) => {
      requests++;
      if (!authOk) {
        res.writeHead(401);
        res.end('{"errors":[{"message":"unauthorized"}]}');
        return;
      }
      delivered.push(...(JSON.parse(body) as { batch: Array<{ attributes: { seq: number } }> }).batch.map((b) => b.attributes.seq));
      res.end('{}');
    });
    const client = new CioClient({ baseUrl: srv.url, siteId: 's', apiKey: 'bad', timeoutMs: 2000 });
    cleanups.push(srv.close, () => client.close());
    const alerts: Array<{ error: unknown; probes: number }> = [];
    let recovered = 0;
    const metrics = createSinkMetrics();
    const { d, dead } = make(client, {
      authProbeIntervalMs: 50,
      maxBatchItems: 3,
      metrics,
      onAuthFailure: (error, info) => alerts.push({ error, probes: info.probes }),
      onAuthRecovered: () => recovered++,
    });
    const records = Array.from({ length: 10 }, (_, i) => rec(i % 2, 100 + i, `k${i % 5}`, i));
    d.push(records);
    await until(() => alerts.length >= 3, 2000, 'repeated alerts');
    expect(d.isHalted()).toBe(true);
    expect(alerts[0]!.error).toBeInstanceOf(CioAuthError);
    expect(dead).toEqual([]);
    expect(d.committableOffsets()).toEqual([
      { partition: 0, offset: '100' },
      { partition: 1, offset: '101' },
    ]);
    const before = requests;
    await sleep(120);
    expect(requests - before).toBeLessThanOrEqual(4); // only probes while halted, not the stream
    expect((await metrics.registry.getSingleMetric('sink_halted')!.get()).values[0]!.value).toBe(1);

    authOk = true;
    await until(() => d.inFlightCount() === 0, 3000, 'resumed');
    expect(recovered).toBe(1);
    expect(d.isHalted()).toBe(false);
    expect(dead).toEqual([]);
    expect(delivered.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(d.committableOffsets()).toEqual([
      { partition: 0, offset: '109' },
      { partition: 1, offset: '110' },
    ]);
  });
});

describe('batching', () => {
  it('never puts two items of one person in one batch and respects the item limit', async () => {
    const sender = new FakeSender();
    sender.latency = () => sleep(1);
    const { d } = make(sender, { maxBatchItems: 7, concurrency: 2 });
    d.push(Array.from({ length: 90 }, (_, i) => rec(0, i, `k${i % 20}`, i)));
    await until(() => d.inFlightCount() === 0, 3000);
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
    await until(() => d.inFlightCount() === 0, 3000);
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
    await until(() => d.inFlightCount() === 0);
    expect(sender.delivered.get('k')).toEqual([0, 2]);
    expect(dead[0]!.info).toMatchObject({ reason: 'rejected', requestItem: null });
    expect(dead[0]!.info.error).toContain('mystery');
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
    await until(() => d.inFlightCount() === 0, 30_000);
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
    await until(() => d.inFlightCount() === 0);
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
    await until(() => sender.batches.length === 1);
    d.push([rec(0, 2, 'B', 4)]); // queued: the only batch slot is taken
    let revoked: unknown;
    const p = d.revoke([0]).then((r) => (revoked = r));
    await sleep(20);
    expect(revoked).toBeUndefined(); // A's head is still in flight
    open();
    await p;
    expect(revoked).toEqual([{ partition: 0, offset: '1' }]); // A:0 delivered; A:1 and B:2 dropped for redelivery
    await until(() => d.inFlightCount() === 0);
    const sent = sender.batches.flat().map((i) => itemInfo(i).seq);
    expect(sent).not.toContain(2);
    expect(sent).not.toContain(4);
    expect(sender.delivered.get('C')).toEqual([1, 3]);
    expect(d.committableOffsets()).toEqual([{ partition: 1, offset: '2' }]);
    // Reassigned later: the partition starts fresh from what is pushed.
    d.push([rec(0, 1, 'A', 5)]);
    await until(() => d.inFlightCount() === 0);
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

