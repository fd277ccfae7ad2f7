import { createHash, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { parseIsoTimestamp } from '@cio-pipeline/core';
import type { IngestRejection, RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import type { WriteKey } from './config.ts';
import { badRequest, payloadTooLarge, unauthorized } from './errors.ts';
import { MAX_JSON_DEPTH } from './json-depth.ts';
import { arrayElements, type CutElement, getIdString, getPath, getString, isObject, objectMembers, parseJsonBody, withoutMembers } from './lossless-json.ts';
import type { RawRecord } from './raw-writer.ts';
import { header, type IngestRequest } from './request-context.ts';
import { matchWriteKey } from './signatures.ts';

export const SEGMENT_CALLS = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type SegmentCall = (typeof SEGMENT_CALLS)[number];

/** `track`, ..., or `batch`, from the request path. */
export type SegmentEndpoint = SegmentCall | 'batch';

/**
 * Every path of the Segment HTTP API ingest answers: the documented ones, `/v1/import` (Segment's
 * old alias of batch), and analytics.js's short paths (the first letter of the call, `b` for batch).
 */
export const SEGMENT_PATHS: ReadonlyMap<string, SegmentEndpoint> = new Map<string, SegmentEndpoint>([
  ...SEGMENT_CALLS.map((call): [string, SegmentEndpoint] => [`/v1/${call}`, call]),
  ...SEGMENT_CALLS.map((call): [string, SegmentEndpoint] => [`/v1/${call[0] as string}`, call]),
  ['/v1/batch', 'batch'],
  ['/v1/import', 'batch'],
  ['/v1/b', 'batch'],
]);

export interface SegmentOptions {
  writeKeys: readonly WriteKey[];
  topic: string;
  /** Per message (a single call, or each message of a batch). */
  maxMessageBytes: number;
}

const DROP_FROM_BODY = new Set(['writeKey']);

interface Message {
  value: unknown;
  text: string;
  type: string;
  rejection: IngestRejection | null;
}

/**
 * A Segment HTTP API call: one raw record per message. Only faults of the whole request (auth, JSON,
 * size) are refused. As Segment does, a batch is answered 200 as a whole: an invalid message in it
 * is stored too, marked with why, so the normalizer quarantines it (visible, counted, replayable)
 * and the valid ones are not lost with it (analytics-node drops a batch answered 400, no retry).
 */
export function segmentRecords(req: IngestRequest, endpoint: SegmentEndpoint, opts: SegmentOptions): RawRecord[] {
  const headerKey = authorizationKey(req.headers);
  let source: WriteKey | null = null;
  if (headerKey !== undefined) source = authenticate(headerKey, opts.writeKeys);

  const { text, value, cut } = parseJsonBody(req.body, endpoint === 'batch' ? 'batch' : undefined);
  if (!isObject(value)) throw badRequest('bad_json', 'request body must be a JSON object');
  if (source === null) {
    const bodyKey = getString(value, ['writeKey']);
    if (bodyKey === null) throw unauthorized('missing_write_key', 'no write key: send Basic auth `writeKey:` or `writeKey` in the body');
    source = authenticate(bodyKey, opts.writeKeys);
  }

  const members = objectMembers(text);
  const messages: Message[] = [];
  if (endpoint === 'batch') {
    const batch = members.find((m) => m.key === 'batch');
    if (batch === undefined || !Array.isArray(value['batch'])) throw badRequest('bad_batch', '"batch" must be an array of messages');
    const items = value['batch'] as unknown[];
    const spans = arrayElements(text, batch.valueStart);
    for (const [i, item] of items.entries()) {
      const span = spans[i] as [number, number];
      const element = cut.get(i);
      messages.push(element === undefined ? batchMessage(text, span, item, i, opts.maxMessageBytes) : cutMessage(element, i));
    }
  } else {
    // A body-borne write key is a credential: it stays out of Kafka; every other byte is kept.
    const hasKey = members.some((m) => DROP_FROM_BODY.has(m.key));
    const stored = hasKey ? withoutMembers(text, text.indexOf('{'), DROP_FROM_BODY) : text;
    if (Buffer.byteLength(stored) > opts.maxMessageBytes) throw payloadTooLarge(opts.maxMessageBytes, 'message');
    messages.push({ value, text: stored, type: endpoint, rejection: null });
  }

  const batchSentAt = getString(value, ['sentAt']);
  return messages.map((m) => {
    // Unchanged single-call text is the request body itself: reuse its bytes.
    const body = m.text === text ? req.body : Buffer.from(m.text, 'utf8');
    const sentAt = getString(m.value, ['sentAt']) ?? batchSentAt;
    const given = getIdString(m.value, ['messageId']);
    const record: RawAppMessage = {
      ingest_id: randomUUID(),
      received_at: req.receivedAt,
      write_key_id: source.source,
      type: m.type,
      message_id: given ?? generatedMessageId(source.source, body, m.value),
      message_id_generated: given === null,
      timestamp: correctedTimestamp(m.value, sentAt, req.receivedAt),
      sent_at: sentAt,
      ip: getString(m.value, ['context', 'ip']) ?? getString(value, ['context', 'ip']) ?? req.remoteAddress,
      user_agent:
        getString(m.value, ['context', 'userAgent']) ?? getString(value, ['context', 'userAgent']) ?? header(req.headers, 'user-agent') ?? null,
      body,
      rejection: m.rejection,
    };
    const key = getIdString(m.value, ['userId']) ?? getIdString(m.value, ['anonymousId']);
    return { topic: opts.topic, key, value: record };
  });
}

/** One message of a batch, judged on its own: what it is, or why it is invalid. */
function batchMessage(text: string, [start, end]: [number, number], item: unknown, i: number, maxBytes: number): Message {
  if (!isObject(item)) {
    return { value: item, text: text.slice(start, end), type: '', rejection: { code: 'not_an_object', field: null, message: `batch[${i}] is not a JSON object` } };
  }
  const stored = withoutMembers(text, start, DROP_FROM_BODY);
  const type = getString(item, ['type']);
  if (type === null || !(SEGMENT_CALLS as readonly string[]).includes(type)) {
    const message = `batch[${i}].type must be one of ${SEGMENT_CALLS.join(', ')}`;
    return { value: item, text: stored, type: type ?? '', rejection: { code: 'unknown_call_type', field: 'type', message } };
  }
  const bytes = Buffer.byteLength(stored);
  if (bytes > maxBytes) {
    return { value: item, text: stored, type, rejection: { code: 'message_too_large', field: null, message: `batch[${i}] is ${bytes} bytes; the limit per message is ${maxBytes}` } };
  }
  return { value: item, text: stored, type, rejection: null };
}

/**
 * A message the parser left out (too deep, or a key repeated with another value): stored as sent
 * but for a write key, unread, marked with why. A repeated key is what the normalizer's parser
 * refuses too, hence unparseable_body.
 */
function cutMessage(element: CutElement, i: number): Message {
  const rejection: IngestRejection =
    element.why === 'too_deep'
      ? { code: 'nesting_too_deep', field: null, message: `batch[${i}] is nested deeper than ${MAX_JSON_DEPTH} levels` }
      : { code: 'unparseable_body', field: null, message: `batch[${i}] repeats the key ${JSON.stringify(element.key.slice(0, 100))} with another value` };
  return { value: null, text: withoutMembers(element.text, 0, DROP_FROM_BODY), type: '', rejection };
}

/**
 * Segment's clock-skew correction: time = receivedAt - (sentAt - client time). The client time is
 * `timestamp` (what Segment's libraries send), else `originalTimestamp`: RudderStack's SDKs stamp
 * `originalTimestamp` when the call is queued and keep a caller's explicit `timestamp` beside it,
 * and the explicit one is the event's time (the normalizer reads them in the same order). Without
 * sentAt the client's time is taken as is (historical imports); without any, receivedAt. A time
 * that does not parse is left null for the normalizer to judge.
 */
export function correctedTimestamp(message: unknown, sentAt: string | null, receivedAt: number): number | null {
  const originalRaw = getPath(message, ['timestamp']) ?? getPath(message, ['originalTimestamp']);
  if (originalRaw === undefined || originalRaw === null) return receivedAt;
  const original = typeof originalRaw === 'string' ? parseIsoTimestamp(originalRaw) : null;
  if (original === null) return null;
  const sent = sentAt === null ? null : parseIsoTimestamp(sentAt);
  if (sent === null) return original;
  return receivedAt - (sent - original);
}

/**
 * A message without messageId gets one. With a client timestamp the id is derived from the exact
 * bytes, so a resent batch gets the same ids and downstream dedupe still works; without one there is
 * nothing to tell a resend from a new event, so it is random.
 */
function generatedMessageId(source: string, body: Buffer, message: unknown): string {
  const hasTime = getString(message, ['timestamp']) !== null || getString(message, ['originalTimestamp']) !== null;
  if (!hasTime) return `ingest-${randomUUID()}`;
  return `ingest-${createHash('sha256').update(source).update('\0').update(body).digest('hex').slice(0, 32)}`;
}

/**
 * Before the body is read: a Basic-auth write key that is malformed or unknown is refused at once.
 * Without the header (or with Bearer) the key is in the body, which must then be read.
 */
export function checkWriteKeyHeader(headers: IncomingHttpHeaders, writeKeys: readonly WriteKey[]): void {
  const key = authorizationKey(headers);
  if (key !== undefined) authenticate(key, writeKeys);
}

/**
 * The write key from `Authorization: Basic base64(writeKey:)`; undefined when there is no header, or
 * for `Bearer` (Segment's OAuth: the token goes with `writeKey` in the body, which then authenticates;
 * ingest cannot verify Segment's OAuth tokens, so the write key stays the credential).
 */
function authorizationKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = header(headers, 'authorization');
  if (auth === undefined || /^bearer\s/i.test(auth)) return undefined;
  const m = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth);
  if (m === null) throw unauthorized('bad_write_key', 'Authorization must be Basic base64(writeKey:), or Bearer with writeKey in the body');
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? decoded : decoded.slice(0, colon);
}

function authenticate(key: string, keys: readonly WriteKey[]): WriteKey {
  const found = key === '' ? null : matchWriteKey(key, keys);
  if (found === null) throw unauthorized('bad_write_key', 'unknown write key');
  return found;
}
