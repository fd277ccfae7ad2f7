import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IndexedRecord } from '../src/trace/indexed-record.ts';
import { resolvePerson } from '../src/trace/person-resolver.ts';
import { buildStory } from '../src/trace/story.ts';
import { TraceIndex } from '../src/trace/trace-index.ts';
import { audit, inBatches, journey, journeyStory, receipt, stranger } from './trace-fixtures.ts';

const dirs: string[] = [];
const open: TraceIndex[] = [];
afterEach(async () => {
  for (const i of open.splice(0)) await i.close().catch(() => undefined);
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function freshIndex(): Promise<{ index: TraceIndex; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'trace-index-'));
  dirs.push(dir);
  const index = await TraceIndex.open(dir);
  open.push(index);
  return { index, dir };
}

/** As the indexer reads them: the receipts of one batch all at that batch record's offset. */
function indexed(j: ReturnType<typeof journey>): IndexedRecord[] {
  return [
    ...j.audits.map((audit, i): IndexedRecord => ({ kind: 'audit', origin: { partition: 0, offset: String(i) }, audit })),
    ...inBatches(j.receipts, 2).flatMap((b, i) => b.receipts.map((r): IndexedRecord => ({ kind: 'receipt', origin: { partition: 0, offset: String(i) }, receipt: r }))),
  ];
}

describe('TraceIndex', () => {
  it('stores records with their offsets in one batch, and a reopened index resumes from them', async () => {
    const { index, dir } = await freshIndex();
    const j = journey('ann');
    await index.add(indexed(j).slice(0, 3), [{ topic: 'pipeline.audit', partition: 0, offset: '3' }]);
    await index.add([], [{ topic: 'pipeline.audit', partition: 2, offset: '17' }, { topic: 'sink.receipt-batches', partition: 1, offset: '4' }, { topic: 'sink.receipts', partition: 1, offset: '9' }]);
    expect(await index.offsets('pipeline.audit')).toEqual(new Map([[0, '3'], [2, '17']]));
    expect(await index.offsets('sink.receipt-batches')).toEqual(new Map([[1, '4']]));
    expect(await index.offsets('sink.receipts')).toEqual(new Map([[1, '9']]));
    await index.close();
    open.pop();
    const again = await TraceIndex.open(dir, { create: false });
    open.push(again);
    expect(await again.offsets('pipeline.audit')).toEqual(new Map([[0, '3'], [2, '17']]));
    expect(await again.recordIdsOf(j.anon)).toHaveLength(3);
  });

  it('finds records by every identifier they carry, exactly (no prefix matches), emails in any case', async () => {
    const { index } = await freshIndex();
    const j = journey('bob');
    await index.add([...indexed(j), { kind: 'audit', origin: { partition: 0, offset: '99' }, audit: stranger('bob') }], []);
    expect(await index.recordIdsOf('ord-bob')).toHaveLength(3); // the order, its duplicate, its receipt
    expect(await index.recordIdsOf('ord-bob-2')).toHaveLength(1);
    expect(await index.recordIdsOf('ord-b')).toHaveLength(0);
    // Indexed lower-cased: the quarantined record carried the email upper-cased.
    expect(await index.recordIdsOf(j.email)).toHaveLength(4);
    expect(await index.recordIdsOf('msg-bob-7')).toHaveLength(1);
    // A receipt is found by its event id and its customer key.
    const [rid] = await index.recordIdsOf(j.receipts[3]!.event_id);
    expect(rid).toBeDefined();
    expect((await index.records((await index.recordIdsOf(j.receipts[3]!.event_id)))).map((r) => r.kind).sort()).toEqual(['audit', 'receipt']);
  });

  it('keeps every receipt of a batch, though all were read at the batch record\'s one offset', async () => {
    const { index } = await freshIndex();
    const origin = { partition: 0, offset: '7' };
    const batch = ['01JEVA', '01JEVB', '01JEVC'].map((e, i) => receipt(i, e, 'cust-batch'));
    await index.add(batch.map((r): IndexedRecord => ({ kind: 'receipt', origin, receipt: r })), []);
    expect(await index.recordIdsOf('cust-batch')).toHaveLength(3);
    for (const r of batch) expect(await index.recordIdsOf(r.event_id), r.event_id).toHaveLength(1);
  });

  it('keeps one receipt per event and outcome when the sink wrote it twice', async () => {
    const { index } = await freshIndex();
    const r = receipt(1, '01JEVENT', 'cust-dup');
    await index.add([{ kind: 'receipt', origin: { partition: 0, offset: '1' }, receipt: r }], []);
    await index.add([{ kind: 'receipt', origin: { partition: 0, offset: '2' }, receipt: { ...r, answered_at: r.answered_at + 5 } }], []);
    expect(await index.recordIdsOf('cust-dup')).toHaveLength(1);
  });

  it('refuses a second process on the same directory with TRACE_INDEX_LOCKED', async () => {
    const { dir } = await freshIndex();
    await expect(TraceIndex.open(dir)).rejects.toMatchObject({ code: 'TRACE_INDEX_LOCKED' });
  });

  it('does not create a missing directory when asked to read one', async () => {
    const { dir } = await freshIndex();
    await expect(TraceIndex.open(join(dir, 'nope'), { create: false })).rejects.toMatchObject({ code: 'TRACE_INDEX_OPEN_FAILED' });
  });
});

