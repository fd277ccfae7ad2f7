import type { CandidateEvent, Drop } from '../stages/candidate.ts';
import { ChangelogStore } from './changelog.ts';
import type { OrderGuard as OrderGuardRule, OrderGuardMatchField } from '@cio-pipeline/core';

interface CartState {
  /** occurred_at of the newest snapshot applied (0 = none yet). */
  s: number;
  /** Quantity per line key. */
  l: Record<string, number>;
  /** Last touched (processing time), for expiry. */
  t: number;
}

export type GuardVerdict = { keep: CandidateEvent } | { drop: Drop };

/**
 * Cart and checkout lifecycle (topic `journey`):
 * - `g:<cart_id|checkout_id>:<id>` -> `<ms>`: a purchase closed this cart/checkout; the plan's
 *   `order_guards` then suppress late `added_to_cart` / `checkout_started` for it.
 * - `c:<cart_id>` -> JSON CartState: quantities per line, to turn full cart snapshots (Shopify
 *   carts/update) into "what the cart gained". A snapshot taken at T already contains every app
 *   add-to-cart for that cart that happened at or before T, so those are dropped as duplicates
 *   when they arrive after it; snapshots older than the newest applied one are stale and dropped.
 */
export class OrderGuard extends ChangelogStore {
  readonly topic = 'journey' as const;
  protected readonly prefixes = ['g:', 'c:', 'o:'] as const;
  private readonly closed = new Map<string, number>();
  /** `o:<anchor>:<match>:<id>` -> `<anchor occurred_at>:<last touched>` for only_if_older rules. */
  private readonly anchors = new Map<string, { at: number; t: number }>();
  private readonly carts = new Map<string, CartState>();
  private readonly rules: readonly OrderGuardRule[];
  private readonly windowMs: number;
  private readonly cartAddEvent: string;

  constructor(opts: { rules: readonly OrderGuardRule[]; windowMs: number; cartAddEvent: string }) {
    super();
    this.rules = opts.rules;
    this.windowMs = opts.windowMs;
    this.cartAddEvent = opts.cartAddEvent;
  }

  protected read(key: string): string | null {
    if (key.startsWith('o:')) {
      const a = this.anchors.get(key.slice(2));
      return a === undefined ? null : `${a.at}:${a.t}`;
    }
    if (key.startsWith('g:')) {
      const t = this.closed.get(key.slice(2));
      return t === undefined ? null : String(t);
    }
    const c = this.carts.get(key.slice(2));
    return c === undefined ? null : JSON.stringify(c);
  }

  protected load(key: string, value: string | null): void {
    // delete + set keeps each map in last-touched order, which expiry relies on.
    if (key.startsWith('o:')) {
      this.anchors.delete(key.slice(2));
      if (value !== null) {
        const [at, t] = value.split(':');
        this.anchors.set(key.slice(2), { at: Number(at), t: Number(t) });
      }
      return;
    }
    if (key.startsWith('g:')) {
      this.closed.delete(key.slice(2));
      if (value !== null) this.closed.set(key.slice(2), Number(value));
      return;
    }
    this.carts.delete(key.slice(2));
    if (value !== null) this.carts.set(key.slice(2), JSON.parse(value) as CartState);
  }

  /** At arrival: records a purchase closing its cart/checkout. */
  observe(c: CandidateEvent, now: number): void {
    for (const rule of this.rules) {
      if (rule.after !== c.event.name) continue;
      for (const m of rule.matchOn) {
        const id = matchValue(c, m);
        if (id === null) continue;
        if (rule.onlyIfOlder) {
          // Keep the latest anchor: a second checkout of the same cart moves the line forward.
          const key = `${rule.after}:${m}:${id}`;
          const at = Math.max(this.anchors.get(key)?.at ?? 0, c.event.occurred_at);
          this.write(`o:${key}`, `${at}:${now}`);
        } else if (!this.closed.has(`${m}:${id}`)) this.write(`g:${m}:${id}`, String(now));
      }
    }
  }

