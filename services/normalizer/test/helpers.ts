import type { Coerced } from '../src/stages/coerce.ts';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RawAppMessage, RawShopifyWebhook, RawSubscriptionWebhook } from '@cio-pipeline/core/generated/avro-types';
import { loadNormalizerConfig } from '../src/config.ts';
import {
  createStatelessPipeline, pipelineOptionsFromConfig, type StatelessInput, type StatelessOutput, type StatelessPipelineOptions,
} from '../src/stages/stateless.ts';
import { loadTrackingPlan, parseTrackingPlan, type TrackingPlan } from '@cio-pipeline/core';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures', import.meta.url));
export const PLAN_PATH = `${REPO}schemas/tracking-plan.yaml`;

export const plan: TrackingPlan = loadTrackingPlan(PLAN_PATH);
export const planText = (): string => readFileSync(PLAN_PATH, 'utf8');
/** The real plan with a text edit applied (for plan variants in tests). */
export const planWith = (edit: (text: string) => string): TrackingPlan => parseTrackingPlan(edit(planText()), 'test');

export const fixture = (path: string): Buffer => readFileSync(`${FIXTURES}/${path}`);

/** A fixed receipt time shortly after the journey (2026-11-20 19:10 UTC). */
export const RECEIVED_AT = Date.parse('2026-11-20T19:10:00Z');

/** Production's stage settings (the config's own defaults); only the internal traffic is the tests' choice. */
export const defaultOptions: StatelessPipelineOptions = pipelineOptionsFromConfig(loadNormalizerConfig({
  NORMALIZER_INTERNAL_IP_RANGES: '10.0.0.0/8,192.168.0.0/16,fd00::/8',
  NORMALIZER_INTERNAL_EMAIL_DOMAINS: 'tea-example.com',
}));

export function pipeline(options: Partial<StatelessPipelineOptions> = {}, p: TrackingPlan = plan) {
  return createStatelessPipeline({ plan: p, options: { ...defaultOptions, ...options } });
}

const coordinates = (topic: string) => ({ topic, partition: 0, offset: '42', key: null });

export function shopifyInput(topic: string, body: Buffer | string | object, over: Partial<RawShopifyWebhook> = {}, receivedAt = RECEIVED_AT): StatelessInput {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const envelope: RawShopifyWebhook = {
    ingest_id: 'ing-1', received_at: receivedAt, topic, shop_domain: 'tea-example.myshopify.com', webhook_id: 'wh-1',
    event_id: 'ev-1', triggered_at: null, api_version: '2025-10', body: bytes, ...over,
  };
  return { source: 'shopify', envelope, schemaVersion: 3, coordinates: coordinates('raw.shopify'), receivedAt };
}

export function rechargeInput(topic: string, body: Buffer | string | object, over: Partial<RawSubscriptionWebhook> = {}, receivedAt = Date.parse('2026-12-20T08:00:05Z')): StatelessInput {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const envelope: RawSubscriptionWebhook = {
    ingest_id: 'ing-2', received_at: receivedAt, topic, topic_from_header: topic.includes('/'), signature_scheme: 'hmac-timestamped',
    webhook_id: 'rc-1', body: bytes, ...over,
  };
  return { source: 'subscriptions', envelope, schemaVersion: 2, coordinates: coordinates('raw.subscriptions'), receivedAt };
}

/** An app message as ingest would store it; `timestamp` is ingest's skew-corrected time (null = none). */
export function appInput(message: Record<string, unknown> | string, over: Partial<RawAppMessage> = {}, receivedAt = RECEIVED_AT): StatelessInput {
  const m = typeof message === 'string' ? (JSON.parse(message) as Record<string, unknown>) : message;
  const envelope: RawAppMessage = {
    ingest_id: 'ing-3', received_at: receivedAt, write_key_id: 'store-app', type: String(m['type'] ?? 'track'),
    message_id: String(m['messageId'] ?? 'm-x'), message_id_generated: false,
    timestamp: typeof m['timestamp'] === 'string' ? Date.parse(m['timestamp']) : null, sent_at: null,
    ip: (m['context'] as { ip?: string } | undefined)?.ip ?? null,
    user_agent: (m['context'] as { userAgent?: string } | undefined)?.userAgent ?? null,
    body: Buffer.from(typeof message === 'string' ? message : JSON.stringify(message)), rejection: null, ...over,
  };
  return { source: 'app', envelope, schemaVersion: 1, coordinates: coordinates('raw.app'), receivedAt };
}

/** The journey batch's messages, each kept as its exact JSON text (numbers keep their digits). */
export function journeyMessages(): Record<string, unknown>[] {
  return (JSON.parse(fixture('app/journey-batch.json').toString('utf8')) as { batch: Record<string, unknown>[] }).batch;
}

export function only(out: StatelessOutput) {
  if (out.quarantine) throw new Error(`quarantined: ${JSON.stringify(out.quarantine)}`);
  if (out.candidates.length !== 1) throw new Error(`expected one candidate, got ${out.candidates.length}`);
  return out.candidates[0]!;
}

export function codes(out: StatelessOutput): string[] {
  return (out.quarantine?.reasons ?? []).map((r) => r.code);
}

/** The line item fields from Segment's spec that webhooks do not carry, all null. */
export const NO_PRODUCT_EXTRAS = { brand: null, variant: null, coupon: null, position: null, url: null, image_url: null } as const;

/** A coercion's value; throws with its message when it failed. */
export const okValue = <T>(r: Coerced<T>): T => {
  if (!r.ok) throw new Error(`expected ok, got ${r.message}`);
  return r.value;
};

/** A coercion's failure; throws when it succeeded. */
export const failureOf = <T>(r: Coerced<T>): Extract<Coerced<T>, { ok: false }> => {
  if (r.ok) throw new Error(`expected a failure, got ${JSON.stringify(r.value)}`);
  return r;
};
