/** The dispatcher's promises under any interleaving (fast-check), and how it handles failures. */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { CioClient } from '../src/cio-client.ts';
import { CioAuthError, CioRejectedError } from '../src/errors.ts';
import { stripRejectedAttributes } from '../src/attribute-strip.ts';
import { mapEvent } from '../src/mapping.ts';
import { createSinkMetrics } from '../src/metrics.ts';
import { buildRecords, checkOffsets, make, rec, rejected, retryable, stopAll } from './dispatcher-fixtures.ts';
import { FakeSender, itemInfo, makeEvent, sleep, startServer } from './helpers.ts';
import { eventually } from '../../../test/support/eventually.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  await stopAll(); // dispatchers first, as they were made after the servers they talk to
  for (const c of cleanups.splice(0).reverse()) await c();
});

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
    await eventually('B keys delivered', () => [0, 1, 2, 3].every((i) => (sender.delivered.get(`B${i}`)?.length ?? 0) === 5), { timeoutMs: 2000 });
    expect(sender.delivered.get('A')).toBeUndefined();
    expect(d.committableOffsets()).toEqual([{ partition: 0, offset: '0' }]); // A's head holds the partition back
    await eventually('A delivered', () => d.inFlightCount() === 0, { timeoutMs: 3000 });
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
    await eventually('the record before it delivered', () => d.inFlightCount() === 0, { timeoutMs: 2000 });
    expect(d.committableOffsets()).toEqual([{ partition: 0, offset: '11' }]);
    // Kafka redelivers the batch from the last resolved offset, as the consumer's retry does.
    d.push(records);
    await eventually('redelivered records delivered', () => d.inFlightCount() === 0, { timeoutMs: 2000 });
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
    await eventually('identify and event finished', () => d.inFlightCount() === 0, { timeoutMs: 2000 });
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
    await eventually('nothing in flight', () => d.inFlightCount() === 0, { timeoutMs: 3000 });
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
    await eventually('nothing in flight', () => d.inFlightCount() === 0, { timeoutMs: 4000 });
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
    await eventually('nothing in flight', () => d.inFlightCount() === 0, { timeoutMs: 3000 });
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
    await eventually('nothing in flight', () => d.inFlightCount() === 0, { timeoutMs: 3000 });
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
    await eventually('parked', () => dead.length === 3, { timeoutMs: 3000 });
    const parkedAfter = Date.now() - t0;
    expect(parkedAfter).toBeGreaterThanOrEqual(140);
    expect(parkedAfter).toBeLessThan(1000);
    expect(dead.map((x) => x.rec.event.properties.seq)).toEqual([0, 2, 3]);
    expect(dead.every((x) => x.info.reason === 'parked')).toBe(true);
    expect(dead[0]!.info.status).toBe(503);
    expect(dead[0]!.info.attempts).toBeGreaterThanOrEqual(2);
    expect(dead[1]!.info).toMatchObject({ attempts: 0, status: null, error: null });
    expect(sender.delivered.get('B')).toEqual([1, 4]);
    await eventually('nothing in flight', () => d.inFlightCount() === 0);
    expect(d.committableOffsets()).toEqual([{ partition: 0, offset: '5' }]);
    // The key is cleared: a later event of A is delivered normally.
    aFails = false;
    d.push([rec(0, 5, 'A', 5)]);
    await eventually('nothing in flight', () => d.inFlightCount() === 0);
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
    await eventually('repeated alerts', () => alerts.length >= 3, { timeoutMs: 2000 });
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
    await eventually('resumed', () => d.inFlightCount() === 0, { timeoutMs: 3000 });
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
