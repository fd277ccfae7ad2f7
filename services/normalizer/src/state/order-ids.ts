import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import type { CandidateEvent, Drop } from '../stages/candidate.ts';
import { deterministicUlid } from '../stages/deterministic-ulid.ts';
import type { AnonymousBuffer } from './anonymous-buffer.ts';
import { ChangelogStore } from './changelog.ts';
import { MEMORY_TABLES, type RecordTable, type TableSource } from './record-table.ts';
import { completeness, isComplete, type DedupeStore } from './dedupe-store.ts';

/** How a source named an order: the store's numeric id, its GraphQL id, its name, number or checkout token. */
export type OrderIdForm = 'id' | 'gid' | 'name' | 'number' | 'checkout_token';

export interface OrderAliases {
  name?: string | null;
  number?: string | null;
  checkoutToken?: string | null;
}

/** The dedupe key a store's order would have had under another form of its id. */
export interface OtherForm {
  key: string;
  form: OrderIdForm;
}

/** What follows the forms learned (the order ledger: a purchase booked under a name becomes reachable by id). */
export interface OrderFormsListener {
  linkForms(id: string, forms: readonly string[], now: number): void;
}

export interface ResolvedOrderId {
  /** The canonical (numeric) order id. */
  id: string;
  /** The form the source used. */
  form: OrderIdForm;
}

const GID = /^gid:\/\/shopify\/Order\/(\d+)(?:\?.*)?$/;

/** `gid://shopify/Order/9007199285717705` -> `9007199285717705` (kept a string: it can exceed 2^53). */
export function parseOrderGid(value: string): string | null {
  return GID.exec(value)?.[1] ?? null;
}

/**
 * Order id forms learned from the store's order webhooks (topic `dedupe`, beside the dedupe keys
 * and with their window): `oid:<value>` -> `<form>;<numeric id>;<learned ms>`, one record per name,
 * order number and checkout token, and one for the numeric id itself (so a later event knows the id
 * is the store's, not an order number that happens to be digits). Expiry walks insertion order,
 * which is learned order, like the dedupe keys.
 */
export class OrderIdMap extends ChangelogStore {
  readonly topic = 'dedupe' as const;
  protected readonly prefixes = ['oid:'] as const;
  private readonly forms: RecordTable<{ form: OrderIdForm; id: string; t: number }>;
  private readonly windowMs: number;
  private listener: OrderFormsListener | null = null;

  constructor(opts: { windowMs: number }, tables: TableSource = MEMORY_TABLES) {
    super();
    this.windowMs = opts.windowMs;
    this.persistsItself = tables.onDisk;
    this.forms = tables.table('oid:', { expiresAt: (f) => f.t + this.windowMs });
  }

  get size(): number {
    return this.forms.size;
  }

  protected read(key: string): string | null {
    const f = this.forms.get(key.slice(4));
    return f === undefined ? null : `${f.form};${f.id};${f.t}`;
  }

  protected load(key: string, value: string | null): void {
    const k = key.slice(4);
    this.forms.delete(k);
    if (value === null) return;
    const [form, id, t] = value.split(';');
    this.forms.set(k, { form: form as OrderIdForm, id: id ?? '', t: Number(t) });
  }

  protected override localTime(_key: string, value: string): number {
    return Number(value.split(';')[2]);
  }

  /** Tells `listener` (the order ledger) every learning, in the same batch (it writes its own records). */
  follow(listener: OrderFormsListener): void {
    this.listener = listener;
  }

  /** Records what the store's webhook says about order `id`. */
  learn(id: string, aliases: OrderAliases, now: number): void {
    this.put(id, 'id', id, now);
    if (aliases.name) this.put(aliases.name, 'name', id, now);
    if (aliases.number) this.put(aliases.number, 'number', id, now);
    if (aliases.checkoutToken) this.put(aliases.checkoutToken, 'checkout_token', id, now);
    const forms = [aliases.name, aliases.number, aliases.checkoutToken].filter((f): f is string => !!f);
    if (forms.length > 0) this.listener?.linkForms(id, forms, now);
  }

  private put(value: string, form: OrderIdForm, id: string, now: number): void {
    const old = this.forms.get(value);
    // A value already naming this order keeps its first time: a retry does not extend the window.
    if (old !== undefined && old.id === id && old.form === form) return;
    this.write(`oid:${value}`, `${form};${id};${now}`);
  }

  /**
   * The canonical id for what a source sent: a GraphQL id parses; anything else is looked up.
   * Null while the store's webhook has not said which order a name, number or token is.
   */
  resolve(value: string): ResolvedOrderId | null {
    const fromGid = parseOrderGid(value);
    if (fromGid !== null) return { id: fromGid, form: 'gid' };
    const f = this.forms.get(value);
    return f === undefined ? null : { id: f.id, form: f.form };
  }

  /** True when the store's webhook (or a GraphQL id) confirmed `id` as an order's numeric id. */
  isConfirmed(id: string | null): boolean {
    return id !== null && this.forms.get(id)?.id === id;
  }

