// Review findings A-C: refund sums read amounts as coercion does, money is held to a sane range,
// and flattening nested properties is bounded by what Customer.io could accept.
import { describe, expect, it } from 'vitest';
import {
  coerceAs, flattenBudget, flattenUntyped, MAX_MONEY, MONEY_FIELDS, toLineItems, toMoney, toNumber, type ScalarValue,
} from '../src/stages/coerce.ts';
import { LosslessNumber, parseJsonLossless } from '../src/stages/json.ts';
import { CIO_LIMITS } from '../src/stages/validate.ts';
import { appInput, codes, failureOf, fixture, okValue, only, pipeline, shopifyInput } from './helpers.ts';

const p = pipeline();

const value = okValue;
const failure = failureOf;

describe('A: a Shopify refund total is the sum of amounts read exactly as coercion reads money', () => {
  const REFUND_AT = Date.parse('2026-11-28T15:20:00Z');
  const refund = (amounts: unknown[]) => {
    const body = JSON.parse(fixture('shopify/refunds-create.json').toString('utf8').replace(/(\d{16,})/g, '"$1"')) as Record<string, unknown>;
    const transactions = amounts.map((amount, i) => ({ id: i + 1, kind: 'refund', status: 'success', amount, currency: 'USD' }));
    return p.process(shopifyInput('refunds/create', { ...body, transactions }, {}, REFUND_AT));
  };
  const total = (amounts: unknown[]) => only(refund(amounts)).event.commerce?.total;

  it('sums every form toNumber accepts, never replacing the total by one amount', () => {
    expect(total(['30.00', '.50'])).toBe(30.5);
    expect(total(['30.00', '1e1'])).toBe(40);
    expect(total(['30.00', '+5'])).toBe(35);
    expect(total(['30.00', ' 5. '])).toBe(35);
    expect(total([30, 0.5])).toBe(30.5);
    expect(total(['0.10', '0.20'])).toBe(0.3);
    expect(total(['20.00', '6.31'])).toBe(26.31);
    // One transaction gives what the same amount gives in a sum.
    expect(total(['.50'])).toBe(0.5);
  });

  it('quarantines a refund with a negative transaction (alone or in a sum), naming it', () => {
    for (const amounts of [['30.00', '-5.00'], ['-5.00']]) {
      const out = refund(amounts);
      expect(codes(out)).toEqual(['invalid_type']);
      const reason = out.quarantine!.reasons[0]!;
      expect(reason.field).toBe('total');
      expect(reason.message).toContain(`transactions[${amounts.length - 1}].amount`);
      expect(reason.message).toMatch(/negative/);
    }
  });

  it('quarantines a refund with an amount that is not money or is out of range, naming the transaction', () => {
    for (const bad of ['12,50', '1234567890123456.78', '1e308', '1e-400']) {
      const out = refund(['30.00', bad]);
      expect(codes(out)).toEqual(['invalid_type']);
      expect(out.quarantine!.reasons[0]).toMatchObject({ field: 'total', message: expect.stringContaining('transactions[1].amount') });
    }
  });

  it('quarantines a sum past the money bound even when each amount is within it', () => {
    const out = refund([String(MAX_MONEY), '1.00']);
    expect(codes(out)).toEqual(['invalid_type']);
    expect(out.quarantine!.reasons[0]!.field).toBe('total');
  });
});

describe('B: money is finite, within MAX_MONEY and never a non-zero amount underflowed to 0', () => {
  it('knows the money fields', () => {
    for (const f of ['price', 'value', 'total', 'subtotal', 'tax', 'discount', 'revenue', 'shipping', 'refunded_to_date']) expect(MONEY_FIELDS.has(f)).toBe(true);
    expect(MONEY_FIELDS.has('quantity')).toBe(false);
  });

  it('refuses magnitudes past MAX_MONEY and underflows, as invalid_type', () => {
    for (const v of ['1e308', new LosslessNumber('1e308'), 1e308, '99999999999999999999.99', '1000000000000.01', '-1e13', '1e-400', new LosslessNumber('5e-400')]) {
      const f = failure(toMoney(v));
      expect(f.code).toBe('invalid_type');
    }
    expect(failure(toMoney('1e308')).message).toMatch(/out of range/);
    expect(failure(toMoney('1e-400')).message).toMatch(/too small/);
  });

  it('keeps amounts in range, zeros and extra decimals as toNumber reads them', () => {
    expect(value(toMoney('99.999'))).toBe(99.999);
    expect(value(toMoney('1000000000000'))).toBe(MAX_MONEY);
    expect(value(toMoney(-MAX_MONEY))).toBe(-MAX_MONEY);
    expect(value(toMoney('0.00'))).toBe(0);
    expect(value(toMoney('0e-400'))).toBe(0);
    expect(value(toMoney('1e-50'))).toBe(1e-50);
    expect(value(toMoney(' 118.40 '))).toBe(118.4);
    // Plain numbers are not money: unchanged.
    expect(value(toNumber('1e308'))).toBe(1e308);
  });

  it('coerceAs holds money fields (number or integer) to the range, other numbers not', () => {
    expect(failure(coerceAs('number', '1e308', true)).code).toBe('invalid_type');
    expect(failure(coerceAs('integer', '2000000000000', true)).code).toBe('invalid_type');
    expect(value(coerceAs('number', '1e308'))).toBe(1e308);
    expect(value(coerceAs('integer', '2000000000000'))).toBe(2e12);
  });

  it('line item prices are money', () => {
    const f = failure(toLineItems([{ sku: 'A', price: '1e308', quantity: 1 }]));
    expect(f).toMatchObject({ code: 'invalid_type', path: '[0].price' });
  });

  const order = (properties: Record<string, unknown>) => p.process(appInput({
    type: 'track', userId: 'cus_48213', messageId: 'm-money', event: 'Order Completed', timestamp: '2026-11-20T19:08:00Z',
    properties: { order_id: '5904832711894301745', currency: 'USD', ...properties },
  }));

  it('quarantines a revenue event whose total is out of range or underflows', () => {
    for (const total of ['1e308', '99999999999999999999.99', '1e-400']) {
      const out = order({ total });
      expect(codes(out)).toEqual(['invalid_type']);
      expect(out.quarantine!.reasons[0]!.field).toBe('total');
    }
    expect(codes(order({ total: '99.99', items: [{ sku: 'A', price: '1e308', quantity: 1 }] }))).toEqual(['invalid_type']);
    expect(only(order({ total: '99.999' })).event.commerce?.total).toBe(99.999);
  });

  it('flags (not quarantines) a browse event with an out-of-range price', () => {
    const c = only(p.process(appInput({
      type: 'track', userId: 'cus_48213', messageId: 'm-view', event: 'Product Viewed', timestamp: '2026-11-20T19:08:00Z',
      properties: { sku: 'TEA-SENCHA-100', price: '1e308' },
    })));
    expect(c.event.commerce?.price).toBeNull();
    expect(c.event.validation_warnings).toContain('invalid_type:price');
  });
});

