import type { RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import type { IdentifierSet } from '../candidate.ts';
import type { EventDraft, SourceMapping } from '../draft.ts';
import { get, isLosslessNumber, isPlainObject, parseJsonLossless } from '../json.ts';
import { draft, firstPresent, requireObject, textOrNull } from './common.ts';

/**
 * Properties that name a cart or checkout also serve as identifiers: they are what ties an
 * anonymous cart to the checkout and order that later carry an email.
 */
const TOKEN_PROPERTIES: Record<string, 'cart_token' | 'checkout_token'> = {
  cart_id: 'cart_token', cartId: 'cart_token', cart_token: 'cart_token',
  checkout_id: 'checkout_token', checkoutId: 'checkout_token', checkout_token: 'checkout_token',
};

/**
 * The end user's agent and address, for the bot filter: what the message says about its user
 * (`context.userAgent`, `context.ip`). The request's own agent and address (raw.user_agent, raw.ip)
 * are whoever delivered it, as often a server-side SDK (`analytics-python/2.3`, `curl/8`) as a
 * browser; its address stands for the user's only when the browser posted itself (same agent).
 */
function endUserTraffic(body: Record<string, unknown>, raw: RawAppMessage): EventDraft['traffic'] {
  const userAgent = textOrNull(get(body, 'context', 'userAgent'));
  const ip = textOrNull(get(body, 'context', 'ip')) ?? (userAgent !== null && userAgent === raw.user_agent ? raw.ip : null);
  return { ip, userAgent };
}

/**
 * One Segment-shaped message -> drafts. track keeps its event name (the plan resolves it); page and
 * screen resolve through the plan as `page` / `screen`; identify and alias become profile updates.
 */
export function mapAppMessage(raw: RawAppMessage): SourceMapping {
  const body = requireObject(parseJsonLossless(raw.body), 'app message');
  const type = (raw.type || String(body['type'] ?? '')).toLowerCase();
  const userId = body['userId'];
  const anonymousId = body['anonymousId'];
  const contextTraits = get(body, 'context', 'traits');
  const base = {
    sourceEventId: raw.message_id,
    sourceType: type,
    deliveryKey: `app:${raw.message_id}`,
    // The ingest-corrected time first; the message's own when ingest had none.
    occurredAt: raw.timestamp ?? firstPresent(body['timestamp'], body['originalTimestamp']),
    occurredAtField: 'timestamp',
    fallbackOccurredAt: raw.received_at,
    traffic: endUserTraffic(body, raw),
  } satisfies Partial<EventDraft>;

  switch (type) {
    case 'track':
    case 'page':
    case 'screen': {
      const properties: Record<string, unknown> = { ...(isPlainObject(body['properties']) ? body['properties'] : {}) };
      const identifiers: EventDraft['identifiers'] = {
        customer_id: userId,
        anonymous_id: anonymousId,
        email: firstPresent(get(contextTraits, 'email')),
      };
      for (const [prop, idKey] of Object.entries(TOKEN_PROPERTIES)) {
        if (identifiers[idKey] === undefined && properties[prop] !== undefined) identifiers[idKey] = properties[prop];
      }
      let name: unknown = body['event'];
      if (type !== 'track') {
        // Segment's page/screen name and category are properties of the view; the call type is the event.
        if (body['name'] !== undefined && properties['name'] === undefined) properties['name'] = body['name'];
        if (body['category'] !== undefined && properties['category'] === undefined) properties['category'] = body['category'];
        name = type;
      }
      return {
        drafts: [draft({ ...base, kind: type === 'track' ? 'event' : type, name: typeof name === 'string' ? name : null, properties, identifiers })],
        ignored: [],
      };
    }
    case 'identify': {
      const traits: Record<string, unknown> = { ...(isPlainObject(body['traits']) ? body['traits'] : {}) };
      const identifiers: EventDraft['identifiers'] = {
        customer_id: userId,
        anonymous_id: anonymousId,
        email: firstPresent(traits['email'], get(contextTraits, 'email')),
        shopify_customer_id: firstPresent(traits['shopify_customer_id'], traits['shopifyCustomerId']),
        subscription_customer_id: firstPresent(
          traits['subscription_customer_id'], traits['recharge_customer_id'], traits['rechargeCustomerId'],
        ),
      };
      // Email travels as the event's email (and identifier), not as a second attribute.
      delete traits['email'];
      return { drafts: [draft({ ...base, kind: 'identify', attributes: traits, identifiers, assertsLinks: true })], ignored: [] };
    }
    case 'alias': {
      // Only a link: previousId (usually the anonymous id the user had) now belongs to userId.
      const previousId = firstPresent(body['previousId'], anonymousId);
      const identifiers: EventDraft['identifiers'] = { customer_id: userId };
      if (typeof previousId === 'string' && previousId.includes('@')) identifiers.email = previousId;
      else identifiers.anonymous_id = previousId;
      return { drafts: [draft({ ...base, kind: 'identify', identifiers, assertsLinks: true })], ignored: [] };
    }
    default:
      // group and anything newer: nothing Customer.io's person model uses yet.
      return { drafts: [], ignored: [{ reason: 'ignored_topic', event_name: type }], sender: senderOf(body) };
  }
}

/** Longer than Customer.io's id limit: not an id worth indexing (the event is quarantined anyway). */
const MAX_SENDER_ID = 150;

function senderId(value: unknown): string | undefined {
  const text = typeof value === 'string' ? value : typeof value === 'number' || isLosslessNumber(value) ? String(value) : null;
  const id = text?.trim();
  return id && id.length <= MAX_SENDER_ID ? id : undefined;
}

/** Who sent a parsed message: its ids as sent, each a short string; nothing else is read. */
function senderOf(body: Record<string, unknown>): IdentifierSet {
  const ids: IdentifierSet = {};
  const customerId = senderId(body['userId']);
  const anonymousId = senderId(body['anonymousId']);
  const email = senderId(firstPresent(get(body, 'traits', 'email'), get(body, 'context', 'traits', 'email')))?.toLowerCase();
  if (customerId) ids.customer_id = customerId;
  if (anonymousId) ids.anonymous_id = anonymousId;
  if (email) ids.email = email;
  return ids;
}

/**
 * Who sent a message ingest rejected (its body was never mapped), read only so its audit record
 * names the person and `trace` finds it. A body that does not parse (or nests too deep) names no one.
 */
export function senderIdentifiers(raw: RawAppMessage): IdentifierSet {
  let body: unknown;
  try {
    body = parseJsonLossless(raw.body);
  } catch {
    return {};
  }
  return isPlainObject(body) ? senderOf(body) : {};
}
