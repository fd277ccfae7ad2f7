/**
 * Identity, dedupe and ordering guards through the real broker: Maya's journey in several arrival
 * orders, the anonymous hold (released at identify, forwarded after the TTL), a conflict reported and
 * not merged, a restart that forgets no link and dedupes no order twice or never, and a person at
 * the identifier limit (links refused and reported, no event lost) on the local disk store.
 *
 * Records go in one at a time, each only after the service has committed the previous one, so the
 * arrival order across topics is the order the test chose.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicNames, type Kafka, type Topics } from '@cio-pipeline/core';
import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import { startNormalizer, type NormalizerService } from '../src/app.ts';
import { loadServiceConfig, type ServiceConfig } from '../src/service-config.ts';
import type { Conflict } from '../src/state/identity-graph.ts';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { appEnvelope, appEnvelopes, appKey, fixtureBytes, rechargeEnvelope, shopifyEnvelope } from '../../../test/support/raw-events.ts';
import { canonicalDecoder, FUTURE_TOLERANCE_MS, PLAN_PATH, produceStream, TopicTail, waitForGroupDone } from './load-harness.ts';
import { runInProcess, shopifyOrderRecord, type SyntheticRecord } from './synthetic-stream.ts';

const CUS = 'cus_48213';
const ANON = 'anon-7f3c2a';
const EMAIL = 'maya.lindqvist@example.com';
const ORDER = '5904832711894301745';
const SHOPIFY_CUSTOMER = '7301928374650192837';
const TTL_MS = 6000;

type Tail = TopicTail<CanonicalEvent>;

function config(prefix: string, groupId: string, extra: Record<string, string> = {}): Readonly<ServiceConfig> {
  const { brokers, registryUrl } = stackInfo();
  return loadServiceConfig({
    KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, NORMALIZER_GROUP_ID: groupId,
    NORMALIZER_OPS_PORT: '0', NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS,
    // Long enough that no hold expires while the test delivers records one by one.
    NORMALIZER_COMPLETENESS_HOLD_MS: '30000', NORMALIZER_SWEEP_INTERVAL_MS: '200',
    ...extra,
  });
}

/** One person's running service, its topics, and a tail on what it writes. */
class Harness {
  readonly topics: Topics;
  readonly prefix = `${uniqueName('idr')}.`;
  readonly groupId = uniqueName('normalizer');
  service: NormalizerService | null = null;
  canonical!: Tail;
  conflicts!: TopicTail<Conflict>;
  private readonly kafka: Kafka;
  private readonly extra: Record<string, string>;

  constructor(kafka: Kafka, extra: Record<string, string> = {}) {
    this.kafka = kafka;
    this.extra = extra;
    this.topics = topicNames(this.prefix);
  }

  async start(): Promise<void> {
    this.service = await startNormalizer(config(this.prefix, this.groupId, this.extra), quietLogger);
    if (!this.canonical) {
      this.canonical = await TopicTail.start(this.kafka, this.topics.canonical, canonicalDecoder(stackInfo().registryUrl, this.topics.canonical));
      this.conflicts = await TopicTail.start(this.kafka, this.topics.conflicts, (v) => JSON.parse(v.toString('utf8')) as Conflict);
    }
  }

  async stopService(): Promise<void> {
    await this.service?.stop();
    this.service = null;
  }

  async close(): Promise<void> {
    await this.stopService();
    await this.canonical?.stop();
    await this.conflicts?.stop();
  }

  /** Produces the records without waiting for the service (it may be down). */
  async produce(records: SyntheticRecord[]): Promise<void> {
    await produceStream(this.kafka, stackInfo().registryUrl, this.topics, records);
  }

  /** Delivers each record only after the service committed the one before. */
  async deliver(records: SyntheticRecord[]): Promise<void> {
    for (const r of records) {
      await this.produce([r]);
      await this.waitDone();
    }
  }

  async waitDone(): Promise<void> {
    await waitForGroupDone(this.kafka, this.groupId, [this.topics.rawApp, this.topics.rawShopify, this.topics.rawSubscriptions], 30_000, () => '', 100);
  }
}

