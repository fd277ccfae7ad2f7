import { afterEach, describe, expect, it } from 'vitest';
import { CioClient, parseRetryAfter } from '../src/cio-client.ts';
import { CioAuthError, CioConfigError, CioRejectedError, CioRetryableError, MappingError } from '../src/errors.ts';
import { mapEvent, type DeliveryItem, type V1Delivery } from '../src/mapping.ts';
import { TokenBucket } from '../src/token-bucket.ts';
import { makeEvent, startServer, type Handler } from './helpers.ts';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: string;
}

async function setup(handler: Handler, opts: { timeoutMs?: number; bucket?: TokenBucket; prefix?: string } = {}) {
  const seen: Seen[] = [];
  const srv = await startServer((req, body, res) => {
    seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
    return handler(req, body, res);
  });
  const client = new CioClient({ baseUrl: srv.url + (opts.prefix ?? ''), siteId: 'site', apiKey: 'key', timeoutMs: opts.timeoutMs ?? 2000, bucket: opts.bucket });
  closers.push(srv.close, () => client.close());
  return { client, seen };
}

const items = (n: number, api: 'v1' | 'v2' = 'v2'): DeliveryItem[] =>
  Array.from({ length: n }, (_, i) => mapEvent(makeEvent({ customer_id: `c${i}`, properties: { i } }), api));

