// An app purchase sent under its order name (the completeness hold ended before the store's order
// came): the store's refund and cancellation, by numeric id, still find the buyer and the order.
import { describe, expect, it } from 'vitest';
import type { CandidateEvent } from '../../src/stages/candidate.ts';
import { createDiskStoreConfig } from '../../src/state/disk/config.ts';
import { LocalState } from '../../src/state/local-state.ts';
import { OrderLedger } from '../../src/state/order-ledger.ts';
import { createStateStage, createStateStores, type StateResult, type StateStage } from '../../src/state/state-stage.ts';
import { candidate, config, EMAIL, ORDER, SHOPIFY_ID } from './journey.ts';
import { tempLocalStates } from './temp-local-states.ts';

const CUS = 'cus_9';
const T = Date.parse('2026-11-20T19:00:00Z');
const LATER = Date.parse('2026-11-22T10:00:01Z');
const DAY = 86_400_000;
const item = { product_id: null, variant_id: null, sku: 'X', name: null, price: 100, quantity: 1, category: null, subscription_eligible: null, brand: null, variant: null, coupon: null, position: null, url: null, image_url: null };

const ident = candidate({ name: 'identify', kind: 'identify', at: '2026-11-20T18:59:00Z', source: 'app', sourceId: 'm-0', ids: { customer_id: CUS, email: EMAIL, shopify_customer_id: SHOPIFY_ID }, links: true, policy: 'forward' });
const appOrder = candidate({ name: 'order_completed', at: '2026-11-20T19:00:00Z', source: 'app', sourceId: 'm-2', dedupeKey: 'order_completed:#1001', ids: { customer_id: CUS }, policy: 'hold', commerce: { order_id: '#1001', total: 100, currency: 'USD', items: [item] } });
const shopBase = candidate({ name: 'order_completed', at: '2026-11-20T19:00:00Z', source: 'shopify', sourceId: ORDER, dedupeKey: `order_completed:${ORDER}`, ids: { email: EMAIL, shopify_customer_id: SHOPIFY_ID }, links: true, policy: 'hold', commerce: { order_id: ORDER, total: 100, currency: 'USD', items: [item] } });
const shopOrder: CandidateEvent = { ...shopBase, event: { ...shopBase.event, properties: { order_name: '#1001', order_number: '1001' } } };
const refund = (amount: number): CandidateEvent => candidate({ name: 'order_refunded', at: '2026-11-22T10:00:00Z', source: 'shopify', sourceId: `r-${amount}`, dedupeKey: `order_refunded:r-${amount}`, ids: {}, policy: 'hold', commerce: { order_id: ORDER, total: amount, currency: 'USD' } });
const cancel = candidate({ name: 'order_cancelled', at: '2026-11-22T10:00:00Z', source: 'shopify', sourceId: 'c1', dedupeKey: `order_cancelled:${ORDER}`, ids: { email: EMAIL, shopify_customer_id: SHOPIFY_ID }, links: true, policy: 'hold', commerce: { order_id: ORDER, total: 100, currency: 'USD' } });

/** The review's sequence, as units of work: purchase held, hold ends, store's order, then refund + cancellation. */
type Step = (stage: StateStage) => StateResult;
const steps = (refundAmount: number): Step[] => [
  (s) => s.apply([ident, appOrder], T),
  (s) => s.expire(T + 61_000),
  (s) => s.apply([shopOrder], T + 90_000),
  (s) => s.apply([refund(refundAmount), cancel], LATER),
  (s) => s.expire(LATER + DAY + 1000),
];

const events = (rs: StateResult[]) => rs.flatMap((r) => r.emit).filter((e) => e.event.kind === 'event').map((e) => `${e.key} ${e.event.name} ${e.event.commerce?.order_id}`);
const rollups = (rs: StateResult[]) => rs.flatMap((r) => r.emit).map((e) => e.event.attributes).filter((a) => a['orders_count'] !== undefined)
  .map((a) => [a['orders_count'], a['lifetime_value'], a['cancelled_orders_count']]);

function expectFixed(rs: StateResult[], ltvAfterRefund: number): void {
  expect(events(rs)).toEqual([`${CUS} order_completed #1001`, `${CUS} order_refunded ${ORDER}`, `${CUS} order_cancelled ${ORDER}`]);
  expect(rs.flatMap((r) => r.emit).find((e) => e.event.name === 'order_refunded')!.event.customer_id).toBe(CUS);
  expect(rollups(rs)).toEqual([[1, 100, undefined], [1, ltvAfterRefund, undefined], [0, ltvAfterRefund, 1]]);
  // Only the store's copy of the purchase is dropped; nothing waits for, or expires as, an unknown order.
  expect(rs.flatMap((r) => r.drops)).toEqual([{ reason: 'duplicate', event_name: 'order_completed', source: 'shopify', detail: 'sent_under_other_id_form' }]);
  expect(rs.flatMap((r) => r.held).filter((h) => h.key === null)).toEqual([]);
}

