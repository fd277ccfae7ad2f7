import type { CanonicalEvent, MergeSecondary } from '@cio-pipeline/core/generated/avro-types';
import type { CandidateEvent, Drop } from '../stages/candidate.ts';
import { Decisions, type HeldOutcome } from './decisions.ts';
import { deterministicUlid } from '../stages/deterministic-ulid.ts';
import type { HeldEntry } from './anonymous-buffer.ts';
import type { StateConfig } from './config.ts';
import { completeness, isComplete } from './dedupe-store.ts';
import { fallbackId, mergeSecondaryOf, nodeId, parseNode, presentNodes, type Resolution } from './identity-graph.ts';
import { accountOrderEvent, buyerOf, withNewRefundMoney } from './order-accounting.ts';
import { matchOtherForm } from './order-ids.ts';
import type { LocalState } from './local-state.ts';
import { createStateStores, type StateStores } from './state-stores.ts';

export { createStateStores, type StateStores, type HeldOutcome };

export type { KeyedEvent, StateResult, StateStage } from './state-stage-types.ts';
import type { StateResult, StateStage } from './state-stage-types.ts';

/**
 * The normalizer's stateful stages. Decisions, per candidate:
 * 0. order id: a store's order teaches its name, number and checkout token; any other source's
 *    order id resolves to the store's numeric id when known (see order-ids.ts).
 * 1. identity: learn links (assertsLinks), report conflicts, resolve the canonical id. When the
 *    person is known, first fold in what went out before under other ids: a merge event per
 *    fallback-id profile (email / shopify:<id>), an identify carrying each anonymous id whose
 *    events were forwarded anonymously, then the held anonymous events, in arrival order.
 *    An identify candidate goes out before those, so attributes and the link land first.
 * 2. dedupe on the business key; a richer copy replaces a still-held one.
 * 3. order guard (suppress after purchase; cart snapshot diff).
 * 4. known person -> emit (behind an open completeness gate, if any; an app purchase whose order
 *    id the store has not confirmed opens one); a refund or cancellation goes to the order's buyer;
 *    unknown -> hold or forward anonymously per the plan's `anonymous` policy.
 * 5. every emitted purchase, refund or cancellation also yields an identify with the rollup attributes.
 * Before a person's first event an identify (with email) is emitted, so the sink sees it first.
 * Derived events get deterministic ids seeded by what caused them, so a replay emits the same ids.
 */