describe('C: flattening nested properties stops at what Customer.io could accept', () => {
  /** The review's message: one 16,000-character key over ~2,000 short keys (a 31 KB body). */
  const wide = (P = 16_000) => {
    const leaves = Math.floor((32 * 1024 - P) / 8);
    const inner = `{${Array.from({ length: leaves }, (_, i) => `"${i.toString(36)}":0`).join(',')}}`;
    return parseJsonLossless(`{"${'k'.repeat(P)}":${inner}}`) as Record<string, unknown>;
  };
  const keyChars = (out: Record<string, unknown>) => Object.keys(out).reduce((n, k) => n + k.length, 0);

  it('stops early, within its budget, and says so', () => {
    const out: Record<string, ScalarValue> = {};
    const budget = flattenBudget(CIO_LIMITS.eventDataBytes);
    const [[key, val]] = Object.entries(wide()) as [[string, unknown]];
    expect(flattenUntyped(key, val, out, budget)).toBe(false);
    expect(budget.exceeded).toBe(true);
    expect(keyChars(out)).toBeLessThanOrEqual(CIO_LIMITS.eventDataBytes);
    expect(Object.keys(out).length).toBeLessThan(10);
    // Once exceeded, nothing more is flattened.
    expect(flattenUntyped('other', { a: 1 }, out, budget)).toBe(false);
    expect(out).not.toHaveProperty('other.a');
  });

  it('flattens as before within the budget; a repeated key costs nothing', () => {
    const nested = { a: { b: 1, c: [1, 2], d: { e: 'x', f: null } }, g: new LosslessNumber('5904832711894301745') };
    const plain: Record<string, ScalarValue> = {};
    expect(flattenUntyped('p', nested, plain)).toBe(true);
    const bounded: Record<string, ScalarValue> = {};
    const budget = flattenBudget(CIO_LIMITS.eventDataBytes);
    expect(flattenUntyped('p', nested, bounded, budget)).toBe(true);
    expect(bounded).toEqual(plain);
    expect(plain).toEqual({ 'p.a.b': 1, 'p.a.c': '[1,2]', 'p.a.d.e': 'x', 'p.a.d.f': null, 'p.g': '5904832711894301745' });
    const left = budget.remaining;
    flattenUntyped('p', nested, bounded, budget);
    expect(budget.remaining).toBe(left);
    // Exactly filling the budget is not exceeding it.
    const tight = flattenBudget('x'.length + 4);
    expect(flattenUntyped('x', 1, {}, tight)).toBe(true);
    expect(tight).toEqual({ remaining: 0, exceeded: false });
  });

  it('quarantines the review\'s track message as cio_limit_exceeded on data, without building its keys', () => {
    const out = p.process(appInput({
      type: 'track', userId: 'cus_48213', messageId: 'm-wide', event: 'Product Viewed', timestamp: '2026-11-20T19:08:00Z',
      properties: { sku: 'TEA-SENCHA-100', ...wide() },
    }));
    expect(codes(out)).toEqual(['cio_limit_exceeded']);
    expect(out.quarantine!.reasons[0]).toMatchObject({ field: 'data', message: expect.stringContaining('flattened property names') });
  });

  it('stops flattening identify traits too: one cio_limit_exceeded on attributes, not one per leaf', () => {
    const out = p.process(appInput({
      type: 'identify', userId: 'cus_48213', messageId: 'm-wide-traits', timestamp: '2026-11-20T19:08:00Z', traits: wide(),
    }));
    const reasons = out.quarantine?.reasons ?? [];
    expect(reasons.length).toBeGreaterThan(0);
    expect(reasons.length).toBeLessThan(10);
    expect(reasons.every((r) => r.code === 'cio_limit_exceeded')).toBe(true);
    expect(reasons.some((r) => r.field === 'attributes' && /flattened attribute names/.test(r.message))).toBe(true);
  });

  it('leaves a legitimate nested message as it was', () => {
    const c = only(p.process(appInput({
      type: 'track', userId: 'cus_48213', messageId: 'm-nested', event: 'Product Viewed', timestamp: '2026-11-20T19:08:00Z',
      properties: { sku: 'TEA-SENCHA-100', details: { origin: { country: 'JP', farm: 'Uji' }, grades: ['A', 'B'] } },
    })));
    expect(c.event.properties).toMatchObject({ 'details.origin.country': 'JP', 'details.origin.farm': 'Uji', 'details.grades': '["A","B"]' });
  });
});
