/**
 * Issue #13, connection level: idle and slow clients must not lock ingest out. Attackers connect
 * from 127.0.0.1, the real sources from 127.0.0.2 (both loopback): Shopify and the app's users
 * never share the attacker's address.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadIngestConfig } from '../src/config.ts';
import { basic, fixture, shopifyHeaders, startHarness, type Harness } from './helpers.ts';
import { byDeadline, inflightRequests, metricsText, openIdleAttackers, openRaw, postFrom, requestHead, untilAttackersSeen, type RawConnection } from './raw-http.ts';
import { eventually } from '../../../test/support/eventually.ts';

const SOURCE = '127.0.0.2';
const FAKE_HMAC = Buffer.alloc(32, 7).toString('base64');

let h: Harness | undefined;
let open: RawConnection[] = [];
afterEach(async () => {
  for (const c of open) c.socket.destroy();
  open = [];
  h?.writer.releaseHung();
  await h?.close();
  h = undefined;
});

const port = (): number => Number(new URL(h!.url).port);

/** The limits ingest runs with when nothing is configured. */
function defaultLimits(): Parameters<typeof startHarness>[0] {
  const d = loadIngestConfig({});
  return {
    maxInflightRequests: d.maxInflightRequests,
    maxInflightPerAddress: d.maxInflightPerAddress,
    maxRefusalsPerAddressPerS: d.maxRefusalsPerAddressPerS,
    refusalBlockMs: d.refusalBlockMs,
    maxInflightBytes: d.maxInflightBytes,
    maxWebhookBytes: d.maxWebhookBytes,
    maxBatchBytes: d.maxBatchBytes,
    headersTimeoutMs: d.headersTimeoutMs,
    requestTimeoutMs: d.requestTimeoutMs,
    minBodyBytesPerS: d.minBodyBytesPerS,
    bodyGraceMs: d.bodyGraceMs,
  };
}