// Maya's journey as raw deliveries, by name.
const app = appEnvelopes();
const appRecord = (i: number): SyntheticRecord => ({ source: 'app', key: appKey(app[i]!), value: app[i]! });
const J = {
  page: appRecord(0), viewed: appRecord(1), addToCart: appRecord(2), identify: appRecord(3), appCheckout: appRecord(4), appOrder: appRecord(5),
  cart: { source: 'shopify', key: 'Z2NwLXVzLWVhc3QxOjAxSjk4', value: shopifyEnvelope('carts/update', fixtureBytes('shopify/carts-update.json')) },
  customer: { source: 'shopify', key: SHOPIFY_CUSTOMER, value: shopifyEnvelope('customers/create', fixtureBytes('shopify/customers-create.json')) },
  checkout: { source: 'shopify', key: SHOPIFY_CUSTOMER, value: shopifyEnvelope('checkouts/create', fixtureBytes('shopify/checkouts-create.json')) },
  order: { source: 'shopify', key: SHOPIFY_CUSTOMER, value: shopifyEnvelope('orders/create', fixtureBytes('shopify/orders-create.json')) },
  // Shopify's retry of the same order: a new webhook id, the same order id.
  orderRetry: { source: 'shopify', key: SHOPIFY_CUSTOMER, value: shopifyEnvelope('orders/create', fixtureBytes('shopify/orders-create.json'), { webhookId: 'wh-retry-1' }) },
  charge: { source: 'subscriptions', key: '118273645', value: rechargeEnvelope('charge/paid', fixtureBytes('recharge/charge-paid.json')) },
} satisfies Record<string, SyntheticRecord>;

const PERMUTATIONS: Record<string, SyntheticRecord[]> = {
  'in source order': [J.page, J.viewed, J.addToCart, J.identify, J.cart, J.customer, J.appCheckout, J.checkout, J.order, J.appOrder, J.orderRetry, J.charge],
  'checkouts/create after orders/create, order delivered twice': [J.page, J.viewed, J.addToCart, J.identify, J.cart, J.customer, J.appCheckout, J.order, J.orderRetry, J.checkout, J.appOrder, J.charge],
  'Shopify first, the app journey after the purchase': [J.customer, J.order, J.page, J.viewed, J.addToCart, J.identify, J.appCheckout, J.appOrder, J.cart, J.checkout, J.orderRetry, J.charge],
};

function line(key: string | null, e: CanonicalEvent): string {
  return `${key} ${e.kind}:${e.name} ${e.source}:${e.source_event_id} ${e.event_id}`;
}

function byKey(records: Array<{ key: string | null; event: CanonicalEvent }>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of records) {
    const k = r.key ?? '';
    if (!out.has(k)) out.set(k, []);
    out.get(k)!.push(line(r.key, r.event));
  }
  return out;
}