function json(res: import('node:http').ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

describe('CioClient v2', () => {
  it('posts one batch with Basic auth and answers ok for every item on 200', async () => {
    const { client, seen } = await setup((_req, _b, res) => json(res, 200, {}));
    const results = await client.sendBatch(items(3));
    expect(results).toEqual([{ ok: true, status: 200 }, { ok: true, status: 200 }, { ok: true, status: 200 }]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/api/v2/batch', auth: `Basic ${Buffer.from('site:key').toString('base64')}` });
    expect((JSON.parse(seen[0]!.body) as { batch: unknown[] }).batch).toHaveLength(3);
  });

  it('keeps a path prefix of the base URL', async () => {
    const { client, seen } = await setup((_req, _b, res) => json(res, 200, {}), { prefix: '/cio/' });
    await client.sendBatch(items(1));
    expect(seen[0]!.url).toBe('/cio/api/v2/batch');
  });

  it('maps 207 errors to their items by batch_index', async () => {
    const { client } = await setup((_req, _b, res) =>
      json(res, 207, { errors: [{ batch_index: 1, reason: 'invalid', field: 'name', message: 'name cannot be blank' }] }),
    );
    const results = await client.sendBatch(items(3));
    expect(results[0]).toEqual({ ok: true, status: 207 });
    expect(results[2]).toEqual({ ok: true, status: 207 });
    const r1 = results[1]!;
    expect(r1.ok).toBe(false);
    if (r1.ok) return;
    expect(r1.error).toBeInstanceOf(CioRejectedError);
    expect((r1.error as CioRejectedError).status).toBe(207);
    expect((r1.error as CioRejectedError).body).toContain('name cannot be blank');
    expect(r1.error.retryable).toBe(false);
  });

  /** A Customer.io that answers 207 for the items `bad` picks, placing the error with `index`. */
  function multiStatus(bad: (i: number) => boolean, index: (position: number, i: number) => unknown) {
    return setup((_req, body, res) => {
      const batch = (JSON.parse(body) as { batch: Array<{ attributes: { i: number } }> }).batch;
      const errors = batch.flatMap((b, pos) => (bad(b.attributes.i) ? [{ batch_index: index(pos, b.attributes.i), reason: 'invalid', message: `item ${b.attributes.i}` }] : []));
      if (errors.length === 0) json(res, 200, {});
      else json(res, 207, { errors: errors.map((e) => (e.batch_index === undefined ? { reason: e.reason, message: e.message } : e)) });
    });
  }

  // Without a usable index the error cannot be placed: no item may count as delivered on its strength.
  it.each([
    ['missing', () => undefined],
    ['a string', (pos: number) => String(pos)],
    ['fractional', (pos: number) => pos + 0.5],
    ['null', () => null],
    ['out of range', () => 99],
    ['negative', () => -1],
  ])('re-sends the items of a 207 whose error has a %s batch_index until the refused one is alone', async (_what, index) => {
    const { client, seen } = await multiStatus((i) => i === 2, index);
    const results = await client.sendBatch(items(4));
    expect(results.map((r) => r.ok)).toEqual([true, true, false, true]);
    const bad = results[2]!;
    if (!bad.ok) {
      expect(bad.error).toBeInstanceOf(CioRejectedError);
      expect(bad.error).toMatchObject({ status: 207, code: 'CIO_REJECTED' });
      expect((bad.error as CioRejectedError).body).toContain('item 2');
    }
    // [0..3] -> [0,1] ok, [2,3] -> [2] refused, [3] ok
    expect(seen).toHaveLength(5);
  });

  it('keeps the placed errors of a 207 and re-sends only the items it leaves unsure', async () => {
    // Item 0's error is placed; item 3's is not.
    const { client, seen } = await multiStatus((i) => i === 0 || i === 3, (pos, i) => (i === 0 ? pos : undefined));
    const results = await client.sendBatch(items(5));
    expect(results.map((r) => r.ok)).toEqual([false, true, true, false, true]);
    const r0 = results[0]!;
    if (!r0.ok) expect((r0.error as CioRejectedError).body).toContain('item 0');
    // Item 0 was refused by name, so it is never re-sent; the others are, until item 3 is alone.
    const resent = seen.slice(1).flatMap((s) => (JSON.parse(s.body) as { batch: Array<{ attributes: { i: number } }> }).batch.map((b) => b.attributes.i));
    expect(new Set(resent)).toEqual(new Set([1, 2, 3, 4]));
  });

  it('isolates the invalid items of a whole-request 400 by splitting', async () => {
    const { client, seen } = await setup((_req, body, res) => {
      const batch = (JSON.parse(body) as { batch: Array<{ attributes: { i: number } }> }).batch;
      if (batch.some((b) => b.attributes.i === 5 || b.attributes.i === 6)) json(res, 400, { errors: [{ reason: 'bad', field: 'x', message: 'bad item' }] });
      else json(res, 200, {});
    });
    const results = await client.sendBatch(items(8));
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true, true, false, false, true]);
    const bad = results[5]!;
    if (!bad.ok) expect(bad.error).toMatchObject({ status: 400, code: 'CIO_REJECTED' });
    expect(seen.length).toBeLessThan(12); // bisection, not one request per item
  });

  it('turns 401/403 into an auth error for every item, never a rejection', async () => {
    const { client } = await setup((_req, _b, res) => json(res, 401, { errors: [{ message: 'unauthorized' }] }));
    const results = await client.sendBatch(items(2));
    for (const r of results) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toBeInstanceOf(CioAuthError);
    }
  });

  it('treats 404 as a configuration fault', async () => {
    const { client } = await setup((_req, _b, res) => json(res, 404, {}));
    const [r] = await client.sendBatch(items(1));
    expect(r!.ok).toBe(false);
    if (!r!.ok) expect(r!.error).toBeInstanceOf(CioConfigError);
  });

  it('makes 429 retryable with Retry-After in seconds and lowers the shared rate', async () => {
    const bucket = new TokenBucket({ ratePerSec: 100 });
    const { client } = await setup((_req, _b, res) => json(res, 429, {}, { 'retry-after': '3' }), { bucket });
    const [r] = await client.sendBatch(items(1));
    expect(r!.ok).toBe(false);
    if (!r!.ok) {
      expect(r!.error).toBeInstanceOf(CioRetryableError);
      expect((r!.error as CioRetryableError).retryAfterMs).toBe(3000);
    }
    expect(bucket.currentRate()).toBeLessThan(100);
  });

  it.each([408, 500, 502, 503, 504, 522, 524])('makes %i retryable', async (status) => {
    const { client } = await setup((_req, _b, res) => json(res, status, {}));
    const [r] = await client.sendBatch(items(1));
    expect(r!.ok).toBe(false);
    if (!r!.ok) expect(r!.error).toMatchObject({ retryable: true, status });
  });

  it('makes a timeout retryable', async () => {
    const { client } = await setup(() => undefined, { timeoutMs: 150 });
    const start = Date.now();
    const [r] = await client.sendBatch(items(1));
    expect(Date.now() - start).toBeLessThan(1500);
    expect(r!.ok).toBe(false);
    if (!r!.ok) expect(r!.error).toMatchObject({ retryable: true, status: null, code: 'CIO_TIMEOUT' });
  });

  it('makes a connection reset retryable', async () => {
    const { client } = await setup((req) => {
      req.socket.destroy();
    });
    const [r] = await client.sendBatch(items(1));
    expect(r!.ok).toBe(false);
    if (!r!.ok) expect(r!.error).toMatchObject({ retryable: true, status: null });
  });

  it('takes a token per request unless the caller holds one', async () => {
    const bucket = new TokenBucket({ ratePerSec: 1000, burst: 10 });
    const { client } = await setup((_req, _b, res) => json(res, 200, {}), { bucket });
    await client.sendBatch(items(2), { tokenHeld: true });
    await client.sendBatch(items(2));
    // 10 burst - 1 = 9 left (plus a little refill); a held token must not have been taken twice.
    expect(bucket.waits).toBe(0);
  });
});

