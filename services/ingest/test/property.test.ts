import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  basic,
  fixture,
  RECHARGE_SECRETS,
  rechargeLegacy,
  rechargeTimestamped,
  SHOPIFY_SECRETS,
  shopifyHmac,
  startHarness,
  WRITE_KEYS,
  type Harness,
} from './helpers.ts';

// 429 on the app routes, 503 on the webhooks: the overload answer each kind of client honours.
const DOCUMENTED = new Set([200, 400, 401, 404, 405, 408, 413, 429, 503]);
// 408 (a body slower than the minimum rate) needs a slow client: hostile-connections.test.ts drives
// it. Every other answer must show up here.
const REACHED_HERE = [...DOCUMENTED].filter((s) => s !== 408);
const INGEST_PATHS = [
  '/webhooks/shopify',
  '/webhooks/recharge',
  '/webhooks/recharge/charge/paid',
  '/v1/track',
  '/v1/identify',
  '/v1/page',
  '/v1/screen',
  '/v1/alias',
  '/v1/batch',
  '/v1/group',
  '/v1/import',
  '/v1/t',
  '/v1/b',
];
const OTHER_PATHS = ['/healthz', '/readyz', '/metrics', '/', '/v1/nope', '/webhooks', '/v1/track/x', '/v1//batch', '/%zz'];

let h: Harness;
beforeAll(async () => {
  // Small caps so random bodies also exercise the 413 path.
  h = await startHarness({ maxCallBytes: 2048, maxBatchBytes: 4096, maxWebhookBytes: 4096, rechargeLegacySecrets: [RECHARGE_SECRETS[0]!] });
});
afterAll(() => h.close());

const headerValue = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,60}[\x21-\x7e])?$/);
const bigIntJson = fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n }).map((n) => `{"id":${n},"customer":{"id":${n}},"userId":${n}}`);
const segmentish = fc
  .record({
    type: fc.constantFrom('track', 'identify', 'page', 'shout', 7),
    userId: fc.oneof(fc.string(), fc.integer(), fc.constant(undefined)),
    messageId: fc.oneof(fc.string(), fc.constant(undefined)),
    timestamp: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string(), fc.constant(undefined)),
    sentAt: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.constant(undefined)),
  })
  .chain((m) => fc.constantFrom(JSON.stringify(m), JSON.stringify({ batch: [m, m] }), JSON.stringify({ batch: m })));
const body = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.json({ maxDepth: 4 }),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a).toString('latin1')),
  bigIntJson,
  segmentish,
  fc.constantFrom(
    fixture('shopify/orders-create.json').toString(),
    fixture('recharge/charge-paid.json').toString(),
    fixture('app/journey-batch.json').toString(),
    '{"batch":[' + '{"type":"track","userId":"u"},'.repeat(200) + '{"type":"track","userId":"u"}]}',
    '['.repeat(5000),
    '{"a":1,"a":2}',
  ),
);
const auth = fc.constantFrom('none', 'valid', 'invalid', 'valid-rotated', 'stale');
const extraHeaders = fc.dictionary(
  fc.constantFrom('x-shopify-topic', 'x-recharge-topic', 'x-shopify-webhook-id', 'user-agent', 'x-recharge-webhook-timestamp', 'content-type', 'x-random'),
  headerValue,
  { maxKeys: 4 },
);

function authHeaders(path: string, mode: string, raw: Buffer): Record<string, string> {
  const nowS = Math.floor(Date.now() / 1000);
  if (mode === 'none') return {};
  const good = mode === 'valid' || mode === 'valid-rotated';
  const idx = mode === 'valid-rotated' ? 1 : 0;
  if (path.startsWith('/webhooks/shopify')) {
    return { 'x-shopify-hmac-sha256': shopifyHmac(raw, good ? SHOPIFY_SECRETS[idx]! : 'wrong') };
  }
  if (path.startsWith('/webhooks/recharge')) {
    if (mode === 'stale') return { 'x-recharge-webhook-signature': rechargeTimestamped(raw, RECHARGE_SECRETS[0]!, nowS - 3600) };
    return idx === 1
      ? { 'x-recharge-webhook-signature': rechargeTimestamped(raw, RECHARGE_SECRETS[1]!, nowS) }
      : { 'x-recharge-hmac-sha256': rechargeLegacy(raw, good ? RECHARGE_SECRETS[0]! : 'wrong') };
  }
  return { authorization: basic(good ? WRITE_KEYS[idx]!.key : 'wk_wrong') };
}

