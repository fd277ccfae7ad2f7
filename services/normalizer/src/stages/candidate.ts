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

/**
 * The raw record a candidate came from. It travels with the candidate (held ones too), so a state
 * decision, however late, is told in that record's audit record. `key` is the raw key as text.
 */
export interface RecordOrigin {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  /** The event or webhook topic as sent (the candidate keeps only the canonical name). */
  sourceEvent: string | null;
}

/** The origin of a raw record's candidates: its coordinates, the key as text. */
export function originOf(at: SourceCoordinates, sourceEvent: string | null): RecordOrigin {
  return { topic: at.topic, partition: at.partition, offset: at.offset, key: at.key?.toString('utf8') ?? null, sourceEvent };
}

/**
 * Whose outcome a state decision is: the candidate decided (hence its raw record) and whether it
 * ends an earlier hold (`later`: released, expired) rather than decides on the record's arrival.
 */
export interface DecisionCause {
  origin: RecordOrigin;
  later: boolean;
  candidate: CandidateEvent;
}

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
  /** The raw record it came from (set by the pipeline; absent on events held before audit existed). */
  origin?: RecordOrigin;
}

export interface Drop {
  /** `no_events`: a delivery that carries no event at all (a cart webhook with no line items). */
  reason: 'bot' | 'internal_traffic' | 'duplicate' | 'suppressed_after_purchase' | 'anonymous_expired' | 'blocked_event' | 'ignored_topic' | 'no_events';
  event_name?: string;
  /** The dropped event's source, when the drop is decided away from its record (the state stage). */
  source?: string;
  /** Finer reason for logs and metrics labels, e.g. `cart_snapshot_no_gain`, `richer_duplicate_after_emit`. */
  detail?: string;
  /** Set by the state stage: whose drop this is, for the audit record. */
  cause?: DecisionCause;
}

export interface QuarantineVerdict {
  event_name: string | null;
  tier: number | null;
  reasons: QuarantineReason[];
}
