import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import { ChangelogStore } from './changelog.ts';
import { MEMORY_TABLES, type RecordTable, type TableSource } from './record-table.ts';

/**
 * Dedupe keys seen in the last `windowMs` (processing time). Records (topic `dedupe`):
 * `d:<dedupe key>` -> `<first seen ms>`, or for events whose copies differ in richness
 * `<first seen ms>;<completeness score>` with `;r` appended once a richer copy arrived after the
 * first was emitted (kept for metrics and for anyone auditing which copy Customer.io got).
 *
 * Which copy wins: the first copy is the one emitted, unless it is still held by the completeness
 * hold (see StateConfig.completenessHoldMs), in which case a richer copy replaces it in place. That
 * hold is the trade-off: an order without line items waits up to the hold (default 60 s) for the
 * backend's copy; with the hold at 0 the first copy always wins and a richer late copy is only
 * counted here, which can leave Customer.io with an order that has a total but no items.
 *
 * Expiry walks the map in insertion order, which is first-seen order (a key is never re-inserted
 * while present), and stops at the first key still inside the window: O(expired).
 */
export class DedupeStore extends ChangelogStore {
  readonly topic = 'dedupe' as const;
  protected readonly prefixes = ['d:'] as const;
  /** The record value per key: `<first seen ms>[;<score>[;r]]`, in first-seen order in memory. */
  private readonly seen: RecordTable<string>;
  private readonly windowMs: number;

  constructor(opts: { windowMs: number }, tables: TableSource = MEMORY_TABLES) {
    super();
    this.windowMs = opts.windowMs;
    this.persistsItself = tables.onDisk;
    this.seen = tables.table<string>('d:', { encode: String, decode: String, expiresAt: (v) => firstSeen(v) + this.windowMs });
  }

  get size(): number {
    return this.seen.size;
  }

  protected read(key: string): string | null {
    return this.seen.get(key.slice(2)) ?? null;
  }

  protected load(key: string, value: string | null): void {
    const k = key.slice(2);
    if (value === null) {
      this.seen.delete(k);
      return;
    }
    // The first sighting stays (a score update rewrites the same time).
    const old = this.seen.get(k);
    this.seen.set(k, old === undefined ? value : `${firstSeen(old)}${value.slice(value.indexOf(';') < 0 ? value.length : value.indexOf(';'))}`);
  }

  protected override localTime(_key: string, value: string): number {
    return firstSeen(value);
  }

  has(dedupeKey: string, now: number): boolean {
    const v = this.seen.get(dedupeKey);
    return v !== undefined && now - firstSeen(v) < this.windowMs;
  }

  /**
   * True when the key is new (and records it, with the copy's completeness score when given),
   * false for a duplicate inside the window.
   */
  checkAndRecord(dedupeKey: string, now: number, score?: number): boolean {
    const v = this.seen.get(dedupeKey);
    if (v !== undefined && now - firstSeen(v) < this.windowMs) return false;
    // Outside the window but not yet swept: forget the old sighting first, keeping insertion order.
    if (v !== undefined) this.write(`d:${dedupeKey}`, null);
    this.write(`d:${dedupeKey}`, score === undefined ? String(now) : `${now};${score}`);
    return true;
  }

  scoreOf(dedupeKey: string): number | undefined {
    const score = this.seen.get(dedupeKey)?.split(';')[1];
    return score === undefined ? undefined : Number(score);
  }

  /** A richer copy replaced the held one before emission. */
  setScore(dedupeKey: string, score: number): void {
    const v = this.seen.get(dedupeKey);
    if (v !== undefined) this.write(`d:${dedupeKey}`, `${firstSeen(v)};${score}`);
  }

  /** A richer copy arrived after the first was emitted: counted, not emitted. */
  markRicherArrived(dedupeKey: string): void {
    const v = this.seen.get(dedupeKey);
    if (v === undefined) return;
    const [t, score, flag] = v.split(';');
    if (flag !== 'r') this.write(`d:${dedupeKey}`, `${t};${score ?? 0};r`);
  }

  richerArrived(dedupeKey: string): boolean {
    return this.seen.get(dedupeKey)?.split(';')[2] === 'r';
  }

  /** Forgets keys older than the window (tombstones); returns how many. */
  expire(now: number): number {
    const due = this.seen.due(now);
    for (const k of due) this.write(`d:${k}`, null);
    return due.length;
  }
}

function firstSeen(value: string): number {
  const i = value.indexOf(';');
  return Number(i < 0 ? value : value.slice(0, i));
}

/** How complete an event's typed properties are: line items count most, then filled fields. */
export function completeness(ev: CanonicalEvent): number {
  const c = ev.commerce;
  if (c === null) return 0;
  let score = c.items.length > 0 ? 100 + c.items.length : 0;
  for (const [k, v] of Object.entries(c)) if (k !== 'items' && v !== null) score++;
  return score;
}

/** Complete enough to emit without waiting for another source's copy. */
export function isComplete(ev: CanonicalEvent): boolean {
  return (ev.commerce?.items.length ?? 0) > 0;
}