  /** True when a purchase already closed this event's cart or checkout. */
  isSuppressed(c: CandidateEvent): boolean {
    for (const rule of this.rules) {
      if (!rule.suppress.includes(c.event.name)) continue;
      if (rule.onlyCartSnapshots && c.cartSnapshot === undefined) continue;
      for (const m of rule.matchOn) {
        const id = matchValue(c, m);
        if (id === null) continue;
        if (rule.onlyIfOlder) {
          const anchor = this.anchors.get(`${rule.after}:${m}:${id}`);
          if (anchor !== undefined && c.event.occurred_at < anchor.at) return true;
        } else if (this.closed.has(`${m}:${id}`)) return true;
      }
    }
    return false;
  }

  /** At arrival: suppression, then the cart diff. */
  check(c: CandidateEvent, now: number): GuardVerdict {
    if (this.isSuppressed(c)) return { drop: { reason: 'suppressed_after_purchase', event_name: c.event.name, source: c.event.source } };
    if (c.cartSnapshot !== undefined) return this.applySnapshot(c, now);
    const cartId = matchValue(c, 'cart_id');
    const qty = c.event.commerce?.quantity ?? null;
    if (c.event.name === this.cartAddEvent && cartId !== null && qty !== null) {
      const state = this.carts.get(cartId) ?? { s: 0, l: {}, t: now };
      if (state.s > 0 && c.event.occurred_at <= state.s) {
        return { drop: { reason: 'duplicate', event_name: c.event.name, source: c.event.source, detail: 'included_in_cart_snapshot' } };
      }
      const line = lineKeyOf(c);
      const l = { ...state.l };
      l[line] = (l[line] ?? 0) + qty;
      this.write(`c:${cartId}`, JSON.stringify({ s: state.s, l, t: now }));
    }
    return { keep: c };
  }

  private applySnapshot(c: CandidateEvent, now: number): GuardVerdict {
    const snap = c.cartSnapshot!;
    const state = this.carts.get(snap.cart_id) ?? { s: 0, l: {}, t: now };
    if (c.event.occurred_at < state.s) {
      return { drop: { reason: 'duplicate', event_name: c.event.name, source: c.event.source, detail: 'stale_cart_snapshot' } };
    }
    const before = state.l[snap.line_key] ?? 0;
    const l = { ...state.l, [snap.line_key]: snap.quantity };
    this.write(`c:${snap.cart_id}`, JSON.stringify({ s: c.event.occurred_at, l, t: now }));
    const delta = snap.quantity - before;
    if (delta <= 0) return { drop: { reason: 'duplicate', event_name: c.event.name, source: c.event.source, detail: 'cart_snapshot_no_gain' } };
    const commerce = c.event.commerce;
    const event = {
      ...c.event,
      commerce: commerce === null ? null : {
        ...commerce,
        quantity: delta,
        items: commerce.items.length === 1 ? [{ ...commerce.items[0]!, quantity: delta }] : commerce.items,
      },
    };
    return { keep: { ...c, event } };
  }

  /** Forgets closed carts/checkouts and cart states older than the window. */
  expire(now: number): number {
    let n = 0;
    for (const [k, t] of this.closed) {
      if (now - t < this.windowMs) break;
      this.write(`g:${k}`, null);
      n++;
    }
    for (const [k, c] of this.carts) {
      if (now - c.t < this.windowMs) break;
      this.write(`c:${k}`, null);
      n++;
    }
    for (const [k, a] of this.anchors) {
      if (now - a.t < this.windowMs) break;
      this.write(`o:${k}`, null);
      n++;
    }
    return n;
  }
}

function matchValue(c: CandidateEvent, m: OrderGuardMatchField): string | null {
  if (m === 'cart_id') return c.cartSnapshot?.cart_id ?? c.event.commerce?.cart_id ?? c.identifiers.cart_token ?? null;
  return c.event.commerce?.checkout_id ?? c.identifiers.checkout_token ?? null;
}

function lineKeyOf(c: CandidateEvent): string {
  const cm = c.event.commerce;
  return cm?.sku ?? cm?.variant_id ?? cm?.product_id ?? 'unknown';
}
