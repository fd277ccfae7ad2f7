import type { IdentifierSet } from './candidate.ts';

/** Event kinds a source mapping can produce (merge and delete come from the state stages). */
export type DraftKind = 'event' | 'page' | 'screen' | 'identify';

/**
 * What a source mapping knows about one event before the plan is applied: which payload field means
 * what, with raw (uncoerced) values. Name resolution, coercion and validation are shared and plan
 * driven (materialize.ts), so no source file decides a tier or a required property.
 */
export interface EventDraft {
  kind: DraftKind;
  /** The source's name for the event (a Segment event name, 'page', or the plan's name for a webhook topic); ignored for identify. */
  name: string | null;
  /** Raw property values under the source's names; plan property aliases are applied later. */
  properties: Record<string, unknown>;
  /** Raw profile attributes (identify only). */
  attributes: Record<string, unknown>;
  /** Raw identifier values; coerced to strings (emails trimmed and lower-cased) later. */
  identifiers: { [K in keyof IdentifierSet]?: unknown };
  /** Raw event time as the source sent it (ISO-8601 or unix), and where it came from for error messages. */
  occurredAt: unknown;
  occurredAtField: string;
  /** Used when the source sent no event time (receipt or trigger time). */
  fallbackOccurredAt: number;
  sourceEventId: string;
  sourceType: string | null;
  /** Dedupe key used when the plan declares none: the source's delivery id (plus a per-item suffix). */
  deliveryKey: string;
  assertsLinks: boolean;
  /** The end user's agent and address, for the bot filter (the message's context, a webhook's client_details); never the transport's. */
  traffic: { ip: string | null; userAgent: string | null };
  /** Prefix for field names in reasons when one raw record yields several events (`line_items[1].`). */
  fieldPrefix: string;
  /** A refund names no person: the order it refers to does (the state stage finds its buyer). */
  personFromOrder?: boolean;
  /** Set on the lines of a full cart snapshot (Shopify carts/*): the state stage diffs them. */
  cartSnapshotLine?: boolean;
}

/** What a source mapping returns for one raw record. */
export interface SourceMapping {
  drafts: EventDraft[];
  /** Drops decided by the source mapping itself (ignored topics). */
  ignored: { reason: 'ignored_topic'; event_name?: string }[];
  /** Who sent a delivery that yields no draft, for its audit record only; nothing is decided from it. */
  sender?: IdentifierSet;
}
