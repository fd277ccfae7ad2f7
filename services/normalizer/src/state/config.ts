import { ConfigError, type OrderGuard, type TrackingPlan } from '@cio-pipeline/core';

/** Identifier types that can stand in as the Customer.io id while a cluster has no customer_id. */
export type FallbackIdentifier = 'email' | 'shopify_customer_id' | 'subscription_customer_id';

export interface StateConfig {
  /** How long a dedupe key is remembered (default 30 days). */
  dedupeWindowMs: number;
  /**
   * Canonical id for a cluster without customer_id, tried in this order: `email` -> the email itself
   * (Customer.io workspaces that identify by email), `shopify_customer_id` -> `shopify:<id>`,
   * `subscription_customer_id` -> `subscription:<id>`. Empty list = `hold`: such events are treated as
   * anonymous (held or forwarded per the plan's `anonymous` policy) until a customer_id links.
   */
  fallbackIdentifiers: readonly FallbackIdentifier[];
  /**
   * Two customer_ids claiming one identifier (email, Shopify id, shared-device anonymous id):
   * `keep_first` keeps the existing link and does not merge the new claim; `latest_wins` moves the
   * contested identifier to the new claimant. Both report a Conflict; clusters never fuse.
   */
  conflictRule: 'keep_first' | 'latest_wins';
  /**
   * Most identifiers one person may have (default 1,000, Segment's default per profile). A link
   * past it is refused and reported on the conflicts topic (`identifier_limit`): it bounds what one
   * person costs per event, whatever a client sends (a script reusing one user id with a new
   * anonymous id per request, a shared device).
   */
  maxIdentifiersPerPerson: number;
  /**
   * How long a moment identifier (cart/checkout token, anonymous id never linked to a person)
   * stays in the identity graph after it was last seen (default 30 days; 0 = never expire).
   * People's identifiers (customer_id, email, Shopify/subscription ids, linked anonymous ids) stay.
   */
  identityTtlMs: number;
  /** Most identifiers one sweep expires (bounded work and tombstones per transaction). */
  identityExpiryPerSweep: number;
  /** How long an unidentified shopper's `hold` events wait for an identity (default 24 h). */
  anonymousTtlMs: number;
  /** After the TTL: forward as anonymous events (customer_id null) or drop and count. */
  anonymousExpiry: 'forward' | 'drop';
  /** State budget: most events held at once (anonymous and order holds together). */
  maxHeldEvents: number;
  /** Past the budget, the oldest anonymous events are forwarded as anonymous or dropped. */
  anonymousOverflow: 'forward' | 'drop';
  /**
   * Events held briefly when they arrive without line items, so a richer duplicate from another
   * source (Shopify order after the app's `Order Completed`) can replace them before emission.
   * While held, later events of the same person queue behind (per-person order). 0 = no hold: the
   * first copy wins and a richer late copy is only counted.
   */
  completenessHoldMs: number;
  /** Event names the completeness hold applies to (the plan's revenue anchor, order_completed). */
  completenessEvents: readonly string[];
  /** The plan's `order_guards`. */
  orderGuards: readonly OrderGuard[];
  /** How long a closed cart/checkout and a cart's last snapshot are remembered (default 90 days). */
  guardWindowMs: number;
  /** The event that adds to a cart (app add-to-cart events count toward cart snapshots). */
  cartAddEvent: string;
  /** Events with `profile_rollup: true` in the plan. */
  rollupEvents: readonly string[];
  /** The refund event: its money comes off the buyer's lifetime_value. */
  refundEvent: string;
  /** The cancellation event: the order moves from orders_count to cancelled_orders_count. */
  cancelEvent: string;
}

const DAY = 24 * 60 * 60 * 1000;

/**
 * Production's defaults, and the only ones: the service config reads the environment with these,
 * and a test that wants another policy passes it as an override.
 */
export const STATE_DEFAULTS = {
  dedupeWindowMs: 30 * DAY,
  fallbackIdentifiers: ['email', 'shopify_customer_id', 'subscription_customer_id'] as readonly FallbackIdentifier[],
  conflictRule: 'keep_first' as const,
  maxIdentifiersPerPerson: 1_000,
  identityTtlMs: 30 * DAY,
  identityExpiryPerSweep: 10_000,
  anonymousTtlMs: DAY,
  anonymousExpiry: 'forward' as const,
  maxHeldEvents: 100_000,
  anonymousOverflow: 'forward' as const,
  completenessHoldMs: 60_000,
  guardWindowMs: 90 * DAY,
} satisfies Partial<StateConfig>;

/** The slice of the parsed tracking plan the state stages need: which events roll up, and the order guards. */
export type PlanForState = Pick<TrackingPlan, 'events' | 'orderGuards'>;

/**
 * Builds a validated, frozen config: the plan supplies names (guards, rollup, completeness events),
 * `overrides` the operator's settings (mapped from the environment by the service config).
 */
export function createStateConfig(plan: PlanForState, overrides: Partial<StateConfig> = {}): Readonly<StateConfig> {
  const guards = plan.orderGuards;
  const rollupEvents = [...plan.events.values()].filter((e) => e.profileRollup).map((e) => e.name);
  const cfg: StateConfig = {
    ...STATE_DEFAULTS,
    orderGuards: guards,
    rollupEvents,
    // The guard's anchor is the purchase: the event worth waiting for a complete copy of.
    completenessEvents: [...new Set(guards.map((g) => g.after))],
    cartAddEvent: 'added_to_cart',
    refundEvent: 'order_refunded',
    cancelEvent: 'order_cancelled',
    ...overrides,
  };
  const problems: string[] = [];
  for (const k of ['dedupeWindowMs', 'identityTtlMs', 'identityExpiryPerSweep', 'anonymousTtlMs', 'maxHeldEvents', 'completenessHoldMs', 'guardWindowMs'] as const) {
    if (!Number.isFinite(cfg[k]) || cfg[k] < 0) problems.push(`state.${k} must be a number >= 0, got ${cfg[k]}`);
  }
  if (cfg.maxHeldEvents < 1) problems.push('state.maxHeldEvents must be >= 1');
  // A person is at least a customer_id and one identifier to link to it.
  if (!Number.isSafeInteger(cfg.maxIdentifiersPerPerson) || cfg.maxIdentifiersPerPerson < 2) problems.push(`state.maxIdentifiersPerPerson must be a whole number >= 2, got ${cfg.maxIdentifiersPerPerson}`);
  if (cfg.identityExpiryPerSweep < 1) problems.push('state.identityExpiryPerSweep must be >= 1');
  // A held shopper's anonymous id must outlive the hold, or the identify that ends it finds nothing.
  if (cfg.identityTtlMs > 0 && cfg.identityTtlMs < cfg.anonymousTtlMs) {
    problems.push(`state.identityTtlMs (${cfg.identityTtlMs}) must be 0 (never) or >= state.anonymousTtlMs (${cfg.anonymousTtlMs})`);
  }
  if (!['keep_first', 'latest_wins'].includes(cfg.conflictRule)) problems.push(`state.conflictRule must be keep_first or latest_wins, got ${cfg.conflictRule}`);
  for (const k of ['anonymousExpiry', 'anonymousOverflow'] as const) {
    if (!['forward', 'drop'].includes(cfg[k])) problems.push(`state.${k} must be forward or drop, got ${cfg[k]}`);
  }
  for (const f of cfg.fallbackIdentifiers) {
    if (!['email', 'shopify_customer_id', 'subscription_customer_id'].includes(f)) problems.push(`state.fallbackIdentifiers: unknown identifier type ${f}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(cfg);
}
