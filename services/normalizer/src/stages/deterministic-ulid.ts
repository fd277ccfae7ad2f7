import { hash } from 'node:crypto';

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
  // One-shot hash: one per emitted event, on the main thread.
  const digest = hash('sha256', dedupeKey, 'buffer');
  const time = digest.readUIntBE(10, 6) % (MAX_TIME + 1);
  return encodeTime(time) + encodeRandom(digest);
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

/** The first 80 bits of `bytes` -> 16 base32 characters, most significant first: two 40-bit halves, exact in a double. */
function encodeRandom(bytes: Buffer): string {
  return base32of40(bytes.readUIntBE(0, 5)) + base32of40(bytes.readUIntBE(5, 5));
}

function base32of40(n: number): string {
  let out = '';
  for (let i = 0; i < 8; i++) {
    out = CROCKFORD[n % 32]! + out;
    n = Math.floor(n / 32);
  }
  return out;
}

/** Decodes the time part (for tests and debugging). */
export function ulidTime(ulid: string): number {
  let t = 0;
  for (const ch of ulid.slice(0, 10).toUpperCase()) t = t * 32 + CROCKFORD.indexOf(ch);
  return t;
}
