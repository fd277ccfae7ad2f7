import { createHash } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const MAX_TIME = 2 ** 48 - 1;

/**
 * A ULID that is a pure function of the dedupe key alone: 80-bit "randomness" from the first 10
 * bytes of SHA-256(dedupeKey), and the 48-bit time part from the next 6 bytes. The time part is not
 * the event's time on purpose: two sources report one order at slightly different times (and a
 * client retry gets a slightly different skew-corrected time), yet both must carry the same id so
 * Customer.io ignores the second. Customer.io does not use a ULID's time part.
 */
export function deterministicUlid(dedupeKey: string, _timeMs?: number): string {
  const digest = createHash('sha256').update(dedupeKey, 'utf8').digest();
  const time = digest.readUIntBE(10, 6) % (MAX_TIME + 1);
  return encodeTime(time) + encodeRandom(digest.subarray(0, 10));
}

function encodeTime(time: number): string {
  let out = '';
  let t = time;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/** 80 bits -> 16 base32 characters, most significant first. */
function encodeRandom(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 16; i++) {
    out = CROCKFORD[Number(n & 31n)]! + out;
    n >>= 5n;
  }
  return out;
}

/** Decodes the time part (for tests and debugging). */
export function ulidTime(ulid: string): number {
  let t = 0;
  for (const ch of ulid.slice(0, 10).toUpperCase()) t = t * 32 + CROCKFORD.indexOf(ch);
  return t;
}