describe('CioClient v1', () => {
  it('sends one request per item with per-item results', async () => {
    const { client, seen } = await setup((req, _b, res) => {
      if (req.url!.includes('c1')) json(res, 400, { meta: { errors: ['name cannot be blank'] } });
      else json(res, 200, {});
    });
    const results = await client.sendBatch(items(3, 'v1'));
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    expect(seen.map((s) => `${s.method} ${s.url}`).sort()).toEqual(['POST /api/v1/customers/c0/events', 'POST /api/v1/customers/c1/events', 'POST /api/v1/customers/c2/events']);
  });

  /** A v1 item as something other than mapEvent might build it (mapping refuses these ids itself). */
  const raw = (method: V1Delivery['method'], path: string): V1Delivery => {
    const body = method === 'DELETE' ? undefined : '{"name":"x"}';
    return { api: 'v1', method, path, body, json: JSON.stringify({ method, path, body: body ?? null }), bytes: body?.length ?? 0 };
  };
  // Like the Track API: /api/v1/events (anonymous events) answers 200, an unknown path 404.
  const trackApi: Handler = (req, _b, res) => {
    const known = /^(\/cio)?\/api\/v1\/(customers\/[^/]+(\/events)?|events)$/.test(req.url!);
    json(res, known ? 200 : 404, known ? {} : { meta: { error: 'not found' } });
  };

  it.each([
    ['POST', '/api/v1/customers/../events'],
    ['POST', '/api/v1/customers/%2E%2e/events'],
    ['POST', '/api/v1/customers/.%2e/events'],
    ['PUT', '/api/v1/customers/..'],
    ['PUT', '/api/v1/customers/.'],
    ['DELETE', '/api/v1/customers/%2e'],
  ] as const)('refuses %s %s, which URL parsing would send elsewhere, as that item\'s rejection', async (method, path) => {
    for (const prefix of ['', '/cio']) {
      const { client, seen } = await setup(trackApi, { prefix });
      const good = items(1, 'v1')[0]!;
      const results = await client.sendBatch([raw(method, path), good]);
      expect(results[1]).toEqual({ ok: true, status: 200 });
      const r = results[0]!;
      expect(r.ok).toBe(false);
      if (r.ok) return;
      // A rejection (dead-lettered), never a config fault (halt) and never a delivery.
      expect(r.error).toBeInstanceOf(MappingError);
      expect(r.error).toBeInstanceOf(CioRejectedError);
      expect(r.error).not.toBeInstanceOf(CioConfigError);
      expect(r.error).toMatchObject({ code: 'SINK_UNMAPPABLE', reason: 'unaddressable_id', status: null, retryable: false });
      expect(seen.map((x) => x.url)).toEqual([`${prefix}/api/v1/customers/c0/events`]);
    }
  });

  it('gives back a held token when every item is refused before sending', async () => {
    const bucket = new TokenBucket({ ratePerSec: 0.001, burst: 1 });
    const { client, seen } = await setup(trackApi, { bucket });
    await bucket.take(); // the token the dispatcher holds for this batch
    const results = await client.sendBatch([raw('POST', '/api/v1/customers/../events')], { tokenHeld: true });
    expect(results[0]!.ok).toBe(false);
    expect(seen).toHaveLength(0);
    // The refunded token serves the next request at once.
    const next = await client.sendBatch(items(1, 'v1'));
    expect(next).toEqual([{ ok: true, status: 200 }]);
    expect(bucket.waits).toBe(0);
    bucket.close();
  });

  it('never sends an event or identify for customer id "." or ".." (mapping refuses them)', () => {
    for (const id of ['.', '..']) {
      for (const kind of ['event', 'identify'] as const) expect(() => mapEvent(makeEvent({ kind, customer_id: id }), 'v1')).toThrow(MappingError);
    }
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 00:00:05 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