describe('every endpoint under random input', () => {
  it('answers only documented statuses, never crashes, and writes only with valid auth', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...INGEST_PATHS, ...OTHER_PATHS),
        fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE'),
        body,
        auth,
        extraHeaders,
        fc.constantFrom('ok', 'ok', 'unavailable'),
        async (path, method, text, mode, extra, writerMode) => {
          h.writer.mode = writerMode as 'ok' | 'unavailable';
          const before = h.writer.written.length;
          const raw = Buffer.from(text, 'utf8');
          const headers = { ...extra, ...authHeaders(path, mode, raw) };
          const res = await fetch(`${h.url}${path}`, { method, headers, ...(method === 'GET' ? {} : { body: raw }) });
          await res.arrayBuffer();
          const wrote = h.writer.written.length - before;
          seen.add(res.status);
          expect(DOCUMENTED.has(res.status), `status ${res.status}`).toBe(true);
          if (wrote > 0) {
            expect(mode === 'valid' || mode === 'valid-rotated').toBe(true);
            expect(INGEST_PATHS).toContain(path);
            expect(res.status).toBe(200);
          }
          if (res.status === 200 && INGEST_PATHS.includes(path)) expect(writerMode).toBe('ok');
          if (res.status === 503 || res.status === 429) expect(res.headers.get('retry-after')).not.toBeNull();
          if (res.status === 429) expect(path.startsWith('/v1/')).toBe(true);
          if (mode === 'invalid' || mode === 'stale') expect(wrote).toBe(0);
          if (res.status >= 400) expect(wrote).toBe(0);
        },
      ),
      // A fixed seed: the run below must reach every documented answer (including 429 and 503), and a
      // random seed occasionally did not, failing CI for no fault of the code.
      { numRuns: 400, seed: 20261123 },
    );
    // The run must have reached every answer, or it proved less than it claims.
    expect([...seen].sort()).toEqual(REACHED_HERE.sort());
  }, 120_000);
});

/**
 * Issue #13: attacker-shaped values in every field an endpoint reads, correctly authenticated so
 * they get past the signature to the parsers and the record encoder, up to the size limits.
 */