  /**
   * The store's order events (`fromStore`) name an order by its numeric id and teach its other
   * forms; any other source's order id is resolved through what they taught (a GraphQL id parses
   * on its own). Returns the candidate under its canonical id, and for a store's order the dedupe
   * keys its other forms would have had, so an earlier copy under one of them is recognised.
   */
  resolveCandidate(c: CandidateEvent, fromStore: boolean, now: number): { c: CandidateEvent; otherForms: OtherForm[] } {
    const id = c.event.commerce?.order_id ?? null;
    if (id === null) return { c, otherForms: [] };
    if (fromStore) {
      const aliases = aliasesOf(c.event);
      this.learn(id, aliases, now);
      const otherForms: OtherForm[] = [];
      for (const [form, value] of [['name', aliases.name], ['number', aliases.number], ['checkout_token', aliases.checkoutToken]] as const) {
        const key = value ? keyUnderForm(c, value) : null;
        if (key !== null && key !== c.dedupeKey) otherForms.push({ key, form });
      }
      return { c, otherForms };
    }
    const resolved = this.resolve(id);
    if (resolved === null) return { c, otherForms: [] };
    // A GraphQL id names the order for sure: later digits-only copies of it resolve too.
    if (resolved.form === 'gid') this.learn(resolved.id, {}, now);
    return { c: withCanonicalOrderId(c, resolved), otherForms: [] };
  }

  /** Forgets forms learned longer ago than the window (tombstones); returns how many. */
  expire(now: number): number {
    const due = this.forms.due(now);
    for (const k of due) this.write(`oid:${k}`, null);
    return due.length;
  }
}

/** The name, number and checkout token a store's order event carries (Shopify orders/*). */
export function aliasesOf(ev: CanonicalEvent): OrderAliases {
  const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null);
  return { name: text(ev.properties['order_name']), number: text(ev.properties['order_number']), checkoutToken: ev.commerce?.checkout_id ?? null };
}

/**
 * The dedupe key the event would have under another form of its order id. Only plan keys made of
 * the order id alone (`order_completed:<order_id>`) have one; null for any other key.
 */
export function keyUnderForm(c: CandidateEvent, form: string): string | null {
  const id = c.event.commerce?.order_id;
  if (id === null || id === undefined || c.dedupeKey !== `${c.event.name}:${id}`) return null;
  return `${c.event.name}:${form}`;
}

/**
 * The candidate under its canonical order id: commerce.order_id becomes the numeric id, the form the
 * source sent is kept as `order_name` (a name) or `source_order_id` (anything else), and a dedupe
 * key made of the order id follows it, with the event id derived from the new key.
 */
export function withCanonicalOrderId(c: CandidateEvent, resolved: ResolvedOrderId): CandidateEvent {
  const commerce = c.event.commerce;
  const sent = commerce?.order_id;
  if (commerce === null || sent === null || sent === undefined || sent === resolved.id) return c;
  const field = resolved.form === 'name' ? 'order_name' : 'source_order_id';
  const properties = { ...c.event.properties };
  if (properties[field] === undefined) properties[field] = sent;
  const rekeyed = keyUnderForm(c, resolved.id);
  const dedupeKey = rekeyed ?? c.dedupeKey;
  const event_id = rekeyed === null ? c.event.event_id : deterministicUlid(dedupeKey, c.event.occurred_at);
  return { ...c, dedupeKey, event: { ...c.event, event_id, commerce: { ...commerce, order_id: resolved.id }, properties } };
}

/**
 * A store's order whose other id form was seen first. A held copy takes the numeric id (and the
 * richer copy's content, keeping its place and event id): returns the gate to release when the
 * kept copy is complete. A copy already sent under the other form makes this one a duplicate.
 * Null when no earlier copy exists under any of `otherForms`.
 */
export function matchOtherForm(
  stores: { buffer: AnonymousBuffer; dedupe: DedupeStore },
  c: CandidateEvent,
  otherForms: readonly OtherForm[],
  now: number,
): { drop: Drop; releaseGate: string | null } | null {
  const { buffer, dedupe } = stores;
  for (const { key, form } of otherForms) {
    const held = buffer.findByDedupeKey(key);
    if (held !== undefined) {
      const earlier = withCanonicalOrderId(held.candidate, { id: c.event.commerce!.order_id!, form });
      const richer = completeness(c.event) > completeness(earlier.event);
      const kept = richer
        ? { ...c, origin: earlier.origin, event: { ...c.event, event_id: earlier.event.event_id, properties: { ...earlier.event.properties, ...c.event.properties } } }
        : earlier;
      buffer.replace(held, kept);
      dedupe.setScore(c.dedupeKey, completeness(kept.event));
      return {
        drop: { reason: 'duplicate', event_name: c.event.name, source: c.event.source, detail: richer ? 'replaced_held_copy' : 'held_copy_other_id_form' },
        releaseGate: held.gate && held.deadline !== null && isComplete(kept.event) ? held.key : null,
      };
    }
    if (dedupe.has(key, now)) return { drop: { reason: 'duplicate', event_name: c.event.name, source: c.event.source, detail: 'sent_under_other_id_form' }, releaseGate: null };
  }
  return null;
}
