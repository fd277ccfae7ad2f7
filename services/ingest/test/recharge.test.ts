import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawSubscriptionWebhook } from '@cio-pipeline/core/generated/avro-types';
import { fixture, post, RECHARGE_SECRETS, rechargeLegacy, rechargeTimestamped, startHarness, type Harness } from './helpers.ts';

const NOW = Date.parse('2026-12-20T08:00:05Z');
let h: Harness;
beforeAll(async () => {
  // The first secret opts in to the legacy scheme; the second does not.
  h = await startHarness({ rechargeLegacySecrets: [RECHARGE_SECRETS[0]!] }, { now: () => NOW });
});
afterAll(() => h.close());

const url = (suffix = ''): string => `${h.url}/webhooks/recharge${suffix}`;
const fresh = (): void => {
  h.writer.written = [];
};
const nowS = Math.floor(NOW / 1000);
const value = (i = 0): RawSubscriptionWebhook => h.writer.written[i]!.value as RawSubscriptionWebhook;

describe('Recharge webhooks', () => {
  it.each([
    ['recharge/charge-paid.json', 'charge/paid'],
    ['recharge/subscription-created.json', 'subscription/created'],
  ])('accepts %s with the legacy signature, keyed by the Recharge customer id', async (file, topic) => {
    fresh();
    const body = fixture(file);
    const res = await post(url(), body, {
      'X-Recharge-Hmac-Sha256': rechargeLegacy(body, RECHARGE_SECRETS[0]!),
      'X-Recharge-Topic': topic,
      'X-Recharge-Webhook-Id': 'wh-1',
    });
    expect(res.status).toBe(200);
    const rec = h.writer.written[0]!;
    expect(rec.topic).toBe('t.raw.subscriptions');
    expect(rec.key).toBe('118273645');
    expect(Buffer.compare(value().body, body)).toBe(0);
    expect(value()).toMatchObject({ topic, topic_from_header: true, signature_scheme: 'legacy-sha256', webhook_id: 'wh-1', received_at: NOW });
  });

  it('accepts the timestamped scheme, with the second secret', async () => {
    fresh();
    const body = fixture('recharge/charge-paid.json');
    const res = await post(url(), body, {
      'X-Recharge-Webhook-Signature': rechargeTimestamped(body, RECHARGE_SECRETS[1]!, nowS - 10),
      'X-Recharge-Webhook-Timestamp': String(nowS - 10),
    });
    expect(res.status).toBe(200);
    expect(value()).toMatchObject({ signature_scheme: 'hmac-timestamped', topic: 'charge', topic_from_header: false });
  });

  it('takes the timestamp from its own header when the signature has no t=', async () => {
    fresh();
    const body = fixture('recharge/subscription-created.json');
    const sig = rechargeTimestamped(body, RECHARGE_SECRETS[0]!, nowS).replace(/^t=\d+,/, '');
    const res = await post(url(), body, { 'X-Recharge-Webhook-Signature': sig, 'X-Recharge-Webhook-Timestamp': String(nowS) });
    expect(res.status).toBe(200);
  });

  it('refuses a stale timestamped signature even when it is correctly signed', async () => {
    fresh();
    const body = fixture('recharge/charge-paid.json');
    for (const ts of [nowS - 301, nowS + 301]) {
      const res = await post(url(), body, {
        'X-Recharge-Webhook-Signature': rechargeTimestamped(body, RECHARGE_SECRETS[0]!, ts),
        // A valid legacy header must not rescue a stale timestamped one.
        'X-Recharge-Hmac-Sha256': rechargeLegacy(body, RECHARGE_SECRETS[0]!),
      });
      expect(res.status).toBe(401);
      expect(res.json).toMatchObject({ error: { reason: 'stale_signature' } });
    }
    expect(h.writer.written).toHaveLength(0);
  });

  it('refuses the legacy scheme when no secret opted in to it (the default)', async () => {
    const off = await startHarness({}, { now: () => NOW });
    try {
      const body = fixture('recharge/charge-paid.json');
      const res = await post(`${off.url}/webhooks/recharge`, body, { 'X-Recharge-Hmac-Sha256': rechargeLegacy(body, RECHARGE_SECRETS[0]!) });
      expect(res.status).toBe(401);
      expect(res.json).toMatchObject({ error: { reason: 'legacy_signature_disabled' } });
      expect(off.writer.written).toHaveLength(0);
    } finally {
      await off.close();
    }
  });

  it('refuses wrong signatures of both schemes', async () => {
    fresh();
    const body = fixture('recharge/charge-paid.json');
    const bad: Array<Record<string, string>> = [
      { 'X-Recharge-Hmac-Sha256': rechargeLegacy(body, 'wrong') },
      // HMAC where the legacy scheme wants a plain hash
      { 'X-Recharge-Hmac-Sha256': rechargeTimestamped(body, RECHARGE_SECRETS[0]!, 1).split('v1=')[1]! },
      { 'X-Recharge-Webhook-Signature': rechargeTimestamped(body, 'wrong', nowS) },
      { 'X-Recharge-Webhook-Signature': 'garbage' },
      {},
    ];
    for (const headers of bad) expect((await post(url(), body, headers)).status).toBe(401);
    expect(h.writer.written).toHaveLength(0);
  });

  it('accepts the legacy scheme only for a secret opted in to it', async () => {
    fresh();
    const body = fixture('recharge/charge-paid.json');
    const res = await post(url(), body, { 'X-Recharge-Hmac-Sha256': rechargeLegacy(body, RECHARGE_SECRETS[1]!) });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ error: { reason: 'bad_signature' } });
    expect(h.writer.written).toHaveLength(0);
  });

  it('answers a legacy-signed body that is not UTF-8 exactly like a wrong signature (no length-extension oracle)', async () => {
    fresh();
    // What a length extension produces: the signed body, then SHA-256 padding, then the attacker's bytes.
    const body = Buffer.concat([fixture('recharge/charge-paid.json'), Buffer.from([0x80, 0, 0, 0, 0, 0x0a, 0x58]), Buffer.from('{"x":1}')]);
    const signedExtension = await post(url(), body, { 'X-Recharge-Hmac-Sha256': rechargeLegacy(body, RECHARGE_SECRETS[0]!) });
    const wrong = await post(url(), body, { 'X-Recharge-Hmac-Sha256': rechargeLegacy(body, 'wrong') });
    expect(signedExtension.status).toBe(401);
    expect(signedExtension.text).toBe(wrong.text);
    expect(h.writer.written).toHaveLength(0);
  });

  it('takes the topic from a per-topic URL when there is no header', async () => {
    fresh();
    const body = fixture('recharge/charge-paid.json');
    const res = await post(url('/charge/paid'), body, { 'X-Recharge-Hmac-Sha256': rechargeLegacy(body, RECHARGE_SECRETS[0]!) });
    expect(res.status).toBe(200);
    expect(value()).toMatchObject({ topic: 'charge/paid', topic_from_header: false });
  });

  it('stores a signed payload of unknown shape with topic "unknown"', async () => {
    fresh();
    const body = Buffer.from('{"a":{},"b":1}');
    const res = await post(url(), body, { 'X-Recharge-Hmac-Sha256': rechargeLegacy(body, RECHARGE_SECRETS[0]!) });
    expect(res.status).toBe(200);
    expect(value()).toMatchObject({ topic: 'unknown' });
    expect(h.writer.written[0]!.key).toBeNull();
  });

  it('keeps a customer id above 2^53 exact in the key', async () => {
    fresh();
    const body = Buffer.from('{"customer":{"id":5904832711894301745,"email":"x@example.com"}}');
    const res = await post(url(), body, { 'X-Recharge-Hmac-Sha256': rechargeLegacy(body, RECHARGE_SECRETS[0]!) });
    expect(res.status).toBe(200);
    expect(h.writer.written[0]!.key).toBe('5904832711894301745');
  });
});
