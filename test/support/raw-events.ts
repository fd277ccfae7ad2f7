/** Builds raw envelopes from the shared fixtures, as ingest would write them, for normalizer tests. */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { RawAppMessage, RawShopifyWebhook, RawSubscriptionWebhook } from '@cio-pipeline/core/generated/avro-types';

export const FIXTURES_DIR = process.env['FIXTURES_DIR'] ?? join(import.meta.dirname, '../fixtures');

export function fixtureBytes(path: string): Buffer {
  return readFileSync(join(FIXTURES_DIR, path));
}

export function shopifyEnvelope(topic: string, body: Buffer, opts: { webhookId?: string; receivedAt?: number } = {}): RawShopifyWebhook {
  const webhookId = opts.webhookId ?? `wh-${createHash('sha256').update(topic).update(body).digest('hex').slice(0, 16)}`;
  return {
    ingest_id: `ing-${webhookId}`,
    received_at: opts.receivedAt ?? Date.parse('2026-11-20T19:05:00Z'),
    topic,
    shop_domain: 'tea-example.myshopify.com',
    webhook_id: webhookId,
    event_id: null,
    triggered_at: null,
    api_version: '2025-10',
    body,
  };
}

export function rechargeEnvelope(topic: string, body: Buffer, opts: { receivedAt?: number } = {}): RawSubscriptionWebhook {
  return {
    ingest_id: `ing-${createHash('sha256').update(body).digest('hex').slice(0, 16)}`,
    received_at: opts.receivedAt ?? Date.parse('2026-12-20T08:00:05Z'),
    topic,
    topic_from_header: true,
    signature_scheme: 'hmac-timestamped',
    webhook_id: null,
    body,
  };
}

/** Splits the app fixture's batch into one envelope per message, bodies as exact JSON text. */
export function appEnvelopes(path = 'app/journey-batch.json', opts: { receivedAt?: number } = {}): RawAppMessage[] {
  const batch = JSON.parse(fixtureBytes(path).toString('utf8')) as { batch: Array<Record<string, unknown>> };
  return batch.batch.map((m) => appEnvelope(m, opts));
}

export function appEnvelope(message: Record<string, unknown>, opts: { receivedAt?: number } = {}): RawAppMessage {
  const timestamp = typeof message['timestamp'] === 'string' ? Date.parse(message['timestamp']) : null;
  return {
    ingest_id: `ing-${String(message['messageId'])}`,
    received_at: opts.receivedAt ?? (timestamp ?? Date.now()) + 500,
    write_key_id: 'web',
    type: String(message['type']),
    message_id: String(message['messageId']),
    message_id_generated: false,
    timestamp,
    sent_at: null,
    ip: null,
    user_agent: null,
    body: Buffer.from(JSON.stringify(message)),
    rejection: null,
  };
}

/** The key ingest gives an app message: one shopper's raw events in one partition. */
export function appKey(message: RawAppMessage): string {
  const m = JSON.parse(message.body.toString('utf8')) as { userId?: string; anonymousId?: string };
  return m.userId ?? m.anonymousId ?? message.message_id;
}