export function createStateStage(config: Readonly<StateConfig>, stores: StateStores = createStateStores(config), local: LocalState | null = null): StateStage {
  const { identity, identityExpiry, dedupe, guard, buffer, rollup, orderIds, ledger } = stores;
  const all = [identity, identityExpiry, dedupe, guard, buffer, rollup, orderIds, ledger];
  local?.attach(all);
  const completenessEvents = new Set(config.completenessEvents);
  const orderNames = { purchases: new Set(config.rollupEvents), refund: config.refundEvent, cancel: config.cancelEvent };
  let out = new Decisions();

  function begin(): void {
    for (const s of all) s.beginBatch();
    local?.beginLayer();
    out = new Decisions();
  }

  function finish(): StateResult {
    local?.seal();
    return { emit: out.emit, drops: out.drops, conflicts: out.conflicts, held: out.held, changes: all.flatMap((s) => s.takeChanges()) };
  }

  function push(key: string, event: CanonicalEvent): void {
    out.push(key, event);
  }

  function derived(template: CanonicalEvent, seed: string, fields: Partial<CanonicalEvent>): CanonicalEvent {
    return {
      ...template,
      event_id: deterministicUlid(seed, template.occurred_at),
      kind: 'identify',
      name: 'identify',
      anonymous_id: null,
      email: null,
      validation_warnings: [],
      commerce: null,
      properties: {},
      attributes: {},
      merge: null,
      ...fields,
    };
  }

  /** The anonymous id to carry on a person's event: not one a conflict left with someone else. */
  function anonymousFor(canonical: string, anon: string | null): string | null {
    if (anon === null) return null;
    const c = identity.clusterOf(nodeId('anonymous_id', anon));
    if (c !== undefined && c.customers.length > 0 && !c.customers.includes(canonical)) return null;
    return anon;
  }

  /** Emits an identify before the person's first event (or when their email becomes known). */
  function ensurePerson(canonical: string, template: CanonicalEvent, email: string | null): void {
    const p = rollup.get(canonical);
    if (p?.i === 1 && (email === null || p.em !== undefined)) return;
    const em = email ?? p?.em ?? null;
    push(canonical, derived(template, `identify:${canonical}:${template.event_id}`, {
      customer_id: canonical, email: em, attributes: em !== null ? { email: em } : {},
    }));
    rollup.markIdentified(canonical, em);
  }

  function emitPerson(canonical: string, c: CandidateEvent, now: number): void {
    const email = c.event.email ?? c.identifiers.email ?? null;
    const anon = anonymousFor(canonical, c.event.anonymous_id ?? c.identifiers.anonymous_id ?? null);
    const ev: CanonicalEvent = { ...c.event, customer_id: canonical, anonymous_id: anon, email };
    if (ev.kind === 'identify') {
      if (email !== null && ev.attributes['email'] === undefined) ev.attributes = { ...ev.attributes, email };
      push(canonical, ev);
      rollup.markIdentified(canonical, email);
      // This identify carries the anonymous id: Customer.io attaches the anonymous activity.
      if (anon !== null) identity.clearAnonymousForwarded(nodeId('anonymous_id', anon));
      return;
    }
    ensurePerson(canonical, c.event, email);
    push(canonical, ev);
    const attrs = accountOrderEvent({ ledger, rollup }, orderNames, canonical, ev, c.identifiers, now);
    if (attrs !== null) {
      const em = rollup.get(canonical)?.em ?? email;
      push(canonical, derived(ev, `rollup:${ev.event_id}`, {
        customer_id: canonical, email: em, attributes: em !== null && em !== undefined ? { ...attrs, email: em } : attrs,
      }));
    }
    // Refunds that came before their purchase: the purchase names their person now.
    if (orderNames.purchases.has(ev.name) && ev.commerce?.order_id) {
      for (const e of buffer.takeAnonymous([orderHoldNode(ev.commerce.order_id)])) out.deciding(e.candidate, true, () => routeTo(canonical, e.candidate, now));
    }
  }

  /** Emits now, or holds behind the person's completeness gate. */
  function routeTo(canonical: string, c: CandidateEvent, now: number): void {
    if (buffer.hasGate(canonical)) {
      buffer.queueBehindGate(canonical, c);
      out.hold(null, canonical);
      enforceBudget(now);
      return;
    }
    if (config.completenessHoldMs > 0 && completenessEvents.has(c.event.name) && (!isComplete(c.event) || awaitsOrderId(c))) {
      buffer.openGate(canonical, c, now + config.completenessHoldMs);
      out.hold(now + config.completenessHoldMs, canonical);
      enforceBudget(now);
      return;
    }
    emitPerson(canonical, c, now);
  }

  function route(res: Resolution, c: CandidateEvent, now: number): void {
    if (res.via === 'fallback' && res.fallbackNode !== undefined) identity.markFallbackUsed(res.fallbackNode);
    routeTo(res.canonical!, c, now);
  }

  function releaseGate(canonical: string, now: number): void {
    const taken = buffer.takeGate(canonical);
    const head = taken[0];
    if (head === undefined) return;
    // What queued behind the gate goes out in the order it happened, not the order it arrived:
    // a cart event that waited for the checkout to identify the shopper happened before it, and a
    // cart event after the checkout would look like a new cart to the abandoned-checkout journey.
    const ordered = [...taken].sort((a, b) => a.candidate.event.occurred_at - b.candidate.event.occurred_at);
    for (const e of ordered) {
      if (e === head) out.deciding(e.candidate, true, () => emitPerson(canonical, e.candidate, now));
      else out.deciding(e.candidate, true, () => routeTo(canonical, e.candidate, now));
    }
  }

  /**
   * Folds earlier profiles and held events into a person who just became known. `refused`: the
   * event's identifiers the graph did not link (limit): what waits under them goes to this person
   * too, as the event says, though later events under them alone will not.
   */
  function settle(res: Resolution, template: CandidateEvent, now: number, refused: readonly string[] = []): void {
    const canonical = res.canonical!;
    const cluster = res.cluster;
    if (cluster === undefined) return;
    const email = template.event.email ?? template.identifiers.email ?? null;
    const merges = identity.pendingMerges(cluster, canonical);
    // What waits behind a merged profile's gate leaves under the person it was merged into, after
    // the merge (Customer.io folds the secondary into the primary; later events under the primary
    // land right), and in order with the person's other events.
    for (const node of merges) buffer.moveGate(fallbackId(node), canonical);
    for (const node of merges) {
      ensurePerson(canonical, template.event, email);
      const secondary: MergeSecondary = mergeSecondaryOf(node);
      push(canonical, derived(template.event, `merge:${canonical}:${node}`, {
        kind: 'merge', name: 'merge', customer_id: canonical, merge: secondary,
      }));
      const attrs = rollup.mergeInto(canonical, fallbackId(node));
      if (attrs !== null) {
        push(canonical, derived(template.event, `merge-rollup:${canonical}:${node}`, { customer_id: canonical, attributes: attrs }));
      }
      identity.clearFallback(node);
    }
    for (const node of identity.pendingAttachments(cluster)) {
      ensurePerson(canonical, template.event, email);
      push(canonical, derived(template.event, `attach:${canonical}:${node}`, {
        customer_id: canonical, anonymous_id: anonymousKey(node),
      }));
      identity.clearAnonymousForwarded(node);
    }
    for (const e of buffer.takeAnonymous(refused.length === 0 ? cluster.members : [...cluster.members, ...refused])) releaseHeld(res, e, now);
  }

  /** A held anonymous event goes to the person who just became known. */
  function releaseHeld(res: Resolution, e: HeldEntry, now: number): void {
    out.deciding(e.candidate, true, () => {
      if (guard.isSuppressed(e.candidate)) out.drop({ reason: 'suppressed_after_purchase', event_name: e.candidate.event.name, source: e.candidate.event.source });
      else route(res, e.candidate, now);
    });
  }

  /**
   * A copy that names its person replaced a held anonymous copy (which kept its place and id): the
   * held copy leaves the anonymous hold for that person now, instead of at the anonymous TTL.
   */
  function releaseReplaced(res: Resolution, dedupeKey: string, now: number): void {
    if (res.canonical === null) return;
    const held = buffer.findByDedupeKey(dedupeKey);
    if (held === undefined || held.gate || held.key.startsWith(ORDER_HOLD)) return;
    releaseHeld(res, buffer.take(held), now);
  }

  function forwardAnonymous(holdNode: string, c: CandidateEvent, now: number): void {
    const anon = anonymousKey(holdNode);
    identity.markAnonymousForwarded(holdNode);
    identityExpiry.touch([holdNode], now);
    push(anon, { ...c.event, customer_id: null, anonymous_id: anon, email: c.event.email ?? c.identifiers.email ?? null });
  }

  /** A held anonymous event leaves without an identity (TTL or budget). */
  function releaseUnidentified(e: HeldEntry, policy: 'forward' | 'drop', detail: string, now: number): void {
    const c = e.candidate;
    if (e.key.startsWith(ORDER_HOLD)) {
      // The purchase may have gone out where this refund's hold was not seen (another instance).
      const buyer = buyerOf(ledger, identity, c.event);
      if (buyer !== null) routeTo(buyer, c, now);
      else out.drop({ reason: 'anonymous_expired', event_name: c.event.name, source: c.event.source, detail: 'order_unknown' });
      return;
    }
    if (guard.isSuppressed(c)) {
      out.drop({ reason: 'suppressed_after_purchase', event_name: c.event.name, source: c.event.source });
      return;
    }
    const res = identity.resolve(c.identifiers);
    if (res.canonical !== null) route(res, c, now); // known after all (e.g. a config change)
    else if (policy === 'forward') forwardAnonymous(e.key, c, now);
    else out.drop({ reason: 'anonymous_expired', event_name: c.event.name, source: c.event.source, detail });
  }

  function enforceBudget(now: number): void {
    while (buffer.size > config.maxHeldEvents) {
      const oldest = buffer.oldest()!;
      if (oldest.gate) releaseGate(oldest.key, now);
      else out.deciding(oldest.candidate, true, () => releaseUnidentified(buffer.take(oldest), config.anonymousOverflow, 'budget', now));
    }
  }

  function duplicate(c: CandidateEvent, res: Resolution, now: number): void {
    const drop: Drop = { reason: 'duplicate', event_name: c.event.name, source: c.event.source };
    const score = completenessEvents.has(c.event.name) ? completeness(c.event) : undefined;
    const held = buffer.findByDedupeKey(c.dedupeKey);
    if (held !== undefined && score !== undefined && score > completeness(held.candidate.event)) {
      // The held copy has not gone out: the richer one takes its place (and its id, and its record).
      buffer.replace(held, { ...c, origin: held.candidate.origin, event: { ...c.event, event_id: held.candidate.event.event_id } });
      dedupe.setScore(c.dedupeKey, score);
      out.drop({ ...drop, detail: 'replaced_held_copy' });
      if (held.gate && held.deadline !== null && isComplete(c.event)) releaseGate(held.key, now);
      else if (!held.gate) releaseReplaced(res, c.dedupeKey, now);
      return;
    }
    const kept = dedupe.scoreOf(c.dedupeKey);
    if (held === undefined && score !== undefined && kept !== undefined && score > kept) {
      dedupe.markRicherArrived(c.dedupeKey);
      out.drop({ ...drop, detail: 'richer_duplicate_after_emit' });
      return;
    }
    out.drop(drop);
    // The store's copy confirmed the held purchase's order id: nothing left to wait for.
    if (held?.gate && held.deadline !== null && isComplete(held.candidate.event) && !awaitsOrderId(held.candidate)) releaseGate(held.key, now);
  }

  /** An app purchase whose order id the store has not confirmed yet (events without one wait for nothing). */
  function awaitsOrderId(c: CandidateEvent): boolean {
    const id = c.event.commerce?.order_id ?? null;
    return id !== null && c.event.source !== STORE_SOURCE && !orderIds.isConfirmed(id);
  }

  function process(candidate: CandidateEvent, now: number): void {
    const { c, otherForms } = orderIds.resolveCandidate(candidate, candidate.event.source === STORE_SOURCE, now);
    // Identifiers this event names but the graph refused to link (the person is at the limit).
    const refused: string[] = [];
    if (c.assertsLinks) {
      for (const r of identity.learn(c.identifiers, { event_id: c.event.event_id, source: c.event.source, occurred_at: c.event.occurred_at })) {
        out.conflicts.push(r);
        if (r.rule === 'identifier_limit') refused.push(nodeId(r.identifier_type, r.identifier));
      }
    }
    identityExpiry.touch(presentNodes(c.identifiers), now);
    const res = identity.resolve(c.identifiers);
    // A purchase closes its cart and checkout before anything it releases goes out: cart events
    // held until this order identified the shopper must meet the guard, not slip out ahead of it.
    guard.observe(c, now);
    const score = completenessEvents.has(c.event.name) ? completeness(c.event) : undefined;
    const fresh = dedupe.checkAndRecord(c.dedupeKey, now, score);
    if (res.canonical !== null && fresh && c.event.kind === 'identify' && !buffer.hasGate(res.canonical)) {
      route(res, c, now);
      settle(res, c, now, refused);
      return;
    }
    if (res.canonical !== null) settle(res, c, now, refused);
    if (!fresh) {
      duplicate(c, res, now);
      return;
    }
    const other = otherForms.length > 0 ? matchOtherForm({ buffer, dedupe }, c, otherForms, now) : null;
    if (other !== null) {
      out.drop(other.drop);
      if (other.releaseGate !== null) releaseGate(other.releaseGate, now);
      else releaseReplaced(res, c.dedupeKey, now);
      return;
    }
    const verdict = guard.check(c, now);
    if ('drop' in verdict) {
      out.drop(verdict.drop);
      return;
    }
    const kept = verdict.keep.event.name === config.refundEvent ? withNewRefundMoney(ledger, verdict.keep, now) : verdict.keep;
    if (kept === null) {
      out.drop({ reason: 'duplicate', event_name: c.event.name, source: c.event.source, detail: 'no_new_refund_money' });
      return;
    }
    // A refund or cancellation belongs to whoever bought the order, whatever its webhook carries.
    const buyer = kept.event.name === config.refundEvent || kept.event.name === config.cancelEvent ? buyerOf(ledger, identity, kept.event) : null;
    if (buyer !== null) routeTo(buyer, kept, now);
    else if (res.canonical !== null) route(res, kept, now);
    else if (kept.event.name === config.refundEvent && kept.event.commerce?.order_id) {
      // A refund with no person, of an order not seen yet: it waits for the purchase (or the TTL).
      buffer.holdAnonymous(orderHoldNode(kept.event.commerce.order_id), kept, now, config.anonymousTtlMs);
      out.hold(now + config.anonymousTtlMs, null);
      enforceBudget(now);
    }
    else if (res.holdNode === null) out.drop({ reason: 'anonymous_expired', event_name: kept.event.name, source: kept.event.source, detail: 'no_identifier' });
    else if (kept.anonymousPolicy === 'hold') {
      buffer.holdAnonymous(res.holdNode, kept, now, config.anonymousTtlMs);
      out.hold(now + config.anonymousTtlMs, null);
      enforceBudget(now);
    } else forwardAnonymous(res.holdNode, kept, now);
  }

  function releaseDue(now: number): void {
    for (const canonical of buffer.dueGates(now)) releaseGate(canonical, now);
    for (const e of buffer.takeExpiredAnonymous(now)) out.deciding(e.candidate, true, () => releaseUnidentified(e, config.anonymousExpiry, 'ttl', now));
  }

  return {
    stores,
    apply(candidates, now) {
      begin();
      releaseDue(now);
      for (const c of candidates) out.deciding(c, false, () => process(c, now));
      return finish();
    },
    expire(now) {
      begin();
      releaseDue(now);
      dedupe.expire(now);
      orderIds.expire(now);
      ledger.expire(now);
      guard.expire(now);
      identityExpiry.expire(now);
      // On disk, expired keys come from the store's index, swept in the background for the next call.
      local?.refreshExpired(now, config.identityExpiryPerSweep);
      return finish();
    },
    restore(records) {
      // One pass over the records, each store taking its own.
      for (const r of records) for (const s of all) if (s.restoreOne(r)) break;
    },
    commit(positions) {
      // Forgets the oldest undo logs, so a later rollback cannot undo what Kafka holds.
      for (const s of all) s.commitOldest();
      return local?.commit(positions);
    },
    rollback() {
      for (const s of all) s.rollback();
      local?.rollback();
    },
    stats() {
      return { identityNodes: identity.nodeCount, identityClusters: identity.clusterCount, dedupeKeys: dedupe.size, heldEvents: buffer.size };
    },
  };
}

/** Hold key of refunds waiting for their order's purchase (never an identity node). */
const ORDER_HOLD = 'order:';
const orderHoldNode = (orderId: string): string => `${ORDER_HOLD}${orderId}`;

/** The source whose order events carry the store's numeric order id (webhooks and backfill). */
const STORE_SOURCE = 'shopify';

/** The anonymous id events of a hold node go out under: the id itself, else `<type>:<value>`. */
function anonymousKey(node: string): string {
  const { type, value } = parseNode(node);
  return type === 'anonymous_id' ? value : node;
}
