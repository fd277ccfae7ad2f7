import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { basic, fixture, post, startHarness, type Harness } from './helpers.ts';

const NOW = Date.parse('2026-11-20T19:10:00.000Z');
let h: Harness;
beforeAll(async () => {
  h = await startHarness({}, { now: () => NOW });
});
afterAll(() => h.close());

const fresh = (): void => {
  h.writer.written = [];
  h.writer.calls = 0;
  h.writer.mode = 'ok';
};
const msg = (i = 0): RawAppMessage => h.writer.written[i]!.value as RawAppMessage;
const AUTH = { authorization: basic('wk_ios_123'), 'content-type': 'application/json' };

describe('Segment-shaped app API', () => {
  it('turns the journey batch into one raw event per message, each body the exact bytes sent', async () => {
    fresh();
    const body = fixture('app/journey-batch.json');
    const res = await post(`${h.url}/v1/batch`, body, AUTH);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ success: true });
    expect(h.writer.calls).toBe(1); // the whole batch in one write: acknowledged together or not at all
    expect(h.writer.written).toHaveLength(6);
    const text = body.toString('utf8');
    for (const [i, rec] of h.writer.written.entries()) {
      const v = rec.value as RawAppMessage;
      expect(rec.topic).toBe('t.raw.app');
      expect(v.write_key_id).toBe('ios-app');
      expect(v.message_id).toBe(`m-000${i + 1}`);
      expect(v.message_id_generated).toBe(false);
      const stored = v.body.toString('utf8');
      expect(stored.startsWith('{"type"')).toBe(true);
      expect(text).toContain(stored);
    }
    expect(h.writer.written.map((r) => r.key)).toEqual(['anon-7f3c2a', 'anon-7f3c2a', 'anon-7f3c2a', 'cus_48213', 'cus_48213', 'cus_48213']);
    expect(h.writer.written.map((r) => (r.value as RawAppMessage).type)).toEqual(['page', 'track', 'track', 'identify', 'track', 'track']);
    expect(msg(5).body.toString()).toContain('"order_id": "5904832711894301745"');
    expect(msg(3).body.toString()).toContain('"shopify_customer_id": "7301928374650192837"');
    // No sentAt: the client's timestamp is taken as is.
    expect(msg(0).timestamp).toBe(Date.parse('2026-11-20T18:40:01.120Z'));
    expect(msg(0).ip).toBe('203.0.113.24');
    expect(msg(0).user_agent).toContain('iPhone');
    expect(msg(1).ip).toBe('127.0.0.1');
  });

  it('accepts every single-call endpoint with the type taken from the path', async () => {
    for (const call of ['track', 'identify', 'page', 'screen', 'alias', 'group']) {
      fresh();
      const body = `{"userId":"u1","event":"E","messageId":"id-${call}"}`;
      const res = await post(`${h.url}/v1/${call}`, body, AUTH);
      expect(res.status).toBe(200);
      expect(msg()).toMatchObject({ type: call, message_id: `id-${call}` });
      expect(msg().body.toString()).toBe(body);
    }
  });

  it('accepts the write key in the body and keeps it out of the stored message', async () => {
    fresh();
    const body = '{ "writeKey": "wk_web_456", "userId": 5904832711894301745, "event": "Order Completed" }';
    const res = await post(`${h.url}/v1/track`, body);
    expect(res.status).toBe(200);
    expect(msg().write_key_id).toBe('web');
    expect(msg().body.toString()).toBe('{ "userId": 5904832711894301745, "event": "Order Completed" }');
    expect(h.writer.written[0]!.key).toBe('5904832711894301745');

    fresh();
    const last = '{"userId":"u","writeKey":"wk_web_456"}';
    expect((await post(`${h.url}/v1/track`, last)).status).toBe(200);
    expect(msg().body.toString()).toBe('{"userId":"u"}');
  });

  it('accepts a batch with the write key in the body', async () => {
    fresh();
    const body = '{"writeKey":"wk_web_456","batch":[{"type":"track","userId":"u","event":"A"}]}';
    expect((await post(`${h.url}/v1/batch`, body)).status).toBe(200);
    expect(msg().body.toString()).toBe('{"type":"track","userId":"u","event":"A"}');
  });

  it('refuses a wrong or missing write key with 401 and writes nothing', async () => {
    fresh();
    const body = fixture('app/journey-batch.json');
    expect((await post(`${h.url}/v1/batch`, body, { authorization: basic('wk_nope') })).status).toBe(401);
    expect((await post(`${h.url}/v1/batch`, body, { authorization: 'Bearer wk_ios_123' })).status).toBe(401);
    expect((await post(`${h.url}/v1/batch`, body)).status).toBe(401);
    expect((await post(`${h.url}/v1/track`, '{"userId":"u","writeKey":"wk_nope"}')).status).toBe(401);
    // A right key in the body does not rescue a wrong Basic header.
    expect((await post(`${h.url}/v1/track`, '{"userId":"u","writeKey":"wk_web_456"}', { authorization: basic('bad') })).status).toBe(401);
    expect(h.writer.calls).toBe(0);
    expect(h.logs.join('')).not.toContain('wk_nope');
  });

  it('fills in a missing messageId', async () => {
    fresh();
    const res = await post(`${h.url}/v1/batch`, '{"batch":[{"type":"track","userId":"u","event":"A"},{"type":"track","userId":"u","event":"A","timestamp":"2026-11-20T19:00:00Z"}]}', AUTH);
    expect(res.status).toBe(200);
    for (const i of [0, 1]) {
      expect(msg(i).message_id_generated).toBe(true);
      expect(msg(i).message_id).toMatch(/^ingest-[0-9a-f-]+$/);
    }
    expect(msg(0).message_id).not.toBe(msg(1).message_id);
  });

  it('gives a resent timestamped message without messageId the same generated id', async () => {
    const body = '{"batch":[{"type":"track","userId":"u","event":"A","timestamp":"2026-11-20T19:00:00Z"}]}';
    fresh();
    await post(`${h.url}/v1/batch`, body, AUTH);
    const first = msg().message_id;
    fresh();
    await post(`${h.url}/v1/batch`, body, AUTH);
    expect(msg().message_id).toBe(first);
  });

  it('corrects client clock skew from sentAt as Segment does', async () => {
    fresh();
    // The phone's clock runs 1 h fast: it stamped the event 10 s before sending.
    const body = JSON.stringify({
      sentAt: '2026-11-20T20:09:50.000Z',
      batch: [
        { type: 'track', userId: 'u', event: 'A', timestamp: '2026-11-20T20:09:40.000Z' },
        { type: 'track', userId: 'u', event: 'B', originalTimestamp: '2026-11-20T20:09:45.000Z', sentAt: '2026-11-20T20:09:46.000Z' },
        { type: 'track', userId: 'u', event: 'C' },
        { type: 'track', userId: 'u', event: 'D', timestamp: 'yesterday-ish' },
        // RudderStack: originalTimestamp is when the SDK queued the call; an explicit timestamp wins.
        { type: 'track', userId: 'u', event: 'E', timestamp: '2026-11-20T19:09:40.000Z', originalTimestamp: '2026-11-20T20:09:49.000Z' },
      ],
    });
    expect((await post(`${h.url}/v1/batch`, body, AUTH)).status).toBe(200);
    expect(msg(0).timestamp).toBe(NOW - 10_000);
    expect(msg(0).sent_at).toBe('2026-11-20T20:09:50.000Z');
    expect(msg(1).timestamp).toBe(NOW - 1_000);
    expect(msg(2).timestamp).toBe(NOW);
    expect(msg(3).timestamp).toBeNull();
    expect(msg(4).timestamp).toBe(NOW - 3600_000 - 10_000);
    expect(msg(0).received_at).toBe(NOW);
  });

  it('answers 413 for a call over 32 KB and a batch over 500 KB', async () => {
    fresh();
    const big = (n: number): string => 'x'.repeat(n);
    const single = `{"userId":"u","event":"A","properties":{"p":"${big(33 * 1024)}"}}`;
    expect((await post(`${h.url}/v1/track`, single, AUTH)).status).toBe(413);
    const msgs = Array.from({ length: 20 }, () => ({ type: 'track', userId: 'u', event: 'A', properties: { p: big(26 * 1024) } }));
    const res = await post(`${h.url}/v1/batch`, JSON.stringify({ batch: msgs }), AUTH);
    expect(res.status).toBe(413);
    expect(res.json).toMatchObject({ error: { reason: 'too_large' } });
    expect(h.writer.calls).toBe(0);
  });

  it('answers 200 for a batch with invalid messages: valid ones written as usual, invalid ones written marked with why', async () => {
    fresh();
    // 20,000 two-byte characters: 20,000 UTF-16 units (what a client counting string length sees), 40 KB of UTF-8.
    const wide = 'é'.repeat(20_000);
    const body = JSON.stringify({
      batch: [
        { type: 'track', userId: 'u1', event: 'A', messageId: 'ok-1' },
        7,
        { type: 'shout', userId: 'u1', messageId: 'bad-type' },
        { userId: 'u1', messageId: 'no-type' },
        { type: 'track', userId: 'u1', event: 'B', messageId: 'too-big', properties: { note: wide } },
        { type: 'identify', userId: 'u1', messageId: 'ok-2', traits: { plan: 'gold' } },
      ],
    });
    const res = await post(`${h.url}/v1/batch`, body, AUTH);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ success: true });
    expect(h.writer.calls).toBe(1);
    const written = h.writer.written.map((r) => r.value as RawAppMessage);
    expect(written.map((v) => [v.message_id.startsWith('ingest-') ? 'generated' : v.message_id, v.type, v.rejection?.code ?? null, v.rejection?.field ?? null])).toEqual([
      ['ok-1', 'track', null, null],
      ['generated', '', 'not_an_object', null],
      ['bad-type', 'shout', 'unknown_call_type', 'type'],
      ['no-type', '', 'unknown_call_type', 'type'],
      ['too-big', 'track', 'message_too_large', null],
      ['ok-2', 'identify', null, null],
    ]);
    expect(written[1]!.body.toString()).toBe('7');
    expect(written[1]!.rejection!.message).toBe('batch[1] is not a JSON object');
    expect(written[2]!.rejection!.message).toMatch(/batch\[2\]\.type must be one of track, identify/);
    expect(written[4]!.rejection!.message).toMatch(/^batch\[4\] is 40\d{3} bytes; the limit per message is 32768$/);
    expect(written[4]!.body.toString()).toContain(wide);
    expect(h.writer.written.map((r) => r.key)).toEqual(['u1', null, 'u1', 'u1', 'u1', 'u1']);
  });

  it('answers 400 naming the problem for malformed JSON and bad batches', async () => {
    fresh();
    const cases: Array<[string, string, RegExp]> = [
      ['/v1/track', '{"userId":"u",', /invalid JSON/],
      ['/v1/track', '[1,2]', /JSON object/],
      ['/v1/batch', '{"batch":{}}', /"batch" must be an array/],
      ['/v1/batch', '{"sentAt":"2026-11-20T19:00:00Z"}', /"batch" must be an array/],
      ['/v1/b', '{"batch":[{"type":"track"}', /invalid JSON/],
      ['/v1/track', '', /empty/],
    ];
    for (const [path, body, re] of cases) {
      const res = await post(`${h.url}${path}`, body, AUTH);
      expect(res.status, body).toBe(400);
      expect((res.json as { error: { message: string } }).error.message).toMatch(re);
    }
    expect(h.writer.calls).toBe(0);
  });

  it('answers 429 with Retry-After for a batch Kafka cannot take (the overload answer analytics-node honours), never 200', async () => {
    fresh();
    h.writer.mode = 'unavailable';
    const res = await post(`${h.url}/v1/batch`, fixture('app/journey-batch.json'), AUTH);
    expect(res.status).toBe(429);
    expect(res.json).toMatchObject({ error: { code: 'INGEST_OVERLOADED', reason: 'kafka_unavailable' } });
    expect(res.headers.get('retry-after')).toBe('7');
    expect(h.writer.written).toHaveLength(0);
  });
});