describe('the fixture journey through the real broker, in several arrival orders', () => {
  let kafka: Kafka;
  beforeAll(() => {
    kafka = testKafka();
  });

  for (const [name, order] of Object.entries(PERMUTATIONS)) {
    it(`ends with one person ${CUS} and exactly the README's events, ${name}`, async () => {
      const h = new Harness(kafka);
      try {
        await h.start();
        await h.deliver(order);
        const expected = runInProcess(order, config(h.prefix, h.groupId)).emitted;
        const got = await h.canonical.until((all) => all.length >= expected.length, { settleMs: 1000 });

        // Exactly the events the same stages produce in-process for this order, in order per key.
        expect(byKey(got.map((r) => ({ key: r.key, event: r.value })))).toEqual(byKey(expected.map((e) => ({ key: e.key, event: e.event }))));
        const events = got.map((r) => r.value);

        // One person: every profile other than cus_48213 is merged into it.
        const merged = new Set(events.filter((e) => e.kind === 'merge' && e.customer_id === CUS).map((e) => e.merge!.identifier));
        const people = new Set(events.map((e) => e.customer_id).filter((c): c is string => c !== null));
        expect([...people].filter((p) => p !== CUS && !merged.has(p))).toEqual([]);
        expect(people.has(CUS)).toBe(true);
        const mayaKeyed = got.filter((r) => r.key === CUS).map((r) => r.value);
        expect(mayaKeyed.some((e) => e.kind === 'identify' && e.attributes['email'] === EMAIL)).toBe(true);
        // Her anonymous browsing went out under the anonymous id, and an identify carrying it attaches it.
        expect(got.filter((r) => r.key === ANON).map((r) => r.value.name)).toEqual(['page_viewed', 'product_viewed']);
        expect(mayaKeyed.some((e) => e.kind === 'identify' && e.anonymous_id === ANON)).toBe(true);

        // Exactly one order_completed, typed.
        const orders = events.filter((e) => e.name === 'order_completed');
        expect(orders).toHaveLength(1);
        expect(orders[0]!.commerce).toMatchObject({ order_id: ORDER, total: 118.4, currency: 'USD' });
        expect(orders[0]!.commerce!.items.map((i) => i.sku)).toEqual(['TEA-SENCHA-100', '3141592']);
        expect(events.some((e) => e.kind === 'identify' && typeof e.attributes['last_order_date'] === 'number')).toBe(true);

        // No cart or checkout trigger after the purchase; before it, when they happened before it.
        const seq = mayaKeyed.map((e) => e.name);
        const purchase = seq.indexOf('order_completed');
        const afterPurchase = purchase === -1 ? [] : seq.slice(purchase + 1);
        expect(afterPurchase.filter((n) => n === 'checkout_started' || n === 'added_to_cart')).toEqual([]);
        if (order.indexOf(J.appCheckout) < order.indexOf(J.order)) {
          expect(seq.slice(0, purchase)).toEqual(expect.arrayContaining(['added_to_cart', 'checkout_started']));
        }
      } finally {
        await h.close();
      }
    });
  }
});

/** App messages a second apart from `start`, with message ids `<prefix>-<n>`. */
function appMessages(prefix: string, start: number) {
  let n = 0;
  const msg = (body: Record<string, unknown>): SyntheticRecord => {
    const at = start + 1000 * n++;
    const value = appEnvelope({ messageId: `${prefix}-${n}`, timestamp: new Date(at).toISOString(), ...body });
    return { source: 'app', key: appKey(value), value };
  };
  const addToCart = (ids: Record<string, string>, sku: string) => msg({ type: 'track', ...ids, event: 'Product Added', properties: { sku, quantity: 1, price: 24, currency: 'USD' } });
  return { msg, addToCart };
}

