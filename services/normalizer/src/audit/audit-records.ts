import type { AuditIdentifier, AuditRecord } from '@cio-pipeline/core/generated/avro-types';
import type { DecisionCause, IdentifierSet, RecordOrigin } from '../stages/candidate.ts';
import type { ChunkResult, RecordResult } from '../stages/pipeline.ts';
import type { StateResult } from '../state/state-stage.ts';

export type AuditOutcome = 'canonical' | 'quarantined' | 'dropped' | 'held' | 'released' | 'expired';

/** An audit record and its Kafka key: the person's canonical id when known, else the raw record's key. */
export interface KeyedAudit {
  key: Buffer | string | null;
  record: AuditRecord;
}

/** What the state stage decided, in one unit of work, for the candidates of one raw record. */
interface Tally {
  cause: DecisionCause;
  eventIds: string[];
  reasons: string[];
  customerKey: string | null;
  /** An event went out under a customer id (not only anonymously). */
  toPerson: boolean;
  emitted: boolean;
  held: boolean;
  heldUntil: number | null;
}

/**
 * The identifier types of a record's IdentifierSet the trace is keyed by. Cart and checkout tokens
 * are among them: a Shopify cart webhook names nothing else, and a late one dropped as suppressed
 * after the purchase has no customer key either; the trace reaches it through the token the
 * person's own records carry. The canonical event ids and the customer key have fields of their
 * own, indexed too: not repeated here, as every byte of a record per raw record counts (issue 16's
 * cost budget).
 */
const PERSON_IDS = ['email', 'customer_id', 'anonymous_id', 'shopify_customer_id', 'subscription_customer_id', 'cart_token', 'checkout_token'] as const;

/**
 * One audit record per raw record of the chunk (tombstones carry no event and have none), then one
 * per held event whose hold ended in it (released, expired, or dropped on release).
 *
 * A record's outcome is decided on its arrival: quarantined; else canonical if any of its events
 * went out (identify, merge and rollup events it caused included); else held if any waits; else
 * dropped. All its reasons and event ids are listed whatever the outcome. What later becomes of a
 * held event is a separate record with the same coordinates, even within the same chunk: so the
 * records do not depend on where chunk boundaries fell (a re-delivery decides the same).
 */
export function auditChunk(chunk: ChunkResult, now: number): KeyedAudit[] {
  const { arrival, later } = tally(chunk.state);
  const out: KeyedAudit[] = [];
  for (const r of chunk.records) {
    // A record's candidates share its origin object: the state's decisions on arrival point to it.
    const origin = r.candidates[0]?.origin;
    out.push(recordAudit(r, origin === undefined ? undefined : arrival.get(origin), now));
  }
  for (const t of later.values()) {
    const a = laterAudit(t, now);
    if (a !== null) out.push(a);
  }
  return out;
}

/** A sweep decides only held events: their releases and expiries. */
export function auditSweep(state: StateResult, now: number): KeyedAudit[] {
  const out: KeyedAudit[] = [];
  for (const t of tally(state).later.values()) {
    const a = laterAudit(t, now);
    if (a !== null) out.push(a);
  }
  return out;
}

function coordinatesKey(at: RecordOrigin): string {
  return `${at.partition}:${at.offset}:${at.topic}`;
}

/**
 * Groups the state's decisions by raw record: on arrival (by the origin object the pipeline gave
 * the record's candidates), and ending an earlier hold (by coordinates: a held candidate comes
 * back from its store as a copy, one per held event of the record).
 */
function tally(state: StateResult): { arrival: Map<RecordOrigin, Tally>; later: Map<string, Tally> } {
  const arrival = new Map<RecordOrigin, Tally>();
  const later = new Map<string, Tally>();
  const fresh = (cause: DecisionCause): Tally => ({ cause, eventIds: [], reasons: [], customerKey: null, toPerson: false, emitted: false, held: false, heldUntil: null });
  const of = (cause: DecisionCause): Tally => {
    if (!cause.later) {
      let t = arrival.get(cause.origin);
      if (t === undefined) arrival.set(cause.origin, (t = fresh(cause)));
      return t;
    }
    const k = coordinatesKey(cause.origin);
    let t = later.get(k);
    if (t === undefined) later.set(k, (t = fresh(cause)));
    return t;
  };
  for (const { event, cause } of state.emit) {
    if (cause === undefined) continue;
    const t = of(cause);
    t.emitted = true;
    t.eventIds.push(event.event_id);
    if (event.customer_id !== null) {
      t.toPerson = true;
      t.customerKey ??= event.customer_id;
    }
  }
  for (const d of state.drops) {
    if (d.cause === undefined) continue;
    const t = of(d.cause);
    if (!t.reasons.includes(d.reason)) t.reasons.push(d.reason);
  }
  for (const h of state.held) {
    const t = of(h.cause);
    t.held = true;
    if (h.until !== null) t.heldUntil = Math.max(t.heldUntil ?? 0, h.until);
    if (h.key !== null) t.customerKey ??= h.key;
  }
  return { arrival, later };
}