const runOf = (unit: string, max: number): fc.Arbitrary<string> => fc.integer({ min: 1, max }).map((n) => unit.repeat(n));
const adversarialString = fc.oneof(
  runOf('.', 4000),
  runOf('@', 4000),
  fc.integer({ min: 1, max: 2000 }).map((n) => `a@${'.'.repeat(n)}@`),
  runOf(' \t\n\u00a0\u2028\u3000', 700),
  runOf('\ufdfa', 1500),
  fc.string({ unit: fc.constantFrom('.', '@', ' ', '\ufdfa', '\u0000', '"', '\\', 'a', '\ud800'), maxLength: 600 }),
  fc.constantFrom('', '+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '0000-00-00', 'NaN', '__proto__', 'constructor'),
);
const hugeNumber = fc.oneof(
  fc.constantFrom('1e999999', '-1e-999999', '1.7976931348623157e309', '-0', '0.' + '0'.repeat(3000) + '1'),
  runOf('9', 4000),
  fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).map(String),
);
const deepValue = fc.integer({ min: 1, max: 3000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);
const adversarialValue = fc.oneof(adversarialString.map((v) => JSON.stringify(v)), hugeNumber, deepValue);
/** A JSON object text whose named members hold adversarial values (some of them) or ordinary ones. */
const objectWith = (fields: Record<string, string>): fc.Arbitrary<string> =>
  fc
    .tuple(...Object.keys(fields).map(() => fc.option(adversarialValue, { freq: 2 })))
    .map((vals) => `{${Object.entries(fields).map(([k, ordinary], i) => `${JSON.stringify(k)}:${vals[i] ?? ordinary}`).join(',')}}`);

const segmentMessage = fc
  .tuple(
    objectWith({ type: '"track"', userId: '"u"', anonymousId: '"a"', event: '"Viewed"', messageId: '"m"', timestamp: '"2026-11-20T10:00:00Z"', sentAt: '"2026-11-20T10:00:01Z"' }),
    objectWith({ email: '"a@example.com"', sku: '"TEA"', price: '"1.00"' }),
    objectWith({ ip: '"203.0.113.1"', userAgent: '"ua"' }),
  )
  .map(([top, properties, context]) => `${top.slice(0, -1)},"properties":${properties},"context":${context}}`);
const shopifyBody = objectWith({
  id: '5904832711894301745',
  order_number: '1001',
  email: '"a@example.com"',
  cart_token: '"cart-1"',
  customer: '{"id":1,"email":"a@example.com"}',
  total_price: '"1.00"',
  line_items: '[]',
});
const rechargeBody = objectWith({ customer_id: '118273645', email: '"a@example.com"', total_price: '"1.00"', processed_at: '"2026-11-20T10:00:00Z"' }).map(
  (charge) => `{"charge":${charge}}`,
);
const adversarialRequest = fc.oneof(
  fc.tuple(fc.constantFrom('/v1/track', '/v1/identify', '/v1/page', '/v1/screen', '/v1/alias'), segmentMessage),
  fc.tuple(fc.constant('/v1/batch'), fc.array(segmentMessage, { minLength: 1, maxLength: 4 }).map((ms) => `{"batch":[${ms.join(',')}],"sentAt":"2026-11-20T10:00:01Z"}`)),
  fc.tuple(fc.constant('/webhooks/shopify'), shopifyBody),
  fc.tuple(fc.constantFrom('/webhooks/recharge', '/webhooks/recharge/charge/paid'), rechargeBody),
);

function validAuth(path: string, raw: Buffer): Record<string, string> {
  if (path.startsWith('/webhooks/shopify')) return { 'x-shopify-topic': 'orders/create', 'x-shopify-hmac-sha256': shopifyHmac(raw, SHOPIFY_SECRETS[0]!) };
  if (path.startsWith('/webhooks/recharge')) return { 'x-recharge-webhook-signature': rechargeTimestamped(raw, RECHARGE_SECRETS[0]!, Math.floor(Date.now() / 1000)) };
  return { authorization: basic(WRITE_KEYS[0]!.key) };
}

describe('every ingest endpoint under adversarial values', () => {
  it('answers only documented statuses, and a 200 only with every record stored', async () => {
    h.writer.mode = 'ok';
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(adversarialRequest, async ([path, text]) => {
        const before = h.writer.written.length;
        const raw = Buffer.from(text, 'utf8');
        const res = await fetch(`${h.url}${path}`, { method: 'POST', headers: validAuth(path, raw), body: raw });
        const answer = await res.text();
        seen.add(res.status);
        expect(DOCUMENTED.has(res.status), `status ${res.status}: ${answer.slice(0, 200)}`).toBe(true);
        expect(res.status, answer.slice(0, 200)).not.toBe(503);
        const wrote = h.writer.written.length - before;
        if (res.status === 200) expect(wrote).toBeGreaterThan(0);
        else expect(wrote).toBe(0);
      }),
      { numRuns: 300, seed: 20261202 },
    );
    // The values reached the parsers and the encoder: some were stored, some refused as the request's fault.
    expect(seen).toContain(200);
    expect(seen).toContain(400);
    expect(seen).toContain(413);
  }, 120_000);
});
