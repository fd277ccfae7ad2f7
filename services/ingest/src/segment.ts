import { createHash, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import type { WriteKey } from './config.ts';
import { badRequest, payloadTooLarge, unauthorized } from './errors.ts';
import { arrayElements, getIdString, getPath, getString, isObject, objectMembers, parseJsonBody, withoutMembers } from './lossless-json.ts';
import type { RawRecord } from './raw-writer.ts';
import { header, type IngestRequest } from './request-context.ts';
import { matchWriteKey } from './signatures.ts';

export const SEGMENT_CALLS = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type SegmentCall = (typeof SEGMENT_CALLS)[number];

export interface SegmentOptions {
  writeKeys: readonly WriteKey[];
  topic: string;
  /** Per message (a single call, or each message of a batch). */
  maxMessageBytes: number;
}

/** `track`, ..., or `batch`, from `/v1/<call>`. */
export type SegmentEndpoint = SegmentCall | 'batch';

const DROP_FROM_BODY = new Set(['writeKey']);

/**
 * A Segment HTTP API call: one raw record per message. A batch is all-or-nothing: any bad message
 * refuses the whole request, so the source can resend it unchanged after a fix without duplicates.
 */
export function segmentRecords(req: IngestRequest, endpoint: SegmentEndpoint, opts: SegmentOptions): RawRecord[] {
  const basicKey = basicAuthKey(req.headers);
  let source: WriteKey | null = null;
  if (basicKey !== undefined) source = authenticate(basicKey, opts.writeKeys);

  const { text, value } = parseJsonBody(req.body);
  if (!isObject(value)) throw badRequest('bad_json', 'request body must be a JSON object');
  if (source === null) {
    const bodyKey = getString(value, ['writeKey']);
    if (bodyKey === null) throw unauthorized('missing_write_key', 'no write key: send Basic auth `writeKey:` or `writeKey` in the body');
    source = authenticate(bodyKey, opts.writeKeys);
  }

  const members = objectMembers(text);
  const messages: Array<{ value: unknown; text: string; type: string }> = [];
  if (endpoint === 'batch') {
    const batch = members.find((m) => m.key === 'batch');
    if (batch === undefined || !Array.isArray(value['batch'])) throw badRequest('bad_batch', '"batch" must be an array of messages');
    const items = value['batch'] as unknown[];
    const spans = arrayElements(text, batch.valueStart);
    for (const [i, item] of items.entries()) {
      const span = spans[i] as [number, number];
      if (!isObject(item)) throw badRequest('bad_batch', `batch[${i}] must be a JSON object`);
      const type = getString(item, ['type']);
      if (type === null || !(SEGMENT_CALLS as readonly string[]).includes(type)) {
        throw badRequest('bad_batch', `batch[${i}].type must be one of ${SEGMENT_CALLS.join(', ')}`);
      }
      messages.push({ value: item, text: withoutMembers(text, span[0], DROP_FROM_BODY), type });
    }
  } else {
    // A body-borne write key is a credential: it stays out of Kafka; every other byte is kept.
    const hasKey = members.some((m) => DROP_FROM_BODY.has(m.key));
    messages.push({ value, text: hasKey ? withoutMembers(text, text.indexOf('{'), DROP_FROM_BODY) : text, type: endpoint });
  }

  const batchSentAt = getString(value, ['sentAt']);
  const records: RawRecord[] = [];
  for (const [i, m] of messages.entries()) {
    // Unchanged single-call text is the request body itself: reuse its bytes.
    const body = m.text === text ? req.body : Buffer.from(m.text, 'utf8');
    if (body.length > opts.maxMessageBytes) throw payloadTooLarge(opts.maxMessageBytes, endpoint === 'batch' ? `batch[${i}]` : 'message');
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
    };
    const key = getIdString(m.value, ['userId']) ?? getIdString(m.value, ['anonymousId']);
    records.push({ topic: opts.topic, key, value: record });
  }
  return records;
}

/**
 * Segment's clock-skew correction: timestamp = receivedAt - (sentAt - originalTimestamp). Without
 * sentAt the client's timestamp is taken as is (historical imports); without any, receivedAt.
 * A timestamp that does not parse is left null for the normalizer to judge.
 */
export function correctedTimestamp(message: unknown, sentAt: string | null, receivedAt: number): number | null {
  const originalRaw = getPath(message, ['originalTimestamp']) ?? getPath(message, ['timestamp']);
  if (originalRaw === undefined || originalRaw === null) return receivedAt;
  const original = typeof originalRaw === 'string' ? parseIsoMs(originalRaw) : null;
  if (original === null) return null;
  const sent = sentAt === null ? null : parseIsoMs(sentAt);
  if (sent === null) return original;
  return receivedAt - (sent - original);
}

function parseIsoMs(s: string): number | null {
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : null;
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
 * Without the header the key may be in the body, which must then be read.
 */
export function checkWriteKeyHeader(headers: IncomingHttpHeaders, writeKeys: readonly WriteKey[]): void {
  const key = basicAuthKey(headers);
  if (key !== undefined) authenticate(key, writeKeys);
}

/** The write key from `Authorization: Basic base64(writeKey:)`; undefined when no such header. */
function basicAuthKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = header(headers, 'authorization');
  if (auth === undefined) return undefined;
  const m = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth);
  if (m === null) throw unauthorized('bad_write_key', 'Authorization must be Basic base64(writeKey:)');
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? decoded : decoded.slice(0, colon);
}

function authenticate(key: string, keys: readonly WriteKey[]): WriteKey {
  const found = key === '' ? null : matchWriteKey(key, keys);
  if (found === null) throw unauthorized('bad_write_key', 'unknown write key');
  return found;
}
