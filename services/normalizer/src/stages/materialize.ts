import type { CanonicalEvent, CommerceProperties, LineItem, QuarantineReason } from '@cio-pipeline/core/generated/avro-types';
import type { CandidateEvent, IdentifierSet, SourceName } from './candidate.ts';
import {
  coerceAs, FLATTENED_KEY_OVERHEAD, flattenBudget, flattenUntyped, isAbsent, MONEY_FIELDS, toEmail, toIdString, toInt32, toTimestampMs,
  type ScalarValue,
} from './coerce.ts';
import { deterministicUlid } from './deterministic-ulid.ts';
import type { EventDraft } from './draft.ts';
import {
  COMMERCE_FIELD_TYPES, foldName, IDENTIFY, INT32_COMMERCE_FIELDS, MAX_NAME_CHARS, type EventSpec, type PropertyType, type Tier, type TrackingPlan,
} from '@cio-pipeline/core';
import {
  checkAttribute, checkAttributeCount, CIO_LIMITS, checkEventData, checkEventName, checkIdentifiers, checkIdentifierSizes, checkTimestamp,
  decide, REASON, WARNING, type Issue, type TimestampRules,
} from './validate.ts';

export interface MaterializeContext {
  plan: TrackingPlan;
  rules: TimestampRules;
  source: SourceName;
  receivedAt: number;
  schemaVersion: number;
}

/** The outcome for one draft: a candidate, or the reasons to quarantine; tier and identifiers either way (the bot filter needs them). */
export interface Materialized {
  eventName: string | null;
  tier: Tier | null;
  identifiers: IdentifierSet;
  candidate: CandidateEvent | null;
  reasons: QuarantineReason[];
}

const ID_KEYS = ['customer_id', 'shopify_customer_id', 'subscription_customer_id', 'anonymous_id', 'cart_token', 'checkout_token'] as const;

/** The commerce type a property name implies when the plan does not declare it (unplanned events). */
function commerceDefault(field: string): PropertyType | undefined {
  return COMMERCE_FIELD_TYPES.get(field)?.[0];
}

