import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { basic, FakeWriter, fixture, post, shopifyHeaders, startHarness, type Harness } from './helpers.ts';
import { eventually } from '../../../test/support/eventually.ts';

const AUTH = { authorization: basic('wk_ios_123') };
const TRACK = '{"userId":"u","event":"A","messageId":"m1"}';
let h: Harness | undefined;
afterEach(async () => {
  h?.writer.releaseHung();
  await h?.close();
  h = undefined;
});

/** Streams a chunked body (no Content-Length) and resolves with the status. */
function postChunked(url: string, chunks: Buffer[], headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

describe('ingest HTTP server', () => {
  it.each([
    ['unavailable', 'KafkaUnavailableError'],
    ['throw', 'any other writer failure'],
  ] as const)('answers 503 with Retry-After when the writer fails (%s: %s)', async (mode, _what) => {
    h = await startHarness();
    h.writer.mode = mode;
    const body = fixture('shopify/orders-create.json');
    const res = await post(`${h.url}/webhooks/shopify`, body, shopifyHeaders(body, 'orders/create'));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(res.json).toMatchObject({ error: { code: 'INGEST_OVERLOADED', reason: 'kafka_unavailable' } });
  });

  it('answers 400 naming the field, not 503, when a record cannot be encoded (the request is at fault)', async () => {
    h = await startHarness();
    h.writer.mode = 'unencodable';
    const res = await post(`${h.url}/v1/track`, TRACK, AUTH);
    expect(res.status).toBe(400);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(res.json).toMatchObject({ error: { code: 'INGEST_BAD_REQUEST', reason: 'unencodable' } });
    expect((res.json as { error: { message: string } }).error.message).toMatch(/message 0: timestamp /);
  });

  it('answers 503 when the writer never confirms (backstop timeout)', async () => {
    h = await startHarness({ kafkaTimeoutMs: 50 });
    h.writer.mode = 'hang';
    const body = fixture('shopify/orders-create.json');
    const res = await post(`${h.url}/webhooks/shopify`, body, shopifyHeaders(body, 'orders/create'));
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({ error: { reason: 'kafka_unavailable' } });
  });

  it('answers 503 at once when the in-flight budget is spent, without queueing', async () => {
    h = await startHarness({ maxInflightRequests: 1, kafkaTimeoutMs: 10_000 });
    h.writer.mode = 'hang';
    const first = post(`${h.url}/v1/track`, TRACK, AUTH);
    await eventually('the first write', () => h!.writer.calls === 1, { timeoutMs: 2000, intervalMs: 5 });
    // The app routes answer 429 (analytics-node honours Retry-After only there); webhooks 503.
    const second = await post(`${h.url}/v1/track`, TRACK, AUTH);
    expect(second.status).toBe(429);
    expect(second.json).toMatchObject({ error: { reason: 'overloaded' } });
    expect(second.headers.get('retry-after')).toBe('7');
    const body = fixture('shopify/orders-create.json');
    const webhook = await post(`${h.url}/webhooks/shopify`, body, shopifyHeaders(body, 'orders/create'));
    expect(webhook.status).toBe(503);
    expect(webhook.headers.get('retry-after')).toBe('7');
    h.writer.releaseHung();
    expect((await first).status).toBe(200);
  });

  it('keeps the budget held by a write that timed out until the writer lets go of it', async () => {
    h = await startHarness({ maxInflightRequests: 1, kafkaTimeoutMs: 10 });
    h.writer.mode = 'hang';
    expect((await post(`${h.url}/v1/track`, TRACK, AUTH)).status).toBe(429);
    const meanwhile = await post(`${h.url}/v1/track`, TRACK, AUTH);
    expect(meanwhile.status).toBe(429);
    expect(meanwhile.json).toMatchObject({ error: { reason: 'overloaded' } });
    h.writer.mode = 'ok';
    h.writer.releaseHung();
    await eventually('a request served once the held writes drain', async () => (await post(`${h!.url}/v1/track`, TRACK, AUTH)).status, (status) => status === 200, { timeoutMs: 2000, intervalMs: 5 });
  });

  it('counts body bytes against the in-flight byte budget', async () => {
    h = await startHarness({ maxInflightBytes: 1024, maxCallBytes: 4096 });
    const big = `{"userId":"u","p":"${'x'.repeat(2000)}"}`;
    const res = await post(`${h.url}/v1/track`, big, AUTH);
    expect(res.status).toBe(429);
    expect(h.writer.calls).toBe(0);
    expect((await post(`${h.url}/v1/track`, TRACK, AUTH)).status).toBe(200);
  });

  it('answers 413 for a declared or streamed body over the cap', async () => {
    h = await startHarness({ maxWebhookBytes: 1000 });
    const body = Buffer.alloc(5000, 0x20);
    expect((await post(`${h.url}/webhooks/shopify`, body, shopifyHeaders(body, 'orders/create'))).status).toBe(413);
    // A signature of the right shape: the headers pass, so the body is read until it is too large.
    const sig = { 'x-recharge-webhook-signature': `t=1,v1=${'ab'.repeat(32)}` };
    const status = await postChunked(`${h.url}/webhooks/recharge`, [Buffer.alloc(600, 0x20), Buffer.alloc(600, 0x20)], sig);
    expect(status).toBe(413);
    // A large body is not read through: the client still gets the 413, not a reset.
    const huge = await post(`${h.url}/v1/batch`, Buffer.alloc(20_000_000, 0x20), { authorization: basic('wk_ios_123') });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('connection')).toBe('close');
    expect(h.writer.calls).toBe(0);
  });

  it('answers 404 for unknown paths and 405 with Allow for wrong methods', async () => {
    h = await startHarness();
    expect((await post(`${h.url}/v2/track`, TRACK, AUTH)).status).toBe(404);
    const get = await fetch(`${h.url}/v1/track`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const postHealth = await fetch(`${h.url}/healthz`, { method: 'POST', body: 'x' });
    expect(postHealth.status).toBe(405);
  });

  it('serves /healthz, /readyz following the writer, and /metrics', async () => {
    h = await startHarness();
    expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${h.url}/readyz`)).status).toBe(200);
    h.writer.isReady = false;
    const notReady = await fetch(`${h.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(notReady.headers.get('retry-after')).toBe('7');
    await post(`${h.url}/v1/track`, TRACK, AUTH);
    await post(`${h.url}/v1/track`, TRACK, { authorization: basic('bad') });
    const text = await (await fetch(`${h.url}/metrics`)).text();
    expect(text).toMatch(/ingest_requests_total\{source="app",status="200",reason="ok"\} 1/);
    expect(text).toMatch(/ingest_requests_total\{source="app",status="401",reason="bad_write_key"\} 1/);
    expect(text).toMatch(/ingest_kafka_write_seconds_count\{source="app",outcome="ok"\} 1/);
    expect(text).toMatch(/ingest_events_written_total\{source="app"\} 1/);
  });

  it('on close stops accepting, finishes writes in flight, then resolves', async () => {
    const writer = new FakeWriter();
    h = await startHarness({ kafkaTimeoutMs: 10_000 }, { writer });
    writer.mode = 'hang';
    const inFlight = post(`${h.url}/v1/track`, TRACK, AUTH);
    await eventually('the write in flight', () => writer.calls === 1, { timeoutMs: 2000, intervalMs: 5 });
    let closed = false;
    const closing = h.ingest.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    await expect(fetch(`${h.url}/healthz`)).rejects.toThrow();
    writer.releaseHung();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(writer.written).toHaveLength(1);
    await closing;
    expect(closed).toBe(true);
    h = undefined;
  });
});
