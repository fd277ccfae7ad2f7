import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import { ChangelogStore } from './changelog.ts';

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
  private readonly seen = new Map<string, number>();
  /** Completeness score of the copy that won, for events where copies differ in richness. */
  private readonly scores = new Map<string, number>();
  private readonly richer = new Set<string>();
  private readonly windowMs: number;

  constructor(opts: { windowMs: number }) {
    super();
    this.windowMs = opts.windowMs;
  }

  get size(): number {
    return this.seen.size;
  }

  protected read(key: string): string | null {
    const k = key.slice(2);
    const t = this.seen.get(k);
    if (t === undefined) return null;
    const score = this.scores.get(k);
    if (score === undefined) return String(t);
    return this.richer.has(k) ? `${t};${score};r` : `${t};${score}`;
  }

  protected load(key: string, value: string | null): void {
    const k = key.slice(2);
    if (value === null) {
      this.seen.delete(k);
      this.scores.delete(k);
      this.richer.delete(k);
      return;
    }
    const [t, score, flag] = value.split(';');
    if (!this.seen.has(k)) this.seen.set(k, Number(t));
    if (score !== undefined) this.scores.set(k, Number(score));
    else this.scores.delete(k);
    if (flag === 'r') this.richer.add(k);
    else this.richer.delete(k);
  }

  protected override localTime(_key: string, value: string): number {
    return Number(value.split(';')[0]);
  }

  has(dedupeKey: string, now: number): boolean {
    const t = this.seen.get(dedupeKey);
    return t !== undefined && now - t < this.windowMs;
  }

  /**
   * True when the key is new (and records it, with the copy's completeness score when given),
   * false for a duplicate inside the window.
   */
  checkAndRecord(dedupeKey: string, now: number, score?: number): boolean {
    if (this.has(dedupeKey, now)) return false;
    // Outside the window but not yet swept: forget the old sighting first, keeping insertion order.
    if (this.seen.has(dedupeKey)) this.write(`d:${dedupeKey}`, null);
    this.write(`d:${dedupeKey}`, score === undefined ? String(now) : `${now};${score}`);
    return true;
  }

  scoreOf(dedupeKey: string): number | undefined {
    return this.scores.get(dedupeKey);
  }

  /** A richer copy replaced the held one before emission. */
  setScore(dedupeKey: string, score: number): void {
    const t = this.seen.get(dedupeKey);
    if (t !== undefined) this.write(`d:${dedupeKey}`, `${t};${score}`);
  }

  /** A richer copy arrived after the first was emitted: counted, not emitted. */
  markRicherArrived(dedupeKey: string): void {
    const t = this.seen.get(dedupeKey);
    if (t !== undefined && !this.richer.has(dedupeKey)) this.write(`d:${dedupeKey}`, `${t};${this.scores.get(dedupeKey) ?? 0};r`);
  }

  richerArrived(dedupeKey: string): boolean {
    return this.richer.has(dedupeKey);
  }

  /** Forgets keys older than the window (tombstones); returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [k, t] of this.seen) {
      if (now - t < this.windowMs) break;
      this.write(`d:${k}`, null);
      n++;
    }
    return n;
  }
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