/** Maps a draft through the plan: canonical name, typed properties, identifiers, time, checks, verdict. */
export function materialize(draft: EventDraft, ctx: MaterializeContext): Materialized {
  const { plan } = ctx;
  const issues: Issue[] = [];
  const warnings: string[] = [];
  const prefix = (field: string | null): string | null => (field === null ? null : `${draft.fieldPrefix}${field}`);

  // 1. Name and tier, all from the plan.
  let name: string | null = null;
  let spec: EventSpec | null = null;
  let tier: Tier | null = null;
  let anonymousPolicy: 'hold' | 'forward' = 'hold';
  if (draft.kind === IDENTIFY) {
    name = IDENTIFY;
    tier = plan.identify.tier;
    anonymousPolicy = plan.identify.anonymous;
  } else if (typeof draft.name === 'string' && draft.name.length > CIO_LIMITS.eventNameBytes) {
    // Checked before folding: the cost of a name is bounded by the limit, not by what was sent.
    issues.push({ code: REASON.cioLimitExceeded, field: 'name', message: `event name is ${draft.name.length} characters, Customer.io allows ${CIO_LIMITS.eventNameBytes} bytes`, hard: true });
  } else if (typeof draft.name !== 'string' || foldName(draft.name) === '') {
    issues.push({ code: REASON.invalidEventName, field: 'event', message: `event name ${JSON.stringify(draft.name)} is missing or has no letters or digits`, hard: true });
  } else {
    const resolved = plan.resolveEventName(draft.name);
    name = resolved.name;
    spec = resolved.spec;
    if (spec) {
      tier = spec.tier;
      anonymousPolicy = spec.anonymous;
    } else if (plan.unplannedEvents === 'block') {
      issues.push({ code: REASON.unknownEventBlocked, field: 'event', message: `"${draft.name}" (${name}) is not in tracking plan ${plan.version}`, hard: true });
    } else {
      // Unplanned events are kept as browse events (plan: unplanned_events: flag).
      tier = 2;
      anonymousPolicy = 'forward';
      warnings.push(WARNING.unplannedEvent);
    }
  }

  // 2. Properties: canonical names first, so an alias never overwrites the property itself.
  const commerce: Partial<Record<keyof CommerceProperties, unknown>> = {};
  const properties: Record<string, ScalarValue> = {};
  // Flattened names alone past Customer.io's event data limit: checkEventData would refuse the
  // event, so flattening stops there instead of building (and serializing) megabytes of keys.
  const propertyBudget = flattenBudget(CIO_LIMITS.eventDataBytes);
  const seen = new Set<string>();
  const entries = Object.entries(draft.properties).filter(([, v]) => !isAbsent(v)).map(([rawKey, value]) => {
    // A name longer than any plan name is no plan name: kept as sent, never folded.
    if (rawKey.length > MAX_NAME_CHARS) return { rawKey, key: rawKey, value, exact: true };
    const planned = name !== null && spec !== null ? plan.resolvePropertyName(name, rawKey) : null;
    const folded = foldName(rawKey);
    const key = planned ?? (commerceDefault(folded) !== undefined ? folded : rawKey);
    return { rawKey, key, value, exact: key === rawKey };
  });
  entries.sort((a, b) => Number(b.exact) - Number(a.exact));
  for (const { key, value } of entries) {
    if (seen.has(key)) continue;
    seen.add(key);
    const type = (spec?.types.get(key)) ?? commerceDefault(key);
    if (type === undefined) {
      flattenUntyped(key, value, properties, propertyBudget);
      continue;
    }
    const result = INT32_COMMERCE_FIELDS.has(key) ? toInt32(value) : coerceAs(type, value, MONEY_FIELDS.has(key));
    if (!result.ok) {
      issues.push({ code: result.code, field: prefix(key + (result.path ?? '')), message: result.message, hard: false });
      continue;
    }
    if (COMMERCE_FIELD_TYPES.has(key)) commerce[key as keyof CommerceProperties] = result.value;
    else properties[key] = Array.isArray(result.value) ? JSON.stringify(result.value) : result.value;
  }
  // Fallbacks: a property the source did not send takes a declared sibling's value; both are kept.
  const valueOf = (p: string): unknown => (COMMERCE_FIELD_TYPES.has(p) ? commerce[p as keyof CommerceProperties] : properties[p]);
  for (const [prop, sources] of spec?.propertyFallbacks ?? []) {
    if (valueOf(prop) !== undefined || issues.some((i) => i.field === prefix(prop))) continue;
    const value = sources.map(valueOf).find((v) => v !== undefined);
    if (value === undefined) continue;
    if (COMMERCE_FIELD_TYPES.has(prop)) commerce[prop as keyof CommerceProperties] = value;
    else properties[prop] = value as ScalarValue;
  }
  for (const req of spec?.required ?? []) {
    if (!(req in commerce) && !(req in properties) && !issues.some((i) => i.field === prefix(req))) {
      issues.push({ code: REASON.missingRequiredProperty, field: prefix(req), message: `${name} requires ${req}`, hard: false });
    }
  }

  // 3. Identifiers: ids as exact strings, email trimmed and lower-cased.
  const identifiers: IdentifierSet = {};
  let refusedId = false;
  for (const key of ID_KEYS) {
    const raw = draft.identifiers[key];
    if (isAbsent(raw)) continue;
    if (overIdLimit(raw)) {
      issues.push(idTooLong(key, raw));
      refusedId = true;
      continue;
    }
    const id = toIdString(raw);
    if (id.ok) identifiers[key] = id.value;
    else issues.push({ code: REASON.invalidType, field: key, message: id.message, hard: false });
  }
  if (overIdLimit(draft.identifiers.email)) {
    issues.push(idTooLong('email', draft.identifiers.email));
    refusedId = true;
  } else if (!isAbsent(draft.identifiers.email)) {
    const email = toEmail(draft.identifiers.email);
    if (email.ok) identifiers.email = email.value;
    else issues.push({ code: REASON.invalidType, field: 'email', message: email.message, hard: false });
  }
  // An identifier refused for its size was sent: the event is not missing one, it has a bad one.
  // A refund or cancellation names its person through the order it refers to.
  if (!refusedId && !draft.personFromOrder) issues.push(...checkIdentifiers(identifiers));
  issues.push(...checkIdentifierSizes(identifiers));

  // 4. Attributes (profile updates).
  const attributes: Record<string, ScalarValue> = {};
  // Past what Customer.io could take (300 attributes of 150-byte names), a check below would flag
  // the update: flattening stops there; the traits not flattened are left out.
  const attributeBudget = flattenBudget(CIO_LIMITS.attributesPerCall * (CIO_LIMITS.attributeNameBytes + FLATTENED_KEY_OVERHEAD));
  for (const [key, value] of Object.entries(draft.attributes)) {
    // Absent traits are skipped, not sent as null: null would erase what the profile already has.
    if (value === undefined || value === null) continue;
    const type = plan.identify.attributeTypes.get(key);
    if (type === undefined) {
      flattenUntyped(key, value, attributes, attributeBudget);
      continue;
    }
    const result = coerceAs(type, value);
    // Customer.io would reject this one attribute (a date it cannot compare, a mistyped flag):
    // the profile update goes on without it, with a warning the processor counts.
    if (!result.ok) warnings.push(`${result.code}:attributes.${key}`);
    else attributes[key] = Array.isArray(result.value) ? JSON.stringify(result.value) : result.value;
  }
  for (const [key, value] of Object.entries(attributes)) {
    const attrIssues = checkAttribute(key, value);
    if (attrIssues.length > 0) {
      issues.push(...attrIssues);
      delete attributes[key]; // only reaches Customer.io if tier 2, and then without the offending attribute
    }
  }
  issues.push(...checkAttributeCount(Object.keys(attributes).length));
  if (attributeBudget.exceeded) {
    issues.push({
      code: REASON.cioLimitExceeded, field: 'attributes', hard: false,
      message: `flattened attribute names exceed what Customer.io accepts (${CIO_LIMITS.attributesPerCall} attributes of ${CIO_LIMITS.attributeNameBytes} bytes); the traits past that point were left out`,
    });
  }

  // 5. Time.
  let occurredAt = draft.fallbackOccurredAt;
  if (!isAbsent(draft.occurredAt)) {
    const ts = toTimestampMs(draft.occurredAt);
    if (ts.ok) occurredAt = ts.value;
    else issues.push({ code: REASON.invalidType, field: draft.occurredAtField, message: ts.message, hard: false });
  }
  const timeIssues = checkTimestamp(occurredAt, ctx.receivedAt, ctx.rules, draft.occurredAtField);
  issues.push(...timeIssues);
  // Accepted browse events with an impossible time are placed at their receipt.
  if (timeIssues.length > 0) occurredAt = ctx.receivedAt;

  // 6. Customer.io limits on the whole event.
  if (name !== null) issues.push(...checkEventName(name));
  const hasCommerce = Object.keys(commerce).length > 0;
  const commerceOut: CommerceProperties | null = hasCommerce ? buildCommerce(commerce) : null;
  issues.push(...(propertyBudget.exceeded
    ? [{ code: REASON.cioLimitExceeded, field: 'data', message: `event data is over ${CIO_LIMITS.eventDataBytes} bytes (its flattened property names alone), Customer.io allows ${CIO_LIMITS.eventDataBytes}`, hard: true }]
    : checkEventData({ ...properties, ...(commerceOut ?? {}) })));

  const decision = decide(tier, issues, warnings);
  if (decision.quarantine || name === null || tier === null) {
    const reasons = decision.quarantine ? decision.reasons.map((r) => r) : [];
    return { eventName: name, tier, identifiers, candidate: null, reasons };
  }

  const dedupeKey = dedupeKeyFor(plan.dedupeKeyFields(name), name, commerce, properties) ?? draft.deliveryKey;
  const event: CanonicalEvent = {
    event_id: deterministicUlid(dedupeKey, occurredAt),
    kind: draft.kind,
    name,
    customer_id: null,
    anonymous_id: identifiers.anonymous_id ?? null,
    email: identifiers.email ?? null,
    occurred_at: occurredAt,
    received_at: ctx.receivedAt,
    source: ctx.source,
    source_event_id: draft.sourceEventId,
    source_type: draft.sourceType,
    tracking_version: plan.version,
    schema_version: ctx.schemaVersion,
    tier,
    validation_warnings: decision.warnings,
    commerce: commerceOut,
    properties,
    attributes,
    merge: null,
  };
  return {
    eventName: name,
    tier,
    identifiers,
    candidate: { event, identifiers, assertsLinks: draft.assertsLinks, dedupeKey, anonymousPolicy, ...cartSnapshotOf(draft, event) },
    reasons: [],
  };
}