describe('resolvePerson', () => {
  it('from any identifier reaches every record of the person and none of a stranger', async () => {
    const { index } = await freshIndex();
    const j = journey('cat');
    await index.add([...indexed(j), { kind: 'audit', origin: { partition: 0, offset: '99' }, audit: stranger('cat') }], []);
    const all = new Set((await resolvePerson(index, j.email)).records.map((r) => JSON.stringify(r)));
    expect(all.size).toBe(j.audits.length + j.receipts.length);
    // The anonymous id alone: the held record names no customer, the identify links it to her.
    for (const id of [j.anon, ` ${j.email.toUpperCase()} `, j.customer, 'ord-cat', 'msg-cat-7', j.receipts[2]!.event_id, 'shop-cat']) {
      const got = await resolvePerson(index, id);
      expect(new Set(got.records.map((r) => JSON.stringify(r))), id).toEqual(all);
      expect(got.truncated).toBe(false);
    }
    expect((await resolvePerson(index, 'nobody@example.com')).records).toEqual([]);
  });

  it('reaches a cart webhook that names only its cart token, through the token her own records carry', async () => {
    const { index } = await freshIndex();
    const j = journey('eve');
    const checkout = audit(20, { source_event: 'Checkout Started', event_name: 'checkout_started', outcome: 'canonical', event_ids: ['01JEVECHECKOUT'], customer_key: j.customer, ids: { customer_id: j.customer, cart_token: 'cart-eve' } });
    const lateCart = audit(21, { source: 'shopify', source_topic: 'raw.shopify', source_event: 'carts/update', event_name: 'added_to_cart', outcome: 'dropped', reasons: ['suppressed_after_purchase'], ids: { cart_token: 'cart-eve' } });
    const otherCart = audit(22, { source: 'shopify', source_topic: 'raw.shopify', source_event: 'carts/update', event_name: 'added_to_cart', outcome: 'dropped', reasons: ['suppressed_after_purchase'], ids: { cart_token: 'cart-someone-else' } });
    await index.add([...indexed(j), ...[checkout, lateCart, otherCart].map((a, i): IndexedRecord => ({ kind: 'audit', origin: { partition: 1, offset: String(i) }, audit: a }))], []);
    const got = (await resolvePerson(index, j.email)).records.flatMap((r) => (r.kind === 'audit' ? [r.audit.source_offset] : []));
    expect(got).toContain('21');
    expect(got).not.toContain('22');
  });

  it('reaches a refund retry that names only the order, and nothing further through it', async () => {
    const { index } = await freshIndex();
    const j = journey('fay');
    const retry = audit(30, { source: 'shopify', source_topic: 'raw.shopify', source_event: 'refunds/create', event_name: 'order_refunded', outcome: 'dropped', reasons: ['duplicate'], ids: { order_id: 'ord-fay' } });
    // Another record naming that order and a stranger's email: found, but the stranger is not followed.
    const odd = audit(31, { source_event: 'Order Completed', event_name: 'order_completed', outcome: 'quarantined', ids: { order_id: 'ord-fay', email: 'stranger@example.com' } });
    const strangers = { ...stranger('fay'), identifiers: [{ type: 'email', value: 'stranger@example.com' }] };
    await index.add([...indexed(j), ...[retry, odd, strangers].map((a, i): IndexedRecord => ({ kind: 'audit', origin: { partition: 2, offset: String(i) }, audit: a }))], []);
    const got = (await resolvePerson(index, j.customer)).records.flatMap((r) => (r.kind === 'audit' ? [r.audit.source_offset] : []));
    expect(got).toEqual(expect.arrayContaining(['30', '31']));
    expect(got).not.toContain('8');
  });

  it('looks up at most maxIdentifiers order ids, and says it stopped', async () => {
    const { index } = await freshIndex();
    // One person naming 5 orders, each with a refund retry that names only its order.
    const orders = [0, 1, 2, 3, 4].map((n) => `ord-gus-${n}`);
    const records = orders.flatMap((o, n) => [
      audit(40 + n, { event_name: 'order_completed', outcome: 'canonical', customer_key: 'cust-gus', ids: { customer_id: 'cust-gus', order_id: o } }),
      audit(50 + n, { source_event: 'refunds/create', event_name: 'order_refunded', outcome: 'dropped', reasons: ['duplicate'], ids: { order_id: o } }),
    ]);
    await index.add(records.map((a, i): IndexedRecord => ({ kind: 'audit', origin: { partition: 3, offset: String(i) }, audit: a })), []);
    const all = await resolvePerson(index, 'cust-gus');
    expect(all.records).toHaveLength(10);
    expect(all.truncated).toBe(false);
    const cut = await resolvePerson(index, 'cust-gus', { maxIdentifiers: 3, maxRecords: 100, rounds: 3 });
    expect(cut.truncated).toBe(true);
    expect(cut.records.filter((r) => r.kind === 'audit' && r.audit.event_name === 'order_refunded')).toHaveLength(3);
  });

  it('stops at its limits and says so', async () => {
    const { index } = await freshIndex();
    const j = journey('dan');
    await index.add(indexed(j), []);
    const got = await resolvePerson(index, j.anon, { maxIdentifiers: 2, maxRecords: 100, rounds: 3 });
    expect(got.truncated).toBe(true);
    expect(got.identifiers).toHaveLength(2);
  });
});

describe('buildStory', () => {
  it('tells each raw record, its verdict and Customer.io\'s answer in time order', () => {
    const j = journey('eve');
    const lines = buildStory(indexed(j));
    const brief = lines.map((l) => [l.stage, l.outcome, l.reason, l.event_id]);
    expect(brief).toEqual(journeyStory(j));
    expect(lines.every((l, i) => i === 0 || lines[i - 1]!.at <= l.at)).toBe(true);
    expect(lines[16]).toMatchObject({ status: 400, event_name: 'added_to_cart', customer_key: j.customer, record: 'events.canonical/1/13' });
    expect(lines[1]).toMatchObject({ source: 'app', source_event: 'Product Viewed', record: 'raw.app/0/1' });
  });
});