describe('holds, conflicts and a restart through the real broker', () => {
  let kafka: Kafka;
  let h: Harness;
  const T = Date.parse('2026-11-21T10:00:00Z');
  const { msg, addToCart } = appMessages('t', T);
  const identify = (userId: string, anonymousId: string | null, traits: Record<string, string>) => msg({ type: 'identify', userId, ...(anonymousId ? { anonymousId } : {}), traits });
  const of = (key: string) => h.canonical.records.filter((r) => r.key === key).map((r) => r.value);

  beforeAll(async () => {
    kafka = testKafka();
    h = new Harness(kafka, { NORMALIZER_ANONYMOUS_TTL_MS: String(TTL_MS) });
    await h.start();
  });

  afterAll(async () => {
    await h?.close();
  });

  it('holds an anonymous cart until identify and releases it in order; forwards it anonymously after the TTL', async () => {
    // The TTL case first, so its clock runs while the hold case plays out.
    const expiring = addToCart({ anonymousId: 'anon-ttl-1' }, 'TEA-GENMAI-50');
    const heldSince = Date.now();
    await h.deliver([expiring, addToCart({ anonymousId: 'anon-hold-1' }, 'TEA-SENCHA-100'), addToCart({ anonymousId: 'anon-hold-1' }, 'TEA-HOJICHA-80')]);
    // Committed, and nothing went out: all three are held.
    await new Promise((r) => setTimeout(r, 300));
    expect([...of('anon-hold-1'), ...of('anon-ttl-1')]).toEqual([]);

    await h.deliver([identify('cus_hold_1', 'anon-hold-1', { email: 'hold@example.com' })]);
    await h.canonical.until(() => of('cus_hold_1').length >= 3, { settleMs: 300 });
    const released = of('cus_hold_1');
    expect(released.map((e) => `${e.kind}:${e.name}:${e.commerce?.sku ?? ''}`)).toEqual([
      'identify:identify:', 'event:added_to_cart:TEA-SENCHA-100', 'event:added_to_cart:TEA-HOJICHA-80',
    ]);
    expect(released[0]!.anonymous_id).toBe('anon-hold-1');
    expect(released.every((e) => e.customer_id === 'cus_hold_1')).toBe(true);
    expect(Date.now() - heldSince).toBeLessThan(TTL_MS); // released by the identify, not by the TTL

    await h.canonical.until(() => of('anon-ttl-1').length >= 1, { timeoutMs: TTL_MS + 15_000, settleMs: 500 });
    expect(Date.now() - heldSince).toBeGreaterThanOrEqual(TTL_MS);
    const forwarded = of('anon-ttl-1');
    expect(forwarded).toHaveLength(1);
    expect(forwarded[0]).toMatchObject({ name: 'added_to_cart', customer_id: null, anonymous_id: 'anon-ttl-1' });
  });

  it('reports one email claimed by two customer ids on the conflicts topic and does not merge them', async () => {
    await h.deliver([
      identify('cus_conf_a', null, { email: 'shared@example.com' }),
      identify('cus_conf_b', null, { email: 'shared@example.com' }),
      addToCart({ userId: 'cus_conf_b' }, 'CUP-YUNOMI-2'),
    ]);
    const conflicts = await h.conflicts.until((all) => all.length >= 1, { settleMs: 500 });
    expect(conflicts.map((c) => ({ key: c.key, ...c.value }))).toEqual([expect.objectContaining({
      key: 'email:shared@example.com', identifier_type: 'email', identifier: 'shared@example.com',
      existing_customer_id: 'cus_conf_a', claimed_customer_id: 'cus_conf_b', rule: 'keep_first', resolution: 'kept_existing',
    })]);
    await h.canonical.until(() => of('cus_conf_b').some((e) => e.name === 'added_to_cart'));
    // Two people, each keeping their own events; no merge either way.
    expect(of('cus_conf_b').every((e) => e.customer_id === 'cus_conf_b')).toBe(true);
    expect(of('cus_conf_a').every((e) => e.customer_id === 'cus_conf_a')).toBe(true);
    expect([...of('cus_conf_a'), ...of('cus_conf_b')].filter((e) => e.kind === 'merge')).toEqual([]);
  });

  it('after a restart, remembers links and dedupes orders: nothing forgotten, nothing twice, nothing missed', async () => {
    const shopifyId = '7301928374650100001';
    const at = T + 3_600_000;
    const o1 = shopifyOrderRecord({ orderId: '5904832711800000001', customerId: shopifyId, email: 'restart@example.com', at, webhookId: 'wh-r1' });
    await h.deliver([identify('cus_restart', null, { email: 'restart@example.com', shopify_customer_id: shopifyId }), o1]);
    await h.canonical.until(() => of('cus_restart').some((e) => e.name === 'order_completed'));

    await h.stopService();
    // Delivered while the service is down: picked up after the restart, once.
    const o3 = shopifyOrderRecord({ orderId: '5904832711800000003', customerId: shopifyId, email: 'restart@example.com', at: at + 60_000, webhookId: 'wh-r3' });
    await h.produce([o3]);
    await h.start();
    expect(h.service!.restored.records).toBeGreaterThan(0);

    // An email-only order resolves through the link learned before the restart; the replayed order is a duplicate.
    const o2 = shopifyOrderRecord({ orderId: '5904832711800000002', email: 'restart@example.com', at: at + 120_000, webhookId: 'wh-r2' });
    const o1Replay = shopifyOrderRecord({ orderId: '5904832711800000001', customerId: shopifyId, email: 'restart@example.com', at, webhookId: 'wh-r1-replay' });
    await h.waitDone();
    await h.deliver([o2, o1Replay]);
    await h.canonical.until(() => of('cus_restart').filter((e) => e.name === 'order_completed').length >= 3, { settleMs: 1500 });

    const orders = h.canonical.records.filter((r) => r.value.name === 'order_completed' && r.value.commerce?.order_id?.startsWith('59048327118'));
    expect(orders.map((r) => `${r.key} ${r.value.customer_id} ${r.value.commerce!.order_id}`)).toEqual([
      'cus_restart cus_restart 5904832711800000001',
      'cus_restart cus_restart 5904832711800000003',
      'cus_restart cus_restart 5904832711800000002',
    ]);
    // The profile rollup survived the restart too: the third order is the third.
    const rollups = of('cus_restart').filter((e) => e.kind === 'identify' && e.attributes['orders_count'] !== undefined);
    expect(rollups.map((e) => e.attributes['orders_count'])).toEqual([1, 2, 3]);
    // No fallback profile for the email: it was known.
    expect(h.canonical.records.filter((r) => r.key === 'restart@example.com')).toEqual([]);
  });
});