describe('analytics.js and the rest of the Segment HTTP API', () => {
  const TEXT = { 'content-type': 'text/plain' };

  it('accepts the short paths with text/plain bodies and the write key in the body, taking the call from the path', async () => {
    const cases: Array<[string, string]> = [['t', 'track'], ['p', 'page'], ['i', 'identify'], ['s', 'screen'], ['g', 'group'], ['a', 'alias']];
    for (const [letter, call] of cases) {
      fresh();
      const body = `{"type":"${call}","anonymousId":"anon-1","messageId":"js-${letter}","writeKey":"wk_web_456"}`;
      const res = await post(`${h.url}/v1/${letter}`, body, TEXT);
      expect(res.status, letter).toBe(200);
      expect(msg()).toMatchObject({ type: call, message_id: `js-${letter}`, write_key_id: 'web', rejection: null });
      expect(msg().body.toString()).toBe(`{"type":"${call}","anonymousId":"anon-1","messageId":"js-${letter}"}`);
    }
  });

  it('accepts /v1/b and /v1/import as batches', async () => {
    for (const path of ['/v1/b', '/v1/import']) {
      fresh();
      const body = '{"writeKey":"wk_web_456","batch":[{"type":"page","anonymousId":"a","messageId":"b1"},{"type":"group","userId":"u","groupId":"g","messageId":"b2"}]}';
      expect((await post(`${h.url}${path}`, body, TEXT)).status, path).toBe(200);
      expect(h.writer.written.map((r) => (r.value as RawAppMessage).type)).toEqual(['page', 'group']);
    }
  });

  it('accepts Bearer (Segment OAuth) with the write key in the body; the body key authenticates', async () => {
    fresh();
    const bearer = { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.token.sig', 'content-type': 'application/json' };
    expect((await post(`${h.url}/v1/track`, '{"writeKey":"wk_ios_123","userId":"u","event":"A"}', bearer)).status).toBe(200);
    expect(msg().write_key_id).toBe('ios-app');
    expect((await post(`${h.url}/v1/track`, '{"writeKey":"wk_nope","userId":"u","event":"A"}', bearer)).status).toBe(401);
    const missing = await post(`${h.url}/v1/track`, '{"userId":"u","event":"A"}', bearer);
    expect(missing.status).toBe(401);
    expect(missing.json).toMatchObject({ error: { reason: 'missing_write_key' } });
    expect((await post(`${h.url}/v1/track`, '{"writeKey":"wk_ios_123","userId":"u"}', { authorization: 'Digest abc' })).status).toBe(401);
    expect(h.writer.written).toHaveLength(1);
  });
});

describe('CORS on the app routes', () => {
  const ALLOWED = 'http://127.0.0.1:3000';

  it('answers a preflight from a configured origin, and only from one', async () => {
    const pre = await fetch(`${h.url}/v1/t`, {
      method: 'OPTIONS',
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')).toBe('content-type, authorization');
    expect(pre.headers.get('vary')).toBe('Origin');

    const fixedList = await fetch(`${h.url}/v1/b`, { method: 'OPTIONS', headers: { origin: ALLOWED, 'access-control-request-headers': 'x-a;b, (c)' } });
    expect(fixedList.status).toBe(204);
    expect(fixedList.headers.get('access-control-allow-headers')).toBe('content-type, content-encoding, authorization, x-retry-count');

    const other = await fetch(`${h.url}/v1/t`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect((await fetch(`${h.url}/v1/t`, { method: 'OPTIONS' })).status).toBe(405);
    // Webhooks are server to server: no CORS.
    expect((await fetch(`${h.url}/webhooks/shopify`, { method: 'OPTIONS', headers: { origin: ALLOWED } })).status).toBe(405);
  });

  it('adds the CORS headers to every answer for a configured origin and refuses other origins before reading', async () => {
    fresh();
    const ok = await post(`${h.url}/v1/t`, '{"writeKey":"wk_web_456","anonymousId":"a","event":"E"}', { origin: ALLOWED, 'content-type': 'text/plain' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    const bad = await post(`${h.url}/v1/t`, '{"writeKey":"wk_nope"}', { origin: ALLOWED });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    const refused = await post(`${h.url}/v1/t`, '{"writeKey":"wk_web_456","anonymousId":"a","event":"E"}', { origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: { code: 'INGEST_ORIGIN_NOT_ALLOWED', reason: 'origin_not_allowed' } });
    expect(h.writer.written).toHaveLength(1);
  });
});