describe('hostile connections', () => {
  it('with 2,000 idle unauthenticated connections open, a signed Shopify webhook and a Segment batch are still answered 200', async () => {
    h = await startHarness(defaultLimits());
    open = await openIdleAttackers(port(), 2000);
    await untilAttackersSeen(h.url, open);
    // The attacker's address holds at most its share of the slots; the rest were refused.
    expect(await inflightRequests(h.url)).toBeLessThanOrEqual(loadIngestConfig({}).maxInflightPerAddress);

    const order = fixture('shopify/orders-create.json');
    const batch = fixture('app/journey-batch.json');
    const [shopify, app] = await Promise.all([
      byDeadline(postFrom(`${h.url}/webhooks/shopify`, order, shopifyHeaders(order, 'orders/create'), SOURCE), 2000, 'signed Shopify webhook'),
      byDeadline(postFrom(`${h.url}/v1/batch`, batch, { authorization: basic('wk_ios_123'), 'content-type': 'application/json' }, SOURCE), 2000, 'Segment batch'),
    ]);
    expect(shopify.status, shopify.text).toBe(200);
    expect(app.status, app.text).toBe(200);
    // Only the real sources' records were written: one webhook and the six messages of the batch.
    expect(h.writer.written).toHaveLength(7);
  }, 60_000);

  it('closes a connection whose headers never finish once the configured headers timeout passes', async () => {
    h = await startHarness({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const conn = await openRaw(port(), 'POST /v1/track HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    open.push(conn);
    // Node checked timeouts every 30 s by default; with a 300 ms setting the close must come well before 5 s.
    await byDeadline(conn.closed, 5000, 'connection with unfinished headers');
    expect([0, 408]).toContain(conn.answer ?? 0);
  });

  it('cuts a body that arrives slower than the minimum rate with 408, freeing its slot', async () => {
    h = await startHarness({ minBodyBytesPerS: 1000, bodyGraceMs: 300, maxInflightPerAddress: 1 });
    const slow = await openRaw(port(), requestHead('/webhooks/shopify', { 'X-Shopify-Topic': 'orders/create', 'X-Shopify-Hmac-Sha256': FAKE_HMAC }, 10_000), '{');
    open.push(slow);
    expect(await byDeadline(slow.answered, 5000, 'slow body')).toBe(408);
    await byDeadline(slow.closed, 5000, 'slow body connection close');
    // The single per-address slot is free again.
    const body = fixture('shopify/orders-create.json');
    const res = await postFrom(`${h.url}/webhooks/shopify`, body, shopifyHeaders(body, 'orders/create'), '127.0.0.1');
    expect(res.status, res.text).toBe(200);
  });

  it('caps requests in flight per remote address with 429, leaving other addresses served', async () => {
    h = await startHarness({ maxInflightPerAddress: 2, kafkaTimeoutMs: 10_000 });
    h.writer.mode = 'hang';
    const track = (id: string): string => JSON.stringify({ userId: 'u', event: 'A', messageId: id });
    const auth = { authorization: basic('wk_ios_123') };
    const held = [postFrom(`${h.url}/v1/track`, track('a'), auth, '127.0.0.1'), postFrom(`${h.url}/v1/track`, track('b'), auth, '127.0.0.1')];
    await eventually('two held writes', () => h!.writer.calls === 2, { timeoutMs: 5000, intervalMs: 5 });
    const third = await postFrom(`${h.url}/v1/track`, track('c'), auth, '127.0.0.1');
    expect(third.status).toBe(429);
    expect(JSON.parse(third.text)).toMatchObject({ error: { reason: 'too_many_from_address' } });
    const other = postFrom(`${h.url}/v1/track`, track('d'), auth, SOURCE);
    await eventually('the other address written', () => h!.writer.calls === 3, { timeoutMs: 5000, intervalMs: 5 });
    h.writer.mode = 'ok';
    h.writer.releaseHung();
    expect((await Promise.all([...held, other])).map((r) => r.status)).toEqual([200, 200, 200]);
  });
});

describe('an address that keeps failing authentication', () => {
  it('has its new connections dropped for a while; other addresses are served meanwhile', async () => {
    h = await startHarness({ maxRefusalsPerAddressPerS: 1, refusalBlockMs: 300 });
    const track = JSON.stringify({ userId: 'u', event: 'A' });
    const refused = await Promise.all([1, 2].map(() => postFrom(`${h!.url}/v1/track`, track, { authorization: basic('wk_guessed') }, '127.0.0.1')));
    expect(refused.map((r) => r.status)).toEqual([401, 401]);
    const dropped = await openRaw(port(), requestHead('/v1/track', { authorization: basic('wk_ios_123') }, track.length), track);
    open.push(dropped);
    expect(await byDeadline(dropped.answered, 5000, 'connection from the blocked address')).toBe(0);
    expect((await postFrom(`${h.url}/v1/track`, track, { authorization: basic('wk_ios_123') }, SOURCE)).status).toBe(200);
    const text = await metricsText(h.url);
    expect(text).toMatch(/ingest_connections_dropped_total\{reason="address_blocked"\} [1-9]/);
    // Once the block has passed the address is served again.
    const served = (): Promise<number> => postFrom(`${h!.url}/v1/track`, track, { authorization: basic('wk_ios_123') }, '127.0.0.1').then((r) => r.status, () => 0);
    await eventually('the address served again', served, (status) => status === 200, { timeoutMs: 5000, intervalMs: 100 });
  });
});

describe('credentials checked before the body is read', () => {
  // Each request declares 10,000 body bytes and sends one: only an answer from the headers can come.
  it.each([
    ['a Basic-auth write key that is unknown', '/v1/batch', { authorization: basic('wk_guessed') }, 'bad_write_key'],
    ['a malformed Authorization header', '/v1/track', { authorization: 'Bearer' }, 'bad_write_key'],
    ['a Shopify webhook without signature', '/webhooks/shopify', { 'X-Shopify-Topic': 'orders/create' }, 'missing_signature'],
    ['a Shopify signature that is no SHA-256 digest', '/webhooks/shopify', { 'X-Shopify-Topic': 'orders/create', 'X-Shopify-Hmac-Sha256': 'abc' }, 'bad_signature'],
    ['a Recharge webhook without signature', '/webhooks/recharge', {}, 'missing_signature'],
    ['a malformed Recharge timestamped signature', '/webhooks/recharge', { 'X-Recharge-Webhook-Signature': 'v1=zz' }, 'bad_signature'],
    ['a Recharge legacy signature while the scheme is off', '/webhooks/recharge', { 'X-Recharge-Hmac-Sha256': 'ab'.repeat(32) }, 'legacy_signature_disabled'],
  ])('refuses %s with 401 at once and closes the connection', async (_what, path, headers, reason) => {
    h = await startHarness();
    const conn = await openRaw(port(), requestHead(path, headers, 10_000), '{');
    open.push(conn);
    expect(await byDeadline(conn.answered, 5000, path)).toBe(401);
    await byDeadline(conn.closed, 5000, `${path} close`);
    const log = h.logs.join('');
    expect(log).toContain(`"reason":"${reason}"`);
    expect(h.writer.calls).toBe(0);
  });
});