function recordAudit(r: RecordResult, t: Tally | undefined, now: number): KeyedAudit {
  const q = r.quarantined;
  const first = r.candidates[0]?.event;
  const eventIds = t?.eventIds ?? [];
  let outcome: AuditOutcome;
  const reasons: string[] = [];
  if (q !== null) {
    outcome = 'quarantined';
    for (const reason of q.verdict.reasons) if (!reasons.includes(reason.code)) reasons.push(reason.code);
  } else {
    outcome = eventIds.length > 0 ? 'canonical' : t?.held ? 'held' : 'dropped';
    for (const d of r.drops) if (!reasons.includes(d.reason)) reasons.push(d.reason);
    for (const reason of t?.reasons ?? []) if (!reasons.includes(reason)) reasons.push(reason);
  }
  const customerKey = t?.customerKey ?? null;
  const ids = new IdentifierList();
  for (const set of r.seen.identifiers) ids.addSet(set);
  for (const c of r.candidates) ids.addSet(c.identifiers);
  for (const id of r.seen.orderIds) ids.add('order_id', id);
  if (r.seen.messageId !== null) ids.add('message_id', r.seen.messageId);
  return {
    key: customerKey ?? r.at.key,
    record: {
      audited_at: now,
      source: r.source ?? q?.source ?? 'app',
      source_topic: r.at.topic,
      source_partition: r.at.partition,
      source_offset: r.at.offset,
      source_event: r.seen.sourceEvent,
      event_name: first?.name ?? q?.verdict.event_name ?? r.drops.find((d) => d.event_name !== undefined)?.event_name ?? null,
      occurred_at: first?.occurred_at ?? null,
      outcome,
      reasons,
      event_ids: eventIds,
      customer_key: customerKey,
      held_until: t?.held ? t.heldUntil : null,
      identifiers: ids.list,
    },
  };
}

/**
 * The end of a hold: released when its events went to a person; expired when its time (or the
 * budget) ran out first, whether then forwarded anonymously (with event ids) or dropped
 * (anonymous_expired); dropped when the release found it suppressed. Null while it is still held
 * (moved from an anonymous hold to a person's gate).
 */
function laterAudit(t: Tally, now: number): KeyedAudit | null {
  const outcome: AuditOutcome | null = t.toPerson ? 'released'
    : t.emitted || t.reasons.includes('anonymous_expired') ? 'expired'
      : t.reasons.length > 0 ? 'dropped' : null;
  if (outcome === null) return null;
  const { origin, candidate } = t.cause;
  const event = candidate.event;
  const ids = new IdentifierList();
  ids.addSet(candidate.identifiers);
  if (event.commerce?.order_id) ids.add('order_id', event.commerce.order_id);
  if (event.source === 'app') ids.add('message_id', event.source_event_id);
  return {
    key: t.customerKey ?? origin.key,
    record: {
      audited_at: now,
      source: event.source,
      source_topic: origin.topic,
      source_partition: origin.partition,
      source_offset: origin.offset,
      source_event: origin.sourceEvent,
      event_name: event.name,
      occurred_at: event.occurred_at,
      outcome,
      reasons: t.reasons,
      event_ids: t.eventIds,
      customer_key: t.customerKey,
      held_until: null,
      identifiers: ids.list,
    },
  };
}

/** Identifiers without repeats, in the order first seen (a handful a record: a scan beats a set). */
class IdentifierList {
  readonly list: AuditIdentifier[] = [];

  add(type: AuditIdentifier['type'], value: string): void {
    for (const i of this.list) if (i.value === value && i.type === type) return;
    this.list.push({ type, value });
  }

  addSet(set: IdentifierSet): void {
    for (const type of PERSON_IDS) {
      const value = set[type];
      if (value !== undefined) this.add(type, value);
    }
  }
}
