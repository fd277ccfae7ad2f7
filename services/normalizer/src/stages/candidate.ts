import type { CanonicalEvent, QuarantineReason } from '@cio-pipeline/core/generated/avro-types';
import type { RawSource } from '@cio-pipeline/core';

/** Where a raw record came from; carried into quarantine records and logs. */
export interface SourceCoordinates {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
}

export type SourceName = RawSource | 'backfill';

/** The identifiers one raw event carries, before identity resolution. All strings, normalised. */
export interface IdentifierSet {
  customer_id?: string;        // the store's internal customer id (Segment userId)
  email?: string;              // trimmed, lower-cased
  shopify_customer_id?: string;
  subscription_customer_id?: string; // Recharge customer id
  anonymous_id?: string;
  cart_token?: string;
  checkout_token?: string;
}

/**
 * A mapped, coerced and validated event that has not yet been through the state stages
 * (identity, dedupe, order guards). `event.customer_id` is not resolved yet.
 */
export interface CandidateEvent {
  event: CanonicalEvent;
  identifiers: IdentifierSet;
  /** True when the source asserts these identifiers belong to one person (identify, alias, order with customer). */
  assertsLinks: boolean;
  /** Business dedupe key from the plan (`order_completed:<order_id>`) or the source's delivery key. */
  dedupeKey: string;
  /** Whether the plan holds this event while the shopper is anonymous, or forwards it. */
  anonymousPolicy: 'hold' | 'forward';
  /**
   * Set on candidates cut from a full cart snapshot (Shopify carts/update: one candidate per line,
   * `quantity` = the line's total quantity in the cart). The state stage emits only what the cart
   * gained since the last snapshot. `line_key` should be the sku when known (so it matches app
   * add-to-cart events for the same cart), else the variant id, else the line item id.
   * `event.occurred_at` must be the cart's `updated_at`; the dedupe key must differ per line.
   */
  cartSnapshot?: { cart_id: string; line_key: string; quantity: number };
}

export interface Drop {
  /** `no_events`: a delivery that carries no event at all (a cart webhook with no line items). */
  reason: 'bot' | 'internal_traffic' | 'duplicate' | 'suppressed_after_purchase' | 'anonymous_expired' | 'blocked_event' | 'ignored_topic' | 'no_events';
  event_name?: string;
  /** The dropped event's source, when the drop is decided away from its record (the state stage). */
  source?: string;
  /** Finer reason for logs and metrics labels, e.g. `cart_snapshot_no_gain`, `richer_duplicate_after_emit`. */
  detail?: string;
}

export interface QuarantineVerdict {
  event_name: string | null;
  tier: number | null;
  reasons: QuarantineReason[];
}
