import type { RawEnvelope, TrackingPlan } from '@cio-pipeline/core';
import type { QuarantineReason, RawAppMessage, RawShopifyWebhook, RawSubscriptionWebhook } from '@cio-pipeline/core/generated/avro-types';
import type { CandidateEvent, Drop, IdentifierSet, QuarantineVerdict, SourceCoordinates, SourceName } from './candidate.ts';
import { toIdString } from './coerce.ts';
import { BotFilter, type InternalTraffic } from './bot-filter.ts';
import type { SourceMapping } from './draft.ts';
import { EMPTY_PRODUCT_TABLE, enrichEvent, type ProductTable } from './enrich.ts';
import { NestingTooDeepError, UnparseableBodyError } from './json.ts';
import { materialize } from './materialize.ts';
import { mapAppMessage, senderIdentifiers } from './sources/app.ts';
import { mapRechargeWebhook } from './sources/recharge.ts';
import { mapShopifyWebhook } from './sources/shopify.ts';
import { REASON, type TimestampRules } from './validate.ts';

export interface StatelessPipelineOptions extends TimestampRules {
  orderTopics: readonly string[];
  internal: InternalTraffic;
  productTable?: ProductTable;
}

export interface StatelessInput {
  source: SourceName;
  envelope: RawEnvelope;
  /** Registry version of the writer schema the envelope was decoded with. */
  schemaVersion: number;
  coordinates: SourceCoordinates;
  /** When ingest received it (the envelope's received_at); also the reference for "in the future". */
  receivedAt: number;
}

export interface StatelessOutput {
  candidates: CandidateEvent[];
  quarantine: QuarantineVerdict | null;
  drops: Drop[];
  seen: RecordSeen;
}

/** What a raw record names, whatever becomes of it (quarantined and dropped too): for its audit record. */
export interface RecordSeen {
  /** The first event as sent (a Segment event name, a webhook topic), else the call type. */
  sourceEvent: string | null;
  /** Per event, as materialized (coerced, emails lower-cased). */
  identifiers: IdentifierSet[];
  orderIds: string[];
  /** An app message's messageId. */
  messageId: string | null;
}

export interface StatelessPipeline {
  readonly plan: TrackingPlan;
  process(input: StatelessInput): StatelessOutput;
}

/** Options from the normalizer config (plus a loaded product table). */
export function pipelineOptionsFromConfig(
  config: {
    orderTopics: readonly string[]; futureToleranceMs: number; timestampFloorMs: number;
    internalIpRanges: readonly string[]; internalEmailDomains: readonly string[]; dropInternalTier1: boolean;
  },
  productTable?: ProductTable,
): StatelessPipelineOptions {
  return {
    orderTopics: config.orderTopics,
    futureToleranceMs: config.futureToleranceMs,
    timestampFloorMs: config.timestampFloorMs,
    internal: { ipRanges: config.internalIpRanges, emailDomains: config.internalEmailDomains, dropTier1: config.dropInternalTier1 },
    ...(productTable ? { productTable } : {}),
  };
}

/**
 * decode (done by the caller) -> map names -> coerce -> validate by tier -> filter bots -> enrich ->
 * stamp versions and the deterministic event id. Pure: the same input gives the same output, so a
 * replay after a crash or a quarantine fix produces the same events with the same ids.
 *
 * One raw record is all or nothing: if any event it yields must be quarantined, the whole record
 * is (every reason listed, fields prefixed by line item), so a replay after the fix re-emits it whole.
 */
