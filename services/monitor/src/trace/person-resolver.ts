import { PERSON_IDENTIFIER_TYPES, identifiersOf, indexForm, recordId, type IndexedRecord } from './indexed-record.ts';

/** What resolution needs from the index (TraceIndex, or a map in tests). */
export interface TraceLookup {
  recordIdsOf(identifier: string, limit?: number): Promise<string[]>;
  records(ids: readonly string[]): Promise<IndexedRecord[]>;
}

export interface ResolveLimits {
  /** Identifiers followed at most (a shared or bogus identifier must not pull in the whole index). */
  maxIdentifiers: number;
  /** Records returned at most. */
  maxRecords: number;
  /** Expansion rounds: identifier -> records -> their person identifiers -> records ... */
  rounds: number;
}

export const DEFAULT_LIMITS: ResolveLimits = { maxIdentifiers: 64, maxRecords: 20_000, rounds: 3 };

export interface Resolved {
  records: IndexedRecord[];
  /** The identifiers followed, in the order they were. */
  identifiers: string[];
  /** True when a limit cut the expansion short. */
  truncated: boolean;
}

/**
 * A person from any identifier: the records carrying it, then the person identifiers of those
 * records (customer key, email, customer and anonymous ids, source customer ids, cart and checkout
 * tokens; never order, message or event ids, which would pull in other people's records), then
 * their records, for a few rounds; then the records naming those records' orders (a refund names
 * only its order), not followed further; last, the receipts of every event id seen, so an event is
 * followed to Customer.io even if its receipt names another customer key (a merge).
 */
export async function resolvePerson(index: TraceLookup, identifier: string, limits: ResolveLimits = DEFAULT_LIMITS): Promise<Resolved> {
  const found = new Map<string, IndexedRecord>();
  const followed: string[] = [];
  const seen = new Set<string>();
  let truncated = false;
  const start = [...new Set([identifier.trim(), indexForm(identifier)])].filter((s) => s !== '');
  let frontier = start;

  const follow = async (values: string[]): Promise<IndexedRecord[]> => {
    const added: IndexedRecord[] = [];
    for (const v of values) {
      if (seen.has(v)) continue;
      if (seen.size >= limits.maxIdentifiers || found.size >= limits.maxRecords) {
        truncated = true;
        break;
      }
      seen.add(v);
      followed.push(v);
      const ids = (await index.recordIdsOf(v, limits.maxRecords)).filter((id) => !found.has(id));
      for (const r of await index.records(ids)) {
        const id = recordId(r);
        if (found.has(id)) continue;
        found.set(id, r);
        added.push(r);
      }
    }
    return added;
  };

  for (let round = 0; round < limits.rounds && frontier.length > 0; round++) {
    const added = await follow(frontier);
    const next = new Set<string>();
    for (const r of added) {
      for (const ref of identifiersOf(r)) if (PERSON_IDENTIFIER_TYPES.has(ref.type)) next.add(indexForm(ref.value, ref.type));
    }
    frontier = [...next].filter((v) => !seen.has(v));
  }
  if (frontier.length > 0) truncated = true;
  // What else was said about the person's orders: a refund or a cancellation webhook, or a retry of
  // one dropped as a duplicate, names only the order. Looked up by order id, not followed further.
  // Bounded like the identifiers followed: app events can name any number of order ids.
  const orderIds = new Set<string>();
  for (const r of found.values()) for (const ref of identifiersOf(r)) if (ref.type === 'order_id') orderIds.add(indexForm(ref.value, ref.type));
  let ordersLookedUp = 0;
  for (const o of orderIds) {
    if (found.size >= limits.maxRecords || ordersLookedUp++ >= limits.maxIdentifiers) {
      truncated = true;
      break;
    }
    const ids = (await index.recordIdsOf(o, 64)).filter((id) => !found.has(id));
    for (const r of await index.records(ids)) found.set(recordId(r), r);
  }
  // Receipts of the events found: looked up by event id, not followed further.
  const eventIds = new Set<string>();
  for (const r of found.values()) if (r.kind === 'audit') for (const e of r.audit.event_ids) eventIds.add(e);
  for (const e of eventIds) {
    if (found.size >= limits.maxRecords) {
      truncated = true;
      break;
    }
    const ids = (await index.recordIdsOf(e, 16)).filter((id) => id.startsWith('c/') && !found.has(id));
    for (const r of await index.records(ids)) found.set(recordId(r), r);
  }
  return { records: [...found.values()], identifiers: followed, truncated };
}
