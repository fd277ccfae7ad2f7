import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawShopifyWebhook } from '@cio-pipeline/core/generated/avro-types';
import { fixture, post, SHOPIFY_SECRETS, shopifyHeaders, shopifyHmac, startHarness, type Harness } from './helpers.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const url = (): string => `${h.url}/webhooks/shopify`;
const fresh = (): void => {
  h.writer.written = [];
  h.writer.mode = 'ok';
};

describe('Shopify webhooks', () => {
  const cases: Array<[string, string, string]> = [
    ['shopify/orders-create.json', 'orders/create', '7301928374650192837'],
    ['shopify/checkouts-create.json', 'checkouts/create', '7301928374650192837'],
    ['shopify/customers-create.json', 'customers/create', '7301928374650192837'],
    ['shopify/carts-update.json', 'carts/update', 'Z2NwLXVzLWVhc3QxOjAxSjk4'],
  ];
  it.each(cases)('accepts %s and writes the body byte for byte, keyed by the shopper', async (file, topic, key) => {
    fresh();
    const body = fixture(file);
    const res = await post(url(), body, shopifyHeaders(body, topic));
    expect(res.status).toBe(200);
    expect(h.writer.written).toHaveLength(1);
    const rec = h.writer.written[0]!;
    expect(rec.topic).toBe('t.raw.shopify');
    expect(rec.key).toBe(key);
    const v = rec.value as RawShopifyWebhook;
    expect(Buffer.compare(v.body, body)).toBe(0);
    expect(v).toMatchObject({
      topic,
      shop_domain: 'tea-example.myshopify.com',
      api_version: '2025-10',
      webhook_id: 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043',
      event_id: '98880550-7158-44d4-b7cd-2c97c8a091b5',
      triggered_at: '2026-11-20T19:03:12.345Z',
    });
    expect(v.ingest_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof v.received_at).toBe('number');
  });

  it('keeps the order id 5904832711894301745 intact in the stored body', async () => {
    fresh();
    const body = fixture('shopify/orders-create.json');
    await post(url(), body, shopifyHeaders(body, 'orders/create'));
    const v = h.writer.written[0]!.value as RawShopifyWebhook;
    expect(v.body.toString('utf8')).toContain('"id": 5904832711894301745,');
  });

  it('keys a customer above 2^53 by its exact digits', async () => {
    fresh();
    const body = Buffer.from('{"id":5904832711894301745,"email":"a@example.com"}');
    expect(JSON.parse(body.toString()).id.toString()).not.toBe('5904832711894301745'); // what JSON.parse would do
    const res = await post(url(), body, shopifyHeaders(body, 'customers/update'));
    expect(res.status).toBe(200);
    expect(h.writer.written[0]!.key).toBe('5904832711894301745');
  });

  it('falls back from customer id to cart token, checkout token, then webhook id', async () => {
    const tries: Array<[string, string]> = [
      ['{"id":1,"order_number":1001,"cart_token":"cart-1","checkout_token":"co-1"}', 'cart-1'],
      ['{"id":1,"order_number":1001,"checkout_token":"co-1"}', 'co-1'],
      ['{"id":1,"order_number":1001}', 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043'],
    ];
    for (const [text, key] of tries) {
      fresh();
      const body = Buffer.from(text);
      expect((await post(url(), body, shopifyHeaders(body, 'orders/create'))).status).toBe(200);
      expect(h.writer.written[0]!.key).toBe(key);
    }
  });

  it('accepts the second secret during a rotation', async () => {
    fresh();
    const body = fixture('shopify/orders-create.json');
    const res = await post(url(), body, shopifyHeaders(body, 'orders/create', SHOPIFY_SECRETS[1]));
    expect(res.status).toBe(200);
    expect(h.writer.written).toHaveLength(1);
  });

  it('refuses a bad HMAC with 401, writes nothing and logs the attempt without secret or body', async () => {
    fresh();
    const body = fixture('shopify/orders-create.json');
    const headers = shopifyHeaders(body, 'orders/create', 'not-the-secret');
    const res = await post(url(), body, headers);
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ error: { reason: 'bad_signature' } });
    expect(h.writer.written).toHaveLength(0);
    const log = h.logs.join('');
    expect(log).toContain('rejected unauthenticated request');
    for (const secret of SHOPIFY_SECRETS) expect(log).not.toContain(secret);
    expect(log).not.toContain(headers['X-Shopify-Hmac-Sha256']);
    expect(log).not.toContain('Lindqvist');
  });

  it('refuses a body changed after signing', async () => {
    fresh();
    const body = fixture('shopify/orders-create.json');
    const headers = shopifyHeaders(body, 'orders/create');
    const tampered = Buffer.from(body.toString().replace('118.40', '1.40'));
    expect((await post(url(), tampered, headers)).status).toBe(401);
    expect(h.writer.written).toHaveLength(0);
  });

  it('refuses a missing signature', async () => {
    fresh();
    const res = await post(url(), '{}', { 'X-Shopify-Topic': 'orders/create' });
    expect(res.status).toBe(401);
  });

  it('reads header names case-insensitively', async () => {
    fresh();
    const body = fixture('shopify/customers-create.json');
    const res = await post(url(), body, {
      'x-shopify-topic': 'customers/create',
      'X-SHOPIFY-HMAC-SHA256': shopifyHmac(body, SHOPIFY_SECRETS[0]!),
      'x-Shopify-Shop-domain': 'tea-example.myshopify.com',
    });
    expect(res.status).toBe(200);
    expect((h.writer.written[0]!.value as RawShopifyWebhook).shop_domain).toBe('tea-example.myshopify.com');
  });

  it('answers 400 naming the problem for a signed body that is not JSON', async () => {
    fresh();
    const body = Buffer.from('{"id": 12, "email": ');
    const res = await post(url(), body, shopifyHeaders(body, 'orders/create'));
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { reason: 'bad_json' } });
    expect((res.json as { error: { message: string } }).error.message).toMatch(/invalid JSON: .*position \d+/);
    expect(h.writer.written).toHaveLength(0);
  });

  it('answers 400 when the topic header is missing', async () => {
    fresh();
    const body = Buffer.from('{"id":1}');
    const headers = shopifyHeaders(body, 'x');
    delete headers['X-Shopify-Topic'];
    const res = await post(url(), body, headers);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ error: { reason: 'missing_topic' } });
  });

  describe('a signed body replayed under another X-Shopify-Topic (the topic is not signed)', () => {
    it.each([
      ['shopify/orders-create.json', 'checkouts/create'],
      ['shopify/orders-create.json', 'customers/update'],
      ['shopify/orders-create.json', 'carts/update'],
      ['shopify/checkouts-create.json', 'orders/create'],
      ['shopify/checkouts-create.json', 'carts/update'],
      ['shopify/customers-create.json', 'orders/paid'],
      ['shopify/customers-create.json', 'checkouts/update'],
      ['shopify/carts-update.json', 'orders/create'],
      ['shopify/carts-update.json', 'customers/create'],
    ])('%s sent as %s: 401 topic_mismatch, nothing written', async (file, topic) => {
      fresh();
      const body = fixture(file);
      const res = await post(url(), body, shopifyHeaders(body, topic));
      expect(res.status).toBe(401);
      expect(res.json).toMatchObject({ error: { reason: 'topic_mismatch' } });
      expect(h.writer.written).toHaveLength(0);
    });

    it('does not judge topics whose payload is not the whole object (deletions, edits, GDPR requests) or other families', async () => {
      const others = [
        ['{"id":1}', 'orders/delete'],
        ['{"order_edit":{"id":1,"order_id":2}}', 'orders/edited'],
        ['{"shop_id":1,"customer":{"id":2},"orders_to_redact":[3]}', 'customers/redact'],
        ['{"id":1,"title":"Tea"}', 'products/update'],
      ] as const;
      for (const [text, topic] of others) {
        fresh();
        const body = Buffer.from(text);
        expect((await post(url(), body, shopifyHeaders(body, topic))).status).toBe(200);
      }
    });
  });
});
