import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { RawSubscriptionWebhook } from '@cio-pipeline/core/generated/avro-types';
import { badRequest, unauthorized, type IngestRequestError } from './errors.ts';
import { getIdString, isObject, parseJsonBody } from './lossless-json.ts';
import type { RawRecord } from './raw-writer.ts';
import { header, type IngestRequest } from './request-context.ts';
import { isHexDigest, parseTimestampedSignature, signatureTimeMs, verifyRechargeLegacy, verifyRechargeTimestamped } from './signatures.ts';

export interface RechargeOptions {
  /** Secrets for the timestamped HMAC scheme (all of them). */
  secrets: readonly string[];
  /** Secrets opted in to the legacy `sha256(secret || body)` scheme; empty turns that scheme off. */
  legacySecrets: readonly string[];
  toleranceS: number;
  topic: string;
  now?: () => number;
}

const URL_PREFIX = '/webhooks/recharge/';

/**
 * A Recharge webhook. When the timestamped signature header is present it decides alone: falling
 * back to the legacy scheme would let a stale, replayed request in.
 */
export function rechargeRecords(req: IngestRequest, opts: RechargeOptions): RawRecord[] {
  const scheme = verifyRecharge(req, opts);
  const { value } = parseJsonBody(req.body);
  if (!isObject(value)) throw badRequest('bad_json', 'request body must be a JSON object');

  let topic = header(req.headers, 'x-recharge-topic');
  const fromHeader = topic !== undefined;
  if (topic === undefined && req.path.startsWith(URL_PREFIX) && req.path.length > URL_PREFIX.length) {
    topic = safeDecode(req.path.slice(URL_PREFIX.length));
  }
  // The topic header and URL are not signed either, but a body resent under another object's topic
  // is harmless: the normalizer reads the object the topic names ({"charge": ...} for charge/paid)
  // and ignores the webhook when it is missing. Refusing it here could fail a genuine webhook
  // whose shape ingest misjudged, and Recharge deletes a webhook after two days of failures.
  if (topic === undefined) {
    // The payload's single top-level key names the object: {"charge": {...}} -> "charge".
    const keys = Object.keys(value);
    topic = keys.length === 1 && isObject(value[keys[0] as string]) ? (keys[0] as string) : 'unknown';
  }
  const record: RawSubscriptionWebhook = {
    ingest_id: randomUUID(),
    received_at: req.receivedAt,
    topic,
    topic_from_header: fromHeader,
    signature_scheme: scheme,
    webhook_id: header(req.headers, 'x-recharge-webhook-id') ?? null,
    body: req.body,
  };
  return [{ topic: opts.topic, key: rechargeKey(value), value: record }];
}

const LEGACY_MISMATCH = 'X-Recharge-Hmac-Sha256 does not match the body';

/**
 * What can be judged from the headers alone, before the body is read: a signature header of a
 * usable shape for an enabled scheme. A caller without one is refused without costing a body read.
 */
export function checkRechargeHeaders(headers: IncomingHttpHeaders, opts: Pick<RechargeOptions, 'legacySecrets'>): void {
  const signatureHeader = header(headers, 'x-recharge-webhook-signature');
  if (signatureHeader !== undefined) {
    if (parseTimestampedSignature(signatureHeader, header(headers, 'x-recharge-webhook-timestamp')) === null) throw malformedTimestamped();
    return;
  }
  const legacy = header(headers, 'x-recharge-hmac-sha256');
  if (legacy === undefined) throw unauthorized('missing_signature', 'no Recharge signature header');
  if (opts.legacySecrets.length === 0) throw legacyDisabled();
  // A SHA-256 digest is 64 hex digits; anything else cannot match, so the answer is the mismatch's.
  if (!isHexDigest(legacy, 32)) throw unauthorized('bad_signature', LEGACY_MISMATCH);
}

function verifyRecharge(req: IngestRequest, opts: RechargeOptions): 'hmac-timestamped' | 'legacy-sha256' {
  checkRechargeHeaders(req.headers, opts);
  const signatureHeader = header(req.headers, 'x-recharge-webhook-signature');
  if (signatureHeader !== undefined) {
    const sig = parseTimestampedSignature(signatureHeader, header(req.headers, 'x-recharge-webhook-timestamp'));
    if (sig === null) throw malformedTimestamped();
    if (!verifyRechargeTimestamped(req.body, sig, opts.secrets)) {
      throw unauthorized('bad_signature', 'X-Recharge-Webhook-Signature does not match the body');
    }
    // Checked after the HMAC so the answer does not tell an unsigned caller which part was wrong.
    const skewMs = Math.abs((opts.now ?? Date.now)() - signatureTimeMs(sig.timestamp));
    if (skewMs > opts.toleranceS * 1000) {
      throw unauthorized('stale_signature', `signature timestamp is more than ${opts.toleranceS} s from now`);
    }
    return 'hmac-timestamped';
  }
  const legacy = header(req.headers, 'x-recharge-hmac-sha256');
  // Length extension appends SHA-256 padding (0x80, zeros, a length) to a signed body, which is
  // never valid UTF-8 after a valid UTF-8 body. Refusing such a body exactly like a mismatch keeps
  // the answer from telling an attacker that a guessed secret length was right (it used to be 400).
  if (!verifyRechargeLegacy(req.body, legacy, opts.legacySecrets) || !isUtf8(req.body)) {
    throw unauthorized('bad_signature', LEGACY_MISMATCH);
  }
  return 'legacy-sha256';
}

function malformedTimestamped(): IngestRequestError {
  return unauthorized('bad_signature', 'X-Recharge-Webhook-Signature must look like t=<ts>,v1=<hex>');
}

function legacyDisabled(): IngestRequestError {
  return unauthorized(
    'legacy_signature_disabled',
    'the legacy X-Recharge-Hmac-Sha256 scheme is not enabled for any secret; sign with X-Recharge-Webhook-Signature',
  );
}

/** Recharge customer id wherever the object keeps it (subscription, charge, order, customer). */
export function rechargeKey(body: unknown): string | null {
  for (const [name, obj] of Object.entries(isObject(body) ? body : {})) {
    if (!isObject(obj)) continue;
    const id =
      getIdString(obj, ['customer_id']) ??
      getIdString(obj, ['customer', 'id']) ??
      (name === 'customer' ? getIdString(obj, ['id']) : null);
    if (id !== null) return id;
  }
  return null;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