/**
 * Identifiers longer than Customer.io's id limit, judged on the raw string before any trimming or
 * matching (a UTF-16 unit is at least one UTF-8 byte, so the raw length is a lower bound).
 */
function overIdLimit(raw: unknown): raw is string {
  return typeof raw === 'string' && raw.length > CIO_LIMITS.idBytes;
}

function idTooLong(key: string, raw: string): Issue {
  return { code: REASON.cioLimitExceeded, field: key, message: `${key} is ${raw.length} characters, Customer.io allows ${CIO_LIMITS.idBytes} bytes`, hard: true };
}

function buildCommerce(values: Partial<Record<keyof CommerceProperties, unknown>>): CommerceProperties {
  const str = (k: keyof CommerceProperties): string | null => (typeof values[k] === 'string' ? (values[k] as string) : null);
  const num = (k: keyof CommerceProperties): number | null => (typeof values[k] === 'number' ? (values[k] as number) : null);
  return {
    order_id: str('order_id'),
    checkout_id: str('checkout_id'),
    cart_id: str('cart_id'),
    product_id: str('product_id'),
    variant_id: str('variant_id'),
    sku: str('sku'),
    subscription_id: str('subscription_id'),
    charge_id: str('charge_id'),
    price: num('price'),
    quantity: num('quantity'),
    value: num('value'),
    total: num('total'),
    subtotal: num('subtotal'),
    tax: num('tax'),
    discount: num('discount'),
    currency: str('currency'),
    revenue: num('revenue'),
    shipping: num('shipping'),
    coupon: str('coupon'),
    items: Array.isArray(values.items) ? (values.items as LineItem[]) : [],
  };
}

/** `<event>:<v1>[:<v2>...]` from the plan's dedupe_key, or null when the plan has none or a value is missing. */
function dedupeKeyFor(
  fields: readonly string[] | null,
  name: string,
  commerce: Partial<Record<string, unknown>>,
  properties: Record<string, ScalarValue>,
): string | null {
  if (!fields) return null;
  const values: string[] = [];
  for (const field of fields) {
    const v = commerce[field] ?? properties[field];
    if (v === undefined || v === null || v === '') return null;
    values.push(String(v));
  }
  return `${name}:${values.join(':')}`;
}

/**
 * A cart snapshot line, keyed like the order guard keys app add-to-cart lines (sku, else variant,
 * else product), so an app add followed by Shopify's snapshot of the same cart counts once.
 */
function cartSnapshotOf(draft: EventDraft, event: CanonicalEvent): { cartSnapshot?: { cart_id: string; line_key: string; quantity: number } } {
  const c = event.commerce;
  if (!draft.cartSnapshotLine || c === null || c.cart_id === null || c.quantity === null) return {};
  return { cartSnapshot: { cart_id: c.cart_id, line_key: c.sku ?? c.variant_id ?? c.product_id ?? 'unknown', quantity: c.quantity } };
}
