import { afterEach, describe, expect, it } from 'vitest';
import { CioClient, parseRetryAfter } from '../src/cio-client.ts';
import { CioAuthError, CioConfigError, CioRejectedError, CioRetryableError } from '../src/errors.ts';
import { mapEvent, type DeliveryItem } from '../src/mapping.ts';
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
      json(res, 207, { errors: [{ batch_index: 1, reason: 'invalid', field: 'name', message: 'name cannot be blank' }, { batch_index: 9, reason: 'x' }] }),
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
