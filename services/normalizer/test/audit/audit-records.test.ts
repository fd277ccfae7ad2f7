/**
 * What each raw record's audit record says, through the real pipeline (stateless stages and state
 * stage) with the registry replaced by a lookup: outcome, reasons, event ids and identifiers per
 * record, held events told again when their hold ends, and the precedence rule of a record with
 * several candidates.
 */
import { describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import type { AuditRecord, RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { createLogger } from '@cio-pipeline/core';
import { auditChunk, auditSweep, type KeyedAudit } from '../../src/audit/audit-records.ts';
import type { RawDecoder } from '../../src/kafka/raw-decoder.ts';
import { createPipeline, type ChunkResult } from '../../src/stages/pipeline.ts';
import { createStateStage } from '../../src/state/state-stage.ts';
import type { StateConfig } from '../../src/state/config.ts';
import type { CandidateEvent, RecordOrigin } from '../../src/stages/candidate.ts';
import { appEnvelope, appEnvelopes } from '../../../../test/support/raw-events.ts';
import { pipeline as statelessPipeline } from '../helpers.ts';
import { ANON, config, CUS, EMAIL } from '../state/journey.ts';

const TOPIC = 'raw.app';
const NOW = Date.parse('2026-11-20T19:10:00Z');
const HOUR = 3_600_000;

/** The real pipeline over app envelopes; the decoder looks envelopes up by their bytes. */
function harness(overrides: Partial<StateConfig> = {}) {
  const envelopes = new Map<string, RawAppMessage>();
  const decoder = {
    decode: async (_topic: string, value: Buffer) => ({ source: 'app' as const, envelope: envelopes.get(value.toString('utf8'))!, schemaVersion: 1 }),
    sourceOf: () => 'app' as const,
  } as unknown as RawDecoder;
  const state = createStateStage(config({ completenessHoldMs: 0, anonymousTtlMs: HOUR, ...overrides }));
  const p = createPipeline({ decoder, stateless: statelessPipeline(), state, logger: createLogger('audit-test', 'silent') });
  let offset = 0;
  return {
    /** One chunk of partition 0; each record keyed like ingest keys it. */
    async chunk(records: RawAppMessage[], now = NOW): Promise<{ chunk: ChunkResult; audits: KeyedAudit[]; offsets: string[] }> {
      const messages: KafkaMessage[] = records.map((e) => {
        const value = `v${offset}`;
        envelopes.set(value, e);
        const body = JSON.parse(e.body.toString('utf8')) as { userId?: string; anonymousId?: string };
        return { key: Buffer.from(body.userId ?? body.anonymousId ?? e.message_id), value: Buffer.from(value), offset: String(offset++), timestamp: '0', attributes: 0, headers: {} } as KafkaMessage;
      });
      const chunk = await p.runChunk(TOPIC, 0, messages, now);
      state.commit();
      return { chunk, audits: auditChunk(chunk, now), offsets: messages.map((m) => m.offset) };
    },
    sweep(now: number): KeyedAudit[] {
      const result = p.sweep(now);
      state.commit();
      return auditSweep(result, now);
    },
  };
}

const journey = appEnvelopes();
const [pageView, productViewed, addToCart, identify, , orderCompleted] = journey as [RawAppMessage, RawAppMessage, RawAppMessage, RawAppMessage, RawAppMessage, RawAppMessage];
const message = (m: Record<string, unknown>): RawAppMessage => appEnvelope(m, { receivedAt: NOW });
const ids = (r: AuditRecord, type: string): string[] => r.identifiers.filter((i) => i.type === type).map((i) => i.value);
const emittedIds = (chunk: ChunkResult): string[] => chunk.state.emit.map((e) => e.event.event_id);

describe('audit records: one per raw record, with what became of it', () => {
  it('a known shopper\'s order: canonical, with the identify it caused among its event ids, keyed by the customer', async () => {
    const h = harness();
    const { chunk, audits, offsets } = await h.chunk([orderCompleted]);
    expect(audits).toHaveLength(1);
    const [{ key, record }] = audits as [KeyedAudit];
    expect(key).toBe(CUS);
    expect(record).toMatchObject({
      source: 'app', source_topic: TOPIC, source_partition: 0, source_offset: offsets[0], source_event: 'Order Completed',
      event_name: 'order_completed', occurred_at: Date.parse('2026-11-20T19:03:12.000Z'), outcome: 'canonical', reasons: [],
      customer_key: CUS, held_until: null, audited_at: NOW,
    });
    // The person's first identify, the order, and the rollup identify: all caused by this record.
    expect(record.event_ids.toSorted()).toEqual(emittedIds(chunk).toSorted());
    expect(record.event_ids).toHaveLength(3);
    expect(ids(record, 'order_id')).toEqual(['5904832711894301745']);
    expect(ids(record, 'message_id')).toEqual(['m-0006']);
    expect(ids(record, 'customer_id')).toEqual([CUS]);
    // Event ids and the customer key have fields of their own: not repeated as identifiers.
    expect(ids(record, 'event_id')).toEqual([]);
  });

  it('quarantined: the reason codes, and the identifiers it carries (the trace finds it by order id)', async () => {
    const h = harness();
    const { audits } = await h.chunk([message({ type: 'track', userId: CUS, messageId: 'm-q1', event: 'Order Completed', properties: { total: 10, currency: 'USD' }, timestamp: '2026-11-20T19:05:00Z' })]);
    const [{ key, record }] = audits as [KeyedAudit];
    expect(record).toMatchObject({ outcome: 'quarantined', reasons: ['missing_required_property'], event_ids: [], customer_key: null, event_name: 'order_completed', source_event: 'Order Completed' });
    expect(key).toEqual(Buffer.from(CUS));
    expect(ids(record, 'customer_id')).toEqual([CUS]);
    expect(ids(record, 'message_id')).toEqual(['m-q1']);
  });

  it('a client retry: the copy is dropped as a duplicate, the first one is canonical', async () => {
    const h = harness();
    const { audits } = await h.chunk([orderCompleted, orderCompleted]);
    expect(audits.map((a) => [a.record.outcome, a.record.reasons])).toEqual([['canonical', []], ['dropped', ['duplicate']]]);
    expect(audits[1]!.record.event_ids).toEqual([]);
  });

  it('a bot\'s page view: dropped, reason bot', async () => {
    const h = harness();
    const body = JSON.parse(pageView.body.toString('utf8')) as Record<string, unknown>;
    const { audits } = await h.chunk([message({ ...body, messageId: 'm-bot', context: { userAgent: 'Mozilla/5.0 (compatible; bingbot/2.0)' } })]);
    const [{ record }] = audits as [KeyedAudit];
    expect(record).toMatchObject({ outcome: 'dropped', reasons: ['bot'], event_ids: [], source_event: 'page' });
    expect(ids(record, 'anonymous_id')).toEqual([ANON]);
  });

  it('held, then released by the identify in a later chunk: a released record with the original coordinates', async () => {
    const h = harness();
    const first = await h.chunk([addToCart]);
    const [{ key: heldKey, record: held }] = first.audits as [KeyedAudit];
    expect(held).toMatchObject({ outcome: 'held', event_ids: [], held_until: NOW + HOUR, customer_key: null, source_event: 'addToCart', event_name: 'added_to_cart' });
    expect(heldKey).toEqual(Buffer.from(ANON));

    const second = await h.chunk([identify]);
    expect(second.audits.map((a) => [a.record.source_offset, a.record.outcome])).toEqual([[second.offsets[0], 'canonical'], [first.offsets[0], 'released']]);
    const released = second.audits[1]!;
    expect(released.key).toBe(CUS);
    expect(released.record).toMatchObject({ source_event: 'addToCart', event_name: 'added_to_cart', customer_key: CUS, reasons: [], held_until: null });
    const cart = second.chunk.state.emit.filter((e) => e.event.name === 'added_to_cart').map((e) => e.event.event_id);
    expect(released.record.event_ids).toEqual(cart);
    expect(ids(released.record, 'anonymous_id')).toEqual([ANON]);
    // The identify's own events are its own, not the released cart event's.
    expect(second.audits[0]!.record.event_ids).not.toContain(cart[0]);
    expect(second.audits[0]!.record.identifiers).toContainEqual({ type: 'email', value: EMAIL });
  });

  it('held and released within one chunk: the same two records as across two chunks', async () => {
    const h = harness();
    const { audits, offsets } = await h.chunk([addToCart, identify]);
    expect(audits.map((a) => [a.record.source_offset, a.record.outcome])).toEqual([[offsets[0], 'held'], [offsets[1], 'canonical'], [offsets[0], 'released']]);
  });

  it('browsing forwarded anonymously is canonical without a customer, keyed by the raw key', async () => {
    const h = harness();
    const { audits } = await h.chunk([productViewed]);
    const [{ key, record }] = audits as [KeyedAudit];
    expect(record).toMatchObject({ outcome: 'canonical', customer_key: null });
    expect(record.event_ids).toHaveLength(1);
    expect(key).toEqual(Buffer.from(ANON));
  });

  it.each([
    ['drop', ['anonymous_expired'], 0],
    ['forward', [], 1],
  ] as const)('a hold that times out (expiry policy %s) is told by the sweep as expired', async (policy, reasons, events) => {
    const h = harness({ anonymousExpiry: policy });
    const first = await h.chunk([addToCart]);
    expect(h.sweep(NOW + HOUR - 1)).toEqual([]);
    const audits = h.sweep(NOW + HOUR);
    expect(audits).toHaveLength(1);
    expect(audits[0]!.key).toBe(ANON);
    expect(audits[0]!.record).toMatchObject({ outcome: 'expired', reasons, source_offset: first.offsets[0], customer_key: null, audited_at: NOW + HOUR });
    expect(audits[0]!.record.event_ids).toHaveLength(events);
  });

  it('a held event suppressed when its shopper becomes known is told as dropped, with its reason', async () => {
    // The cart waits for its shopper; her order closes the cart before her identify releases it.
    const h = harness();
    const first = await h.chunk([addToCart]);
    const body = JSON.parse(orderCompleted.body.toString('utf8')) as Record<string, unknown>;
    await h.chunk([message({ ...body, properties: { ...(body['properties'] as object), cart_id: 'Z2NwLXVzLWVhc3QxOjAxSjk4' } })]);
    const third = await h.chunk([identify]);
    expect(third.audits.map((a) => [a.record.source_offset, a.record.outcome, a.record.reasons])).toEqual([
      [third.offsets[0], 'canonical', []],
      [first.offsets[0], 'dropped', ['suppressed_after_purchase']],
    ]);
    expect(third.audits[1]!.record.event_ids).toEqual([]);
  });
});

describe('audit records: a record with several candidates', () => {
  const origin: RecordOrigin = { topic: TOPIC, partition: 0, offset: '7', key: 'k', sourceEvent: 'carts/update' };
  const cause = (c: CandidateEvent, later = false) => ({ origin, later, candidate: c });
  const candidate = (name: string, id: string): CandidateEvent => ({
    event: { event_id: id, name, kind: 'event', source: 'shopify', source_event_id: 'wh', source_type: 'carts/update', occurred_at: 1, customer_id: null, anonymous_id: null, email: null, commerce: null } as unknown as CandidateEvent['event'],
    identifiers: { customer_id: CUS }, assertsLinks: false, dedupeKey: id, anonymousPolicy: 'hold', origin,
  });
  const a = candidate('added_to_cart', 'E1');
  const b = candidate('added_to_cart', 'E2');
  const chunkOf = (state: Partial<ChunkResult['state']>): ChunkResult => ({
    records: [{ at: { topic: TOPIC, partition: 0, offset: '7', key: Buffer.from('k') }, source: 'shopify', quarantined: null, drops: [], candidates: [a, b], seen: { sourceEvent: 'carts/update', identifiers: [], orderIds: [], messageId: null } }],
    decoded: ['shopify'], quarantined: [], drops: [], warned: [],
    state: { emit: [], drops: [], conflicts: [], held: [], changes: [], ...state },
  });

  it('canonical when any event went out, with every reason and event id', () => {
    const [{ record }] = auditChunk(chunkOf({
      emit: [{ key: CUS, event: { ...a.event, customer_id: CUS }, cause: cause(a) }],
      drops: [{ reason: 'duplicate', cause: cause(b) }],
    }), NOW) as [KeyedAudit];
    expect(record).toMatchObject({ outcome: 'canonical', reasons: ['duplicate'], event_ids: ['E1'], customer_key: CUS });
  });

  it('held when none went out and one waits, with the latest deadline; dropped when none waits', () => {
    const held = auditChunk(chunkOf({ held: [{ cause: cause(a), until: 5, key: null }], drops: [{ reason: 'duplicate', cause: cause(b) }] }), NOW);
    expect(held[0]!.record).toMatchObject({ outcome: 'held', reasons: ['duplicate'], held_until: 5 });
    const dropped = auditChunk(chunkOf({ drops: [{ reason: 'duplicate', cause: cause(a) }, { reason: 'suppressed_after_purchase', cause: cause(b) }] }), NOW);
    expect(dropped[0]!.record).toMatchObject({ outcome: 'dropped', reasons: ['duplicate', 'suppressed_after_purchase'], held_until: null });
  });

  it('a cart webhook names its cart token, so the trace finds it though it names no one and was dropped', () => {
    const cartLine: CandidateEvent = { ...a, identifiers: { cart_token: 'cart-9f2c' } };
    const [{ record }] = auditChunk({
      ...chunkOf({ drops: [{ reason: 'suppressed_after_purchase', cause: cause(cartLine) }] }),
      records: [{ ...chunkOf({}).records[0]!, candidates: [cartLine] }],
    }, NOW) as [KeyedAudit];
    expect(record).toMatchObject({ outcome: 'dropped', reasons: ['suppressed_after_purchase'], customer_key: null });
    expect(record.identifiers).toEqual([{ type: 'cart_token', value: 'cart-9f2c' }]);
  });

  it('a held event moved behind its person\'s gate is still held: no record until its hold ends', () => {
    const audits = auditSweep({ emit: [], drops: [], conflicts: [], held: [{ cause: cause(a, true), until: null, key: CUS }], changes: [] }, NOW);
    expect(audits).toEqual([]);
  });
});
