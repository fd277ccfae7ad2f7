import type { QuarantineReason } from '@cio-pipeline/core/generated/avro-types';
import type { IdentifierSet } from './candidate.ts';
import type { QuarantineReasonCode } from '../quarantine-reasons.ts';
import type { Tier } from '@cio-pipeline/core';

/** Machine-readable quarantine reason and warning codes. */
export const REASON = {
  unparseableBody: 'unparseable_body',
  nestingTooDeep: 'nesting_too_deep',
  invalidEventName: 'invalid_event_name',
  unknownEventBlocked: 'unknown_event_blocked',
  missingIdentifier: 'missing_identifier',
  missingRequiredProperty: 'missing_required_property',
  invalidType: 'invalid_type',
  unknownCurrency: 'unknown_currency',
  timestampInFuture: 'timestamp_in_future',
  timestampTooOld: 'timestamp_too_old',
  cioLimitExceeded: 'cio_limit_exceeded',
  unsupportedSource: 'unsupported_source',
} as const satisfies Record<string, QuarantineReasonCode>;

/** Warning codes (accepted events only). Field-level problems are written `<code>:<field>`. */
export const WARNING = {
  unplannedEvent: 'unplanned_event',
  missingProperty: 'missing_property',
  internalTraffic: 'internal_traffic',
  botTraffic: 'bot_traffic',
} as const;

/** Customer.io Track API limits (shared/reference/customerio.md). */
export const CIO_LIMITS = {
  idBytes: 150,
  attributeNameBytes: 150,
  attributeValueBytes: 1000,
  attributesPerCall: 300,
  eventNameBytes: 100,
  eventDataBytes: 100_000,
} as const;

/**
 * One problem with one event. `hard` problems make the event unusable whatever its tier (no
 * identifier, a name Customer.io rejects); the others quarantine tier 1 and only warn on tier 2.
 */
export interface Issue {
  code: string;
  field: string | null;
  message: string;
  hard: boolean;
}

export interface TimestampRules {
  /** How far past its receipt an event may claim to have happened (clock skew). */
  futureToleranceMs: number;
  /** Events before this are a broken clock or a unit mistake, not history. */
  timestampFloorMs: number;
}

export const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** A tier 1 event needs something identity resolution can work with; a tier 2 one too, or it cannot be sent. */
export function checkIdentifiers(ids: IdentifierSet): Issue[] {
  const present = Object.values(ids).some((v) => typeof v === 'string' && v !== '');
  if (present) return [];
  return [{
    code: REASON.missingIdentifier,
    field: null,
    message: 'no customer id, email, Shopify or subscription customer id, anonymous id, cart or checkout token',
    hard: true,
  }];
}

/** An instant for a reason's message; one outside Date's range is written as a number, never thrown on. */
function instant(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `${ms} ms` : d.toISOString();
}

/** Future is judged against the receipt time, not the wall clock, so a replay decides the same way. */
export function checkTimestamp(occurredAt: number, receivedAt: number, rules: TimestampRules, field: string): Issue[] {
  if (occurredAt > receivedAt + rules.futureToleranceMs) {
    return [{
      code: REASON.timestampInFuture,
      field,
      message: `${instant(occurredAt)} is more than ${rules.futureToleranceMs} ms after receipt (${instant(receivedAt)})`,
      hard: false,
    }];
  }
  if (occurredAt < rules.timestampFloorMs) {
    return [{
      code: REASON.timestampTooOld,
      field,
      message: `${instant(occurredAt)} is before ${instant(rules.timestampFloorMs)}`,
      hard: false,
    }];
  }
  return [];
}

export function checkEventName(name: string): Issue[] {
  if (utf8Bytes(name) <= CIO_LIMITS.eventNameBytes) return [];
  return [{ code: REASON.cioLimitExceeded, field: 'name', message: `event name is ${utf8Bytes(name)} bytes, Customer.io allows ${CIO_LIMITS.eventNameBytes}`, hard: true }];
}

/** Person identifiers Customer.io puts in a path or matches on. */
export function checkIdentifierSizes(ids: IdentifierSet): Issue[] {
  const issues: Issue[] = [];
  for (const key of ['customer_id', 'email', 'anonymous_id'] as const) {
    const v = ids[key];
    if (v !== undefined && utf8Bytes(v) > CIO_LIMITS.idBytes) {
      issues.push({ code: REASON.cioLimitExceeded, field: key, message: `${key} is ${utf8Bytes(v)} bytes, Customer.io allows ${CIO_LIMITS.idBytes}`, hard: true });
    }
  }
  return issues;
}

/** Attribute name and value sizes: soft, so a tier 2 update loses only the offending attribute. */
export function checkAttribute(name: string, value: null | boolean | number | string): Issue[] {
  const issues: Issue[] = [];
  if (utf8Bytes(name) > CIO_LIMITS.attributeNameBytes) {
    issues.push({ code: REASON.cioLimitExceeded, field: `attributes.${name.slice(0, 40)}`, message: `attribute name is ${utf8Bytes(name)} bytes, Customer.io allows ${CIO_LIMITS.attributeNameBytes}`, hard: false });
  }
  if (typeof value === 'string' && utf8Bytes(value) > CIO_LIMITS.attributeValueBytes) {
    issues.push({ code: REASON.cioLimitExceeded, field: `attributes.${name.slice(0, 40)}`, message: `attribute value is ${utf8Bytes(value)} bytes, Customer.io allows ${CIO_LIMITS.attributeValueBytes}`, hard: false });
  }
  return issues;
}

export function checkAttributeCount(count: number): Issue[] {
  if (count <= CIO_LIMITS.attributesPerCall) return [];
  return [{ code: REASON.cioLimitExceeded, field: 'attributes', message: `${count} attributes, Customer.io allows ${CIO_LIMITS.attributesPerCall} per call`, hard: false }];
}

export function checkEventData(data: unknown): Issue[] {
  const bytes = utf8Bytes(JSON.stringify(data));
  if (bytes <= CIO_LIMITS.eventDataBytes) return [];
  return [{ code: REASON.cioLimitExceeded, field: 'data', message: `event data is ${bytes} bytes, Customer.io allows ${CIO_LIMITS.eventDataBytes}`, hard: true }];
}

export type Decision = { quarantine: true; reasons: QuarantineReason[] } | { quarantine: false; warnings: string[] };

/**
 * Tiered verdict: tier 1 (revenue) hard-fails on any problem, listing every one; tier 2 (browse)
 * is accepted with warnings unless a problem makes the event unusable. An unknown tier (the name
 * itself was unusable) always quarantines.
 */
export function decide(tier: Tier | null, issues: readonly Issue[], warnings: readonly string[] = []): Decision {
  const quarantine = tier === null || tier === 1 ? issues.length > 0 : issues.some((i) => i.hard);
  if (quarantine) return { quarantine: true, reasons: issues.map(toReason) };
  return { quarantine: false, warnings: [...warnings, ...issues.map(toWarning)] };
}

export function toReason(issue: Issue): QuarantineReason {
  return { code: issue.code, field: issue.field, message: issue.message };
}

function toWarning(issue: Issue): string {
  const code = issue.code === REASON.missingRequiredProperty ? WARNING.missingProperty : issue.code;
  return issue.field === null ? code : `${code}:${issue.field}`;
}