describe('a purchase sent under its order name, refunded and cancelled by the store\'s numeric id', () => {
  it('in memory: the refund goes to the buyer and comes off lifetime_value; the cancellation takes the order off orders_count', () => {
    const stage = createStateStage(config());
    const rs = steps(100).map((step) => step(stage));
    expectFixed(rs, 0);
    expect(stage.stores.rollup.get(CUS)).toMatchObject({ oc: 0, ltv: 0, cc: 1 });
    // The store's order taught the alias, in the ledger's changelog topic.
    expect(rs[2]!.changes).toContainEqual({ topic: 'journey', key: `oa:${ORDER}`, value: `${T + 90_000};#1001` });
  });

  it('a partial refund takes only its amount; a second cancellation counts nothing', () => {
    const stage = createStateStage(config());
    const rs = steps(30).map((step) => step(stage));
    expectFixed(rs, 70);
    const again = stage.apply([{ ...cancel, dedupeKey: 'order_cancelled:again', event: { ...cancel.event, event_id: '01JAGAIN000000000000000000' } }], LATER + 5000);
    expect(rollups([again])).toEqual([]);
  });

  it('a stage restored from the changelog after the store\'s order decides as one that never stopped', () => {
    const live = createStateStage(config());
    const rs = steps(100).map((step) => step(live));
    for (let cut = 2; cut < 5; cut++) {
      const first = createStateStage(config());
      const before = steps(100).slice(0, cut).map((step) => step(first));
      const restored = createStateStage(config());
      restored.restore(before.flatMap((r) => r.changes));
      const after = steps(100).slice(cut).map((step) => step(restored));
      expect(events([...before, ...after]), `cut ${cut}`).toEqual(events(rs));
      expect(rollups([...before, ...after]), `cut ${cut}`).toEqual(rollups(rs));
      expect(rollups([...before, ...after]), `cut ${cut}`).toEqual([[1, 100, undefined], [1, 0, undefined], [0, 0, 1]]);
      expect(restored.stores.rollup.get(CUS), `cut ${cut}`).toEqual(live.stores.rollup.get(CUS));
      expect(restored.stores.ledger.get(ORDER), `cut ${cut}`).toEqual(live.stores.ledger.get(ORDER));
    }
  });

  it('the alias expires with its entry, as a tombstone', () => {
    const stage = createStateStage(config());
    steps(30).map((step) => step(stage));
    expect(stage.stores.ledger.get(ORDER)).toMatchObject({ p: CUS, v: 100, r: 30, x: 1 });
    const gone = stage.expire(LATER + config().guardWindowMs + 1);
    expect(gone.changes).toEqual(expect.arrayContaining([
      { topic: 'journey', key: 'ol:#1001', value: null },
      { topic: 'journey', key: `oa:${ORDER}`, value: null },
    ]));
    expect(stage.stores.ledger.get(ORDER)).toBeUndefined();
  });
});

describe('the same on local disk', () => {
  const { open, newDir } = tempLocalStates('order-forms-test-');
  async function diskStage(dir: string): Promise<{ stage: StateStage; local: LocalState }> {
    const local = await LocalState.open(createDiskStoreConfig({ dir }));
    open.push(local);
    const cfg = config();
    return { stage: createStateStage(cfg, createStateStores(cfg, local), local), local };
  }
  async function run(stage: StateStage, list: Step[]): Promise<StateResult[]> {
    const out: StateResult[] = [];
    for (const step of list) {
      out.push(step(stage));
      await stage.commit();
    }
    return out;
  }

  it('decides as in memory, also when reopened from disk after the store\'s order', async () => {
    const mem = createStateStage(config());
    const memory = steps(30).map((step) => step(mem));
    const onDisk = await diskStage(newDir());
    const rs = await run(onDisk.stage, steps(30));
    expectFixed(rs, 70);
    expect(rs.map((r) => r.changes)).toEqual(memory.map((r) => r.changes));

    const dir = newDir();
    const first = await diskStage(dir);
    const before = await run(first.stage, steps(30).slice(0, 3));
    await first.local.close();
    const reopened = await diskStage(dir);
    await reopened.local.load(Object.values(reopened.stage.stores));
    const after = await run(reopened.stage, steps(30).slice(3));
    expectFixed([...before, ...after], 70);
    expect(reopened.stage.stores.rollup.get(CUS)).toMatchObject({ oc: 0, ltv: 70, cc: 1 });
  });
});

describe('OrderLedger aliases', () => {
  it('restores an alias whose order form holds a semicolon, from the changelog and from the local store', () => {
    const a = new OrderLedger({ windowMs: DAY });
    a.beginBatch();
    a.recordPurchase('#10;01', CUS, undefined, 10, 'USD', 1000);
    a.linkForms('42', ['10;01', '#10;01'], 2000);
    const changes = a.takeChanges();
    const b = new OrderLedger({ windowMs: DAY });
    b.restore(changes);
    const c = new OrderLedger({ windowMs: DAY });
    c.restoreLocal(changes.map((r) => [r.key, r.value as string]));
    for (const l of [a, b, c]) expect(l.get('42')).toMatchObject({ p: CUS, v: 10 });
    expect(changes).toContainEqual({ topic: 'journey', key: 'oa:42', value: '2000;#10;01' });
  });

  it('an order with its own entry gets no alias; a purchase by the numeric id after the alias is the same order', () => {
    const l = new OrderLedger({ windowMs: DAY });
    l.beginBatch();
    l.recordPurchase('7', CUS, undefined, 10, 'USD', 1000);
    l.recordPurchase('#7', CUS, undefined, 10, 'USD', 1000);
    l.linkForms('7', ['#7'], 2000);
    expect(l.takeChanges().map((r) => r.key)).toEqual(['ol:7', 'ol:#7']);
    l.recordPurchase('#8', CUS, undefined, 20, 'USD', 1000);
    l.linkForms('8', ['#8'], 2000);
    l.recordPurchase('8', 'someone_else', undefined, 20, 'USD', 3000);
    expect(l.get('8')).toMatchObject({ p: CUS, v: 20 });
    expect(l.takeChanges().map((r) => r.key)).toEqual(['ol:#8', 'oa:8']);
  });
});
