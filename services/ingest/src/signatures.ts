import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signature checks over raw bytes. Every comparison is constant-time over equal-length digests, and
 * every secret is tried (no early exit) so timing reveals neither the match nor which secret matched.
 */

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const HEX = /^[0-9a-fA-F]+$/;

function equalDigest(expected: Buffer, given: Buffer | null): boolean {
  if (given === null || given.length !== expected.length) return false;
  return timingSafeEqual(expected, given);
}

function decodeBase64(value: string): Buffer | null {
  const v = value.trim();
  return BASE64.test(v) ? Buffer.from(v, 'base64') : null;
}

function decodeHex(value: string): Buffer | null {
  const v = value.trim();
  return HEX.test(v) && v.length % 2 === 0 ? Buffer.from(v, 'hex') : null;
}

/** True when `value` is hex for exactly `bytes` bytes (a digest of that size could match). */
export function isHexDigest(value: string, bytes: number): boolean {
  return decodeHex(value)?.length === bytes;
}

/** True when `value` is base64 for exactly `bytes` bytes. */
export function isBase64Digest(value: string, bytes: number): boolean {
  return decodeBase64(value)?.length === bytes;
}

/** Shopify: base64 HMAC-SHA256 of the raw body keyed with the app secret; any listed secret may match. */
export function verifyShopifyHmac(body: Buffer, header: string | undefined, secrets: readonly string[]): boolean {
  if (header === undefined) return false;
  const given = decodeBase64(header);
  let ok = false;
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(body).digest();
    ok = equalDigest(expected, given) || ok;
  }
  return ok;
}

/**
 * Recharge legacy: hex SHA-256 (not an HMAC) of secret followed by the raw body. It admits length
 * extension, so callers pass only the secrets opted in to it.
 */
export function verifyRechargeLegacy(body: Buffer, header: string | undefined, secrets: readonly string[]): boolean {
  if (header === undefined) return false;
  const given = decodeHex(header);
  let ok = false;
  for (const secret of secrets) {
    const expected = createHash('sha256').update(secret, 'utf8').update(body).digest();
    ok = equalDigest(expected, given) || ok;
  }
  return ok;
}

export interface TimestampedSignature {
  /** The timestamp exactly as signed. */
  timestamp: string;
  v1: string[];
}

/** `t=<ts>,v1=<hex>[,v1=<hex>...]`; null when there is no usable t or v1. */
export function parseTimestampedSignature(header: string, timestampHeader?: string): TimestampedSignature | null {
  let timestamp: string | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 't') timestamp = value;
    else if (name === 'v1') v1.push(value);
  }
  timestamp ??= timestampHeader?.trim();
  if (timestamp === undefined || !/^\d{1,16}$/.test(timestamp) || v1.length === 0) return null;
  return { timestamp, v1 };
}

/** Seconds since the epoch; a 13-digit value is taken as milliseconds. */
export function signatureTimeMs(timestamp: string): number {
  const n = Number(timestamp);
  return timestamp.length >= 13 ? n : n * 1000;
}

/** Recharge timestamped scheme: hex HMAC-SHA256 of `<ts>.<body>`; any v1 under any secret may match. */
export function verifyRechargeTimestamped(body: Buffer, sig: TimestampedSignature, secrets: readonly string[]): boolean {
  let ok = false;
  const given = sig.v1.map(decodeHex);
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(`${sig.timestamp}.`, 'utf8').update(body).digest();
    for (const g of given) ok = equalDigest(expected, g) || ok;
  }
  return ok;
}

/** Constant-time lookup of a write key among the configured ones; returns the matching entry. */
export function matchWriteKey<T extends { key: string }>(given: string, keys: readonly T[]): T | null {
  // Hash both sides so the compare is over equal lengths whatever the key lengths are.
  const g = createHash('sha256').update(given, 'utf8').digest();
  let found: T | null = null;
  for (const k of keys) {
    const e = createHash('sha256').update(k.key, 'utf8').digest();
    if (timingSafeEqual(e, g) && found === null) found = k;
  }
  return found;
}