describe('a person at the identifier limit, through the real broker, on the local disk store', () => {
  let kafka: Kafka;
  let h: Harness;
  let dir: string;
  const { msg, addToCart } = appMessages('cap', Date.parse('2026-11-22T10:00:00Z'));
  const of = (key: string) => h.canonical.records.filter((r) => r.key === key).map((r) => r.value);

  beforeAll(async () => {
    kafka = testKafka();
    dir = mkdtempSync(join(tmpdir(), 'identity-limit-'));
    h = new Harness(kafka, { NORMALIZER_MAX_IDENTIFIERS_PER_PERSON: '3', NORMALIZER_ANONYMOUS_TTL_MS: '1500', NORMALIZER_STATE_DIR: dir });
    await h.start();
  });

  afterAll(async () => {
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses links past the limit, reports each on the conflicts topic, counts them, and loses no event', async () => {
    // A script reusing one user id with a new anonymous id per identify.
    await h.deliver([
      msg({ type: 'identify', userId: 'cus_cap', anonymousId: 'anon-cap-1', traits: { email: 'cap@example.com' } }),
      msg({ type: 'identify', userId: 'cus_cap', anonymousId: 'anon-cap-2', traits: { plan: 'a' } }),
      // Held under an anonymous id the next identify names: it goes out under that identify's person.
      addToCart({ anonymousId: 'anon-cap-3' }, 'SKU-3'),
      msg({ type: 'identify', userId: 'cus_cap', anonymousId: 'anon-cap-3', traits: { plan: 'b' } }),
      addToCart({ userId: 'cus_cap' }, 'SKU-1'),
      // The refused anonymous id alone does not lead to the person: held, then forwarded anonymously.
      addToCart({ anonymousId: 'anon-cap-2' }, 'SKU-2'),
    ]);
    const refused = await h.conflicts.until((all) => all.length >= 2, { settleMs: 500 });
    expect(refused.map((c) => ({ key: c.key, ...c.value }))).toEqual(['anon-cap-2', 'anon-cap-3'].map((anon) => expect.objectContaining({
      key: `anonymous_id:${anon}`, identifier_type: 'anonymous_id', identifier: anon, existing_customer_id: null, claimed_customer_id: 'cus_cap',
      rule: 'identifier_limit', resolution: 'not_linked', limit: 3, identifiers: 3,
    })));
    const counted = await h.service!.metrics.linksRefused.get();
    expect(counted.values).toEqual([expect.objectContaining({ labels: { kind: 'anonymous_id' }, value: 2 })]);

    // Every event went out: the person's under the person, the lone anonymous one under its id.
    await h.canonical.until(() => of('anon-cap-2').length >= 1, { timeoutMs: 20_000, settleMs: 300 });
    expect(of('cus_cap').map((e) => [e.name, e.customer_id, e.attributes['plan'] ?? e.commerce?.sku ?? null])).toEqual([
      ['identify', 'cus_cap', null], ['identify', 'cus_cap', 'a'], ['identify', 'cus_cap', 'b'], ['added_to_cart', 'cus_cap', 'SKU-3'], ['added_to_cart', 'cus_cap', 'SKU-1'],
    ]);
    expect(of('anon-cap-2').map((e) => [e.name, e.customer_id, e.commerce?.sku])).toEqual([['added_to_cart', null, 'SKU-2']]);
    expect(h.service!.state.stores.identity.clusterOf('customer_id:cus_cap')!.members.sort()).toEqual(['anonymous_id:anon-cap-1', 'customer_id:cus_cap', 'email:cap@example.com']);
  });
});
