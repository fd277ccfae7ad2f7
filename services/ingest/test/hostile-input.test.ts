/** Issue #13, odd request bodies: every one gets a clear answer, and what is stored is valid JSON. */
import { parse } from 'lossless-json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { MAX_JSON_DEPTH } from '../src/json-depth.ts';
import { basic, post, RECHARGE_SECRETS, rechargeTimestamped, shopifyHeaders, startHarness, type Harness } from './helpers.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const fresh = (): void => {
  h.writer.written = [];
};
const storedBodies = (): string[] => h.writer.written.map((r) => (r.value as RawAppMessage).body.toString('utf8'));

describe('repeated writeKey members', () => {
  it.each([
    ['/v1/track', '{"userId":"u","event":"A","writeKey":"wk_web_456","writeKey":"wk_web_456"}'],
    ['/v1/track', '{"writeKey":"wk_web_456", "writeKey":"wk_web_456", "userId":"u","event":"A"}'],
    ['/v1/batch', '{"batch":[{"type":"track","userId":"u","event":"A","writeKey":"wk_web_456","writeKey":"wk_web_456"}],"writeKey":"wk_web_456"}'],
  ])('%s %s: 200, and the stored message is valid JSON without the key', async (path, body) => {
    fresh();
    const res = await post(`${h.url}${path}`, body);
    expect(res.status, res.text).toBe(200);
    expect(storedBodies()).toHaveLength(1);
    for (const stored of storedBodies()) {
      expect(() => parse(stored)).not.toThrow();
      expect(stored).not.toContain('writeKey');
      expect(parse(stored)).toMatchObject({ userId: 'u', event: 'A' });
    }
  });

  it('a Basic-auth call with repeated writeKey members is stored valid too', async () => {
    fresh();
    const res = await post(`${h.url}/v1/track`, '{"userId":"u","event":"A","writeKey":"x","writeKey":"x"}', { authorization: basic('wk_ios_123') });
    expect(res.status, res.text).toBe(200);
    expect(() => parse(storedBodies()[0]!)).not.toThrow();
  });
});

describe('deep nesting', () => {
  const nested = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;
  const deep = nested(4000);
  const nowS = (): number => Math.floor(Date.now() / 1000);
  const cases: Array<[string, string, (body: Buffer) => Record<string, string>]> = [
    ['/webhooks/shopify', `{"id":1,"order_number":1,"note_attributes":${deep}}`, (b) => shopifyHeaders(b, 'orders/create')],
    ['/webhooks/recharge', `{"charge":{"customer_id":1,"line_items":${deep}}}`, (b) => ({ 'x-recharge-webhook-signature': rechargeTimestamped(b, RECHARGE_SECRETS[0]!, nowS()) })],
    ['/v1/track', `{"userId":"u","event":"A","properties":{"p":${deep}}}`, () => ({ authorization: basic('wk_ios_123') })],
  ];
  it.each(cases)('%s with arrays nested 4,000 deep: 400 too_deep, nothing written', async (path, text, headers) => {
    fresh();
    const body = Buffer.from(text);
    const res = await post(`${h.url}${path}`, body, headers(body));
    expect(res.status, res.text).toBe(400);
    expect(res.json).toMatchObject({ error: { reason: 'too_deep' } });
    expect((res.json as { error: { message: string } }).error.message).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
    expect(h.writer.written).toHaveLength(0);
  });

  it('a batch with one message nested 4,000 deep: 200, the others written, the deep one stored marked nesting_too_deep', async () => {
    // Segment's SDKs drop a batch answered 400 and never retry it: one bad message must cost only itself.
    fresh();
    const deepMessage = `{"type":"track","userId":"u","event":"B","properties":{"p":${deep}}}`;
    const body = Buffer.from(`{"batch":[{"type":"track","userId":"u","event":"A"},${deepMessage},{"type":"track","userId":"u","event":"C"}]}`);
    const res = await post(`${h.url}/v1/batch`, body, { authorization: basic('wk_ios_123') });
    expect(res.status, res.text).toBe(200);
    const written = h.writer.written.map((r) => r.value as RawAppMessage);
    expect(written.map((m) => m.rejection?.code ?? null)).toEqual([null, 'nesting_too_deep', null]);
    expect(written[1]!.body.toString('utf8')).toBe(deepMessage);
    expect(written.map((m) => m.body.toString('utf8')).filter((b) => b.includes('"event":"A"') || b.includes('"event":"C"'))).toHaveLength(2);
  });

  it('a batch whose envelope itself is too deep outside its messages: 400 too_deep', async () => {
    fresh();
    const body = Buffer.from(`{"context":{"p":${deep}},"batch":[{"type":"track","userId":"u","event":"A"}]}`);
    const res = await post(`${h.url}/v1/batch`, body, { authorization: basic('wk_ios_123') });
    expect(res.status, res.text).toBe(400);
    expect(h.writer.written).toHaveLength(0);
  });

  it(`accepts a body nested exactly ${MAX_JSON_DEPTH} levels`, async () => {
    fresh();
    const body = Buffer.from(`{"id":1,"order_number":1,"note_attributes":${nested(MAX_JSON_DEPTH - 1)}}`);
    const res = await post(`${h.url}/webhooks/shopify`, body, shopifyHeaders(body, 'orders/create'));
    expect(res.status, res.text).toBe(200);
  });
});