export function createStatelessPipeline({ plan, options }: { plan: TrackingPlan; options: StatelessPipelineOptions }): StatelessPipeline {
  const botFilter = new BotFilter(plan.botFilter, options.internal);
  const productTable = options.productTable ?? EMPTY_PRODUCT_TABLE;
  const rules: TimestampRules = { futureToleranceMs: options.futureToleranceMs, timestampFloorMs: options.timestampFloorMs };

  function mapSource(input: StatelessInput): SourceMapping {
    switch (input.source) {
      case 'shopify': return mapShopifyWebhook(input.envelope as RawShopifyWebhook, plan, { orderTopics: options.orderTopics });
      case 'subscriptions': return mapRechargeWebhook(input.envelope as RawSubscriptionWebhook, plan);
      case 'app': return mapAppMessage(input.envelope as RawAppMessage);
      default: throw new UnsupportedSource(input.source);
    }
  }

  function process(input: StatelessInput): StatelessOutput {
    // A message ingest stored as invalid (a batch is answered 200 as a whole) carries its reason.
    const rejection = input.source === 'app' ? (input.envelope as RawAppMessage).rejection : null;
    const messageId = input.source === 'app' ? (input.envelope as RawAppMessage).message_id : null;
    const seen: RecordSeen = { sourceEvent: sourceEventOf(input, null), identifiers: [], orderIds: [], messageId };
    if (rejection) {
      // Its body was never mapped: read only who sent it, so its audit record names the person.
      const sender = senderIdentifiers(input.envelope as RawAppMessage);
      if (Object.keys(sender).length > 0) seen.identifiers.push(sender);
      return quarantined(null, null, [rejection], seen);
    }
    let mapping: SourceMapping;
    try {
      mapping = mapSource(input);
    } catch (err) {
      if (err instanceof NestingTooDeepError) return quarantined(null, null, [{ code: REASON.nestingTooDeep, field: null, message: err.message }], seen);
      if (err instanceof UnparseableBodyError) return quarantined(null, null, [{ code: REASON.unparseableBody, field: null, message: err.message }], seen);
      if (err instanceof UnsupportedSource) return quarantined(null, null, [{ code: REASON.unsupportedSource, field: null, message: err.message }], seen);
      throw err;
    }
    seen.sourceEvent = sourceEventOf(input, mapping);
    // A delivery that yields no event (an ignored call type) still names its sender for the audit.
    if (mapping.drafts.length === 0 && mapping.sender && Object.keys(mapping.sender).length > 0) seen.identifiers.push(mapping.sender);
    const drops: Drop[] = mapping.ignored.map((d) => ({ ...d }));
    if (mapping.drafts.length === 0 && drops.length === 0) drops.push({ reason: 'no_events' });

    const candidates: CandidateEvent[] = [];
    const reasons: QuarantineReason[] = [];
    let first: { name: string | null; tier: number | null } | null = null;
    const ctx = { plan, rules, source: input.source, receivedAt: input.receivedAt, schemaVersion: input.schemaVersion };
    for (const draft of mapping.drafts) {
      const result = materialize(draft, ctx);
      seen.identifiers.push(result.identifiers);
      const orderId = result.candidate?.event.commerce?.order_id ?? rawOrderId(draft.properties['order_id']);
      if (orderId !== null && !seen.orderIds.includes(orderId)) seen.orderIds.push(orderId);
      const kind = draft.kind;
      const cls = result.tier === null ? null : botFilter.classify({ ...draft.traffic, email: result.identifiers.email });
      const verdict = result.tier === null ? { action: 'keep' as const } : botFilter.decide(result.tier, kind, cls);
      // Bot and internal browse traffic is dropped before its validity matters: it never reaches quarantine.
      if (verdict.action === 'drop') {
        drops.push(result.eventName === null ? { reason: verdict.reason } : { reason: verdict.reason, event_name: result.eventName });
        continue;
      }
      if (!result.candidate) {
        reasons.push(...result.reasons);
        first ??= { name: result.eventName, tier: result.tier };
        continue;
      }
      let candidate = result.candidate;
      if (verdict.action === 'flag') {
        candidate = { ...candidate, event: { ...candidate.event, validation_warnings: [...candidate.event.validation_warnings, verdict.warning] } };
      }
      candidates.push({ ...candidate, event: enrichEvent(candidate.event, productTable) });
    }
    if (first !== null) return quarantined(first.name, first.tier, reasons, seen);
    return { candidates, quarantine: null, drops, seen };
  }

  return { plan, process };
}

class UnsupportedSource extends Error {
  constructor(source: string) {
    super(`no stateless mapping for source "${source}"`);
  }
}

function quarantined(eventName: string | null, tier: number | null, reasons: QuarantineReason[], seen: RecordSeen): StatelessOutput {
  return { candidates: [], quarantine: { event_name: eventName, tier, reasons }, drops: [], seen };
}

/** A webhook's topic as sent; an app message's event name (its call type for identify, page, ...). */
function sourceEventOf(input: StatelessInput, mapping: SourceMapping | null): string | null {
  if (input.source !== 'app') return (input.envelope as RawShopifyWebhook | RawSubscriptionWebhook).topic;
  const name = mapping?.drafts[0]?.name;
  const type = (input.envelope as RawAppMessage).type;
  return typeof name === 'string' && name !== '' ? name : type === '' ? null : type;
}

/** An order id as sent, for the audit of a record that did not get far enough to be coerced. */
function rawOrderId(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const id = toIdString(value);
  return id.ok ? id.value : null;
}
