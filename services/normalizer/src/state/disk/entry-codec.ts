import { DiskStoreError } from './errors.ts';

/**
 * Layout of the store's keyspace. Changelog keys (`n:…`, `d:…`, `h:…`) are stored as they are;
 * everything the store keeps for itself sits under a NUL prefix no changelog key can carry, so it
 * shares the one atomic write batch with the data:
 *   `\0o:<topic>:<partition>` -> next changelog offset to read (decimal)
 *   `\0x:<expires at, 15 digits>:<key>` -> '' (expiry index, ordered by time)
 *   `\0m:committedAt` -> ms of the last commit
 *   `\0m:layout` -> `<layout>\n<commit time>`: what the store's user calls the meaning of its values, as of
 *     that commit (DiskStore.stampLayout)
 */
export const RESERVED_PREFIX = '\u0000';
export const OFFSET_PREFIX = '\u0000o:';
export const EXPIRY_PREFIX = '\u0000x:';
export const COMMITTED_AT_KEY = '\u0000m:committedAt';
export const LAYOUT_KEY = '\u0000m:layout';
/**
 * The least key greater than every key starting with `prefix`: its last character plus one (LevelDB
 * orders UTF-8 bytes, which for the Basic Multilingual Plane is code point order).
 */
export function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  if (Number.isNaN(last) || last >= 0xd800) throw new DiskStoreError('DISK_STORE_BAD_ENTRY', 'a scanned prefix must end in a character below U+D800');
  return `${prefix.slice(0, -1)}${String.fromCharCode(last + 1)}`;
}

/** A value as stored: the changelog value and, for what belongs to a moment, when it expires. */
export interface StoredEntry {
  value: string;
  /** Epoch ms after which a sweep reports the key; null = kept until deleted. */
  expiresAt: number | null;
}

const EXPIRY_DIGITS = 15;
/** The latest expiry the index can order (year 33658). */
export const MAX_EXPIRY = 10 ** EXPIRY_DIGITS - 1;

export function assertDataKey(key: string): void {
  if (key.length === 0 || key.startsWith(RESERVED_PREFIX)) {
    throw new DiskStoreError('DISK_STORE_BAD_ENTRY', 'state keys must be non-empty and must not start with NUL (reserved for the store)');
  }
}

export function assertExpiry(expiresAt: number | null): void {
  if (expiresAt === null) return;
  if (!Number.isSafeInteger(expiresAt) || expiresAt < 0 || expiresAt > MAX_EXPIRY) {
    throw new DiskStoreError('DISK_STORE_BAD_ENTRY', `expiresAt must be epoch milliseconds, got ${expiresAt}`);
  }
}

/** `<expiresAt or nothing>|<value>`: one string, so a read is one lookup and one split. */
export function encodeEntry(entry: StoredEntry): string {
  return `${entry.expiresAt ?? ''}|${entry.value}`;
}

export function decodeEntry(key: string, raw: string): StoredEntry {
  const bar = raw.indexOf('|');
  if (bar < 0) throw new DiskStoreError('DISK_STORE_CORRUPT', 'stored entry without its expiry field', { details: { key } });
  return { value: raw.slice(bar + 1), expiresAt: bar === 0 ? null : Number(raw.slice(0, bar)) };
}

/** Upper bound (exclusive) of the index entries expiring at or before `now`. */
export function expiredBefore(now: number): string {
  return now >= MAX_EXPIRY ? prefixEnd(EXPIRY_PREFIX) : expiryIndexKey(Math.floor(now) + 1, '');
}

export function expiryIndexKey(expiresAt: number, key: string): string {
  return `${EXPIRY_PREFIX}${String(expiresAt).padStart(EXPIRY_DIGITS, '0')}:${key}`;
}

export function parseExpiryIndexKey(indexKey: string): { expiresAt: number; key: string } {
  const from = EXPIRY_PREFIX.length;
  return { expiresAt: Number(indexKey.slice(from, from + EXPIRY_DIGITS)), key: indexKey.slice(from + EXPIRY_DIGITS + 1) };
}

/** Changelog partitions are named `<topic>:<partition>` (the form ChangelogTables uses). */
export function offsetKey(partition: string): string {
  return `${OFFSET_PREFIX}${partition}`;
}
