import { createHash } from 'node:crypto';
import type { EventDraft } from '../draft.ts';
import { get, isPlainObject } from '../json.ts';
import { UnparseableBodyError } from '../json.ts';

/** A draft with the defaults every source shares; the source fills in what it knows. */
export function draft(fields: Partial<EventDraft> & Pick<EventDraft, 'kind' | 'sourceEventId' | 'deliveryKey' | 'fallbackOccurredAt'>): EventDraft {
  return {
    name: null,
    properties: {},
    attributes: {},
    identifiers: {},
    occurredAt: undefined,
    occurredAtField: 'timestamp',
    sourceType: null,
    assertsLinks: false,
    traffic: { ip: null, userAgent: null },
    fieldPrefix: '',
    ...fields,
  };
}

export function requireObject(body: unknown, what: string): Record<string, unknown> {
  if (!isPlainObject(body)) throw new UnparseableBodyError(`${what} body must be a JSON object`);
  return body;
}

/**
 * Delivery key when the source sent no delivery id: a hash of topic and body, so an identical
 * redelivery (Shopify and Recharge resend the original payload) gets the same key.
 */
export function bodyKey(prefix: string, topic: string, body: Uint8Array): string {
  const hash = createHash('sha256').update(topic).update('\n').update(body).digest('hex').slice(0, 32);
  return `${prefix}:body:${hash}`;
}

/** First value that is not absent (undefined, null, blank string). */
export function firstPresent(...values: unknown[]): unknown {
  return values.find((v) => v !== undefined && v !== null && !(typeof v === 'string' && v.trim() === ''));
}

/**
 * The buyer's browser as a webhook records it (Shopify orders: `client_details.user_agent`,
 * `browser_ip`), for the bot filter. The webhook's own sender is Shopify, never the buyer.
 */
export function browserTraffic(body: Record<string, unknown>): EventDraft['traffic'] {
  return {
    ip: textOrNull(get(body, 'client_details', 'browser_ip')) ?? textOrNull(body['browser_ip']),
    userAgent: textOrNull(get(body, 'client_details', 'user_agent')),
  };
}

/** A string that says something, or null. */
export function textOrNull(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}
