import type { CandidateEvent } from '../stages/candidate.ts';
import { ChangelogStore } from './changelog.ts';

/**
 * A held event. Two kinds of queue share one budget:
 * - anonymous (`gate` false): `key` is the hold node (`anonymous_id:<id>`, else the strongest
 *   identifier); waits for the person to become known, each event until its own deadline (TTL).
 * - person gate (`gate` true): `key` is a canonical id; the head is an incomplete purchase waiting
 *   (until `deadline`) for a richer copy; the person's later events queue behind it (deadline null)
 *   so they still reach Customer.io in order.
 */
export interface HeldEntry {
  seq: number;
  key: string;
  gate: boolean;
  deadline: number | null;
  candidate: CandidateEvent;
}

/**
 * Held events (topic `journey`, records `h:<seq>` -> JSON entry). `seq` grows with arrival, so the
 * map's order is arrival order: the oldest held event is its first entry, and for anonymous events
 * (one TTL) also the first to expire.
 */
export class AnonymousBuffer extends ChangelogStore {
  readonly topic = 'journey' as const;
  protected readonly prefixes = ['h:'] as const;
  private readonly entries = new Map<number, HeldEntry>();
  private readonly anon = new Map<string, HeldEntry[]>();
  private readonly gates = new Map<string, HeldEntry[]>();
  private readonly byDedupe = new Map<string, HeldEntry>();
  private nextSeq = 1;

  /** Arrival order is the map's order (oldest first): keys read back from disk sort by sequence. */
  protected override localTime(key: string): number {
    return Number(key.slice(2));
  }

  get size(): number {
    return this.entries.size;
  }

  protected read(key: string): string | null {
    const e = this.entries.get(Number(key.slice(2)));
    return e === undefined ? null : serialize(e);
  }

  protected load(key: string, value: string | null): void {
    const seq = Number(key.slice(2));
    const old = this.entries.get(seq);
    // A rewritten entry (a richer copy, a moved gate) keeps its place in the map: Map.set on a
    // present key keeps insertion order, so the oldest and first-to-expire stay right.
    if (old !== undefined) this.unindex(old, value !== null);
    if (value === null) return;
    const raw = JSON.parse(value) as { k: string; g?: 1; d: number | null; c: CandidateEvent };
    const e: HeldEntry = { seq, key: raw.k, gate: raw.g === 1, deadline: raw.d, candidate: raw.c };
    this.entries.set(seq, e);
    const queues = e.gate ? this.gates : this.anon;
    let q = queues.get(e.key);
    if (q === undefined) queues.set(e.key, (q = []));
    q.push(e);
    if (q.length > 1 && q[q.length - 2]!.seq > seq) q.sort((a, b) => a.seq - b.seq);
    this.byDedupe.set(e.candidate.dedupeKey, e);
    if (seq >= this.nextSeq) this.nextSeq = seq + 1;
  }

  private unindex(e: HeldEntry, keepPlace = false): void {
    if (!keepPlace) this.entries.delete(e.seq);
    const queues = e.gate ? this.gates : this.anon;
    const q = queues.get(e.key);
    if (q !== undefined) {
      const i = q.indexOf(e);
      if (i >= 0) q.splice(i, 1);
      if (q.length === 0) queues.delete(e.key);
    }
    if (this.byDedupe.get(e.candidate.dedupeKey) === e) this.byDedupe.delete(e.candidate.dedupeKey);
  }

  private add(key: string, gate: boolean, deadline: number | null, candidate: CandidateEvent): HeldEntry {
    const seq = this.nextSeq++;
    this.write(`h:${seq}`, serialize({ seq, key, gate, deadline, candidate }));
    return this.entries.get(seq)!;
  }

  private remove(e: HeldEntry): void {
    this.write(`h:${e.seq}`, null);
  }

  /** Holds an unidentified shopper's event until `now + ttlMs`. */
  holdAnonymous(holdNode: string, candidate: CandidateEvent, now: number, ttlMs: number): HeldEntry {
    return this.add(holdNode, false, now + ttlMs, candidate);
  }

  /** Opens a person gate headed by an incomplete purchase. */
  openGate(canonical: string, candidate: CandidateEvent, deadline: number): HeldEntry {
    return this.add(canonical, true, deadline, candidate);
  }

  /** Queues a person's event behind their open gate. */
  queueBehindGate(canonical: string, candidate: CandidateEvent): HeldEntry {
    return this.add(canonical, true, null, candidate);
  }

  hasGate(canonical: string): boolean {
    return this.gates.has(canonical);
  }

  hasAnonymous(holdNode: string): boolean {
    return this.anon.has(holdNode);
  }

  /** Removes and returns the held anonymous events of these nodes, in arrival order. */
  takeAnonymous(nodes: readonly string[]): HeldEntry[] {
    const out: HeldEntry[] = [];
    for (const n of nodes) {
      const q = this.anon.get(n);
      if (q !== undefined) out.push(...q);
    }
    out.sort((a, b) => a.seq - b.seq);
    for (const e of out) this.remove(e);
    return out;
  }

  /** Removes one entry (the oldest, when over budget). */
  take(e: HeldEntry): HeldEntry {
    this.remove(e);
    return e;
  }

  /** Removes and returns a person's gate queue, head first. */
  takeGate(canonical: string): HeldEntry[] {
    const q = [...(this.gates.get(canonical) ?? [])];
    for (const e of q) this.remove(e);
    return q;
  }

  /**
   * Moves a person's gate queue to another canonical id (their profile is being merged into it),
   * head first. With no gate there, the entries keep their places and the head its deadline; behind
   * an open gate they queue as new entries with no deadline of their own (releasing that gate
   * routes them again, which re-gates a purchase still waiting for its copy).
   */
  moveGate(from: string, to: string): void {
    const q = this.gates.get(from);
    if (q === undefined || from === to) return;
    const taken = [...q];
    if (!this.gates.has(to)) {
      for (const e of taken) this.write(`h:${e.seq}`, serialize({ ...e, key: to }));
      return;
    }
    for (const e of taken) {
      this.remove(e);
      this.add(to, true, null, e.candidate);
    }
  }

  findByDedupeKey(dedupeKey: string): HeldEntry | undefined {
    return this.byDedupe.get(dedupeKey);
  }

  /** Swaps the held candidate for a richer copy, keeping its place. */
  replace(e: HeldEntry, candidate: CandidateEvent): HeldEntry {
    this.write(`h:${e.seq}`, serialize({ ...e, candidate }));
    return this.entries.get(e.seq)!;
  }

  /** The oldest held event (first to go when over budget). */
  oldest(): HeldEntry | undefined {
    for (const e of this.entries.values()) return e;
    return undefined;
  }

  /** Anonymous events past their deadline, removed, in arrival order. */
  takeExpiredAnonymous(now: number): HeldEntry[] {
    const out: HeldEntry[] = [];
    for (const e of this.entries.values()) {
      if (e.gate) continue;
      if (e.deadline !== null && e.deadline > now) break;
      out.push(e);
    }
    for (const e of out) this.remove(e);
    return out;
  }

  /** Canonical ids whose gate head is past its deadline. */
  dueGates(now: number): string[] {
    const out: string[] = [];
    for (const [k, q] of this.gates) {
      const d = q[0]?.deadline;
      if (d !== null && d !== undefined && d <= now) out.push(k);
    }
    return out;
  }
}

function serialize(e: HeldEntry): string {
  return JSON.stringify(e.gate ? { k: e.key, g: 1, d: e.deadline, c: e.candidate } : { k: e.key, d: e.deadline, c: e.candidate });
}
