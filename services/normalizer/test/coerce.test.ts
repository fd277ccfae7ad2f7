import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  toBoolean, toCurrency, toEmail, toIdString, toInteger, toLineItems, toNumber, toTimestampMs,
} from '../src/stages/coerce.ts';
import { LosslessNumber, parseJsonLossless, UnparseableBodyError } from '../src/stages/json.ts';
import { failureOf, NO_PRODUCT_EXTRAS, okValue } from './helpers.ts';

const value = okValue;
const failure = failureOf;

describe('parseJsonLossless', () => {
  it('keeps unsafe integers as LosslessNumber and safe ones as numbers', () => {
    const v = parseJsonLossless(Buffer.from('{"id":5904832711894301745,"n":1042,"p":"118.40","f":118.40}')) as Record<string, unknown>;
    expect(v['id']).toBeInstanceOf(LosslessNumber);
    expect((v['id'] as LosslessNumber).value).toBe('5904832711894301745');
    expect(v['n']).toBe(1042);
    expect(v['p']).toBe('118.40');
    expect(v['f']).toBe(118.4);
  });
  it('rejects invalid JSON and invalid UTF-8', () => {
    expect(() => parseJsonLossless(Buffer.from('{"a":'))).toThrow(UnparseableBodyError);
    expect(() => parseJsonLossless(Buffer.from([0x7b, 0xff, 0x7d]))).toThrow(/UTF-8/);
  });
});

describe('ids', () => {
  it('numbers, LosslessNumbers and strings become exact strings', () => {
    expect(value(toIdString(3141592))).toBe('3141592');
    expect(value(toIdString(new LosslessNumber('5904832711894301745')))).toBe('5904832711894301745');
    expect(value(toIdString(' cus_48213 '))).toBe('cus_48213');
    expect(failure(toIdString(true)).code).toBe('invalid_type');
    expect(failure(toIdString({})).code).toBe('invalid_type');
    expect(failure(toIdString('  ')).code).toBe('invalid_type');
    expect(failure(toIdString(2 ** 60)).message).toMatch(/lost digits/);
  });

  it('property: any 19-digit id in a JSON body keeps every digit', () => {
    fc.assert(fc.property(fc.bigInt({ min: 10n ** 18n, max: 10n ** 19n - 1n }), (n) => {
      const body = parseJsonLossless(`{"id":${n}}`) as { id: unknown };
      expect(value(toIdString(body.id))).toBe(n.toString());
    }));
  });

  it('property: any safe integer, as a JSON number or string, round-trips', () => {
    fc.assert(fc.property(fc.maxSafeInteger(), (n) => {
      const body = parseJsonLossless(`{"a":${n},"b":"${n}"}`) as { a: unknown; b: unknown };
      expect(value(toIdString(body.a))).toBe(String(n));
      expect(value(toNumber(body.b))).toBe(n);
      expect(value(toInteger(body.b))).toBe(n);
    }));
  });
});

describe('numbers', () => {
  it.each([['99.00', 99], ['118.40', 118.4], [' 24 ', 24], ['-1.5', -1.5], ['1e3', 1000], [24, 24], ['.5', 0.5]])('%j -> %j', (raw, n) => {
    expect(value(toNumber(raw))).toBe(n);
  });
  it.each([['12,50'], ['$5'], [''], ['NaN'], ['Infinity'], [null], [true], [[1]]])('%j is not a number', (raw) => {
    expect(failure(toNumber(raw)).code).toBe('invalid_type');
  });
  it('integers: "2" -> 2, 2.0 -> 2, 2.5 fails', () => {
    expect(value(toInteger('2'))).toBe(2);
    expect(value(toInteger(2.0))).toBe(2);
    expect(value(toInteger('3.0'))).toBe(3);
    expect(failure(toInteger(2.5)).message).toMatch(/integer/);
    expect(failure(toInteger('two')).code).toBe('invalid_type');
  });
  it('property: a number printed with fixed decimals parses back to the same number', () => {
    fc.assert(fc.property(fc.integer({ min: -1e9, max: 1e9 }), fc.integer({ min: 0, max: 4 }), (cents, digits) => {
      const text = (cents / 100).toFixed(digits);
      expect(value(toNumber(text))).toBe(Number(text));
    }));
  });
});

describe('booleans', () => {
  it('accepts booleans, "true"/"false", 1/0', () => {
    expect(value(toBoolean(true))).toBe(true);
    expect(value(toBoolean('FALSE'))).toBe(false);
    expect(value(toBoolean(1))).toBe(true);
    expect(failure(toBoolean('maybe')).code).toBe('invalid_type');
  });
});

describe('currency', () => {
  it('upper-cases known ISO-4217 codes', () => {
    expect(value(toCurrency('usd'))).toBe('USD');
    expect(value(toCurrency(' eur '))).toBe('EUR');
    expect(value(toCurrency('JPY'))).toBe('JPY');
  });
  it.each(['XXX', 'ABC', 'US', 'dollars', 'XTS', 'CLF', 'usn', 'XAU'])('%j is unknown_currency', (raw) => {
    expect(failure(toCurrency(raw)).code).toBe('unknown_currency');
  });
  it('a non-string is invalid_type', () => {
    expect(failure(toCurrency(840)).code).toBe('invalid_type');
  });
});

describe('email', () => {
  it('trims and lower-cases', () => {
    expect(value(toEmail('Maya.Lindqvist@Example.com '))).toBe('maya.lindqvist@example.com');
  });
  it('rejects what is not an address', () => {
    for (const raw of ['maya', 'maya@', '@example.com', 'a b@example.com', 42]) expect(failure(toEmail(raw)).code).toBe('invalid_type');
  });
  it('property: case and surrounding whitespace never matter', () => {
    fc.assert(fc.property(fc.emailAddress(), fc.constantFrom('', ' ', '\t', '  '), (email, pad) => {
      const mixed = email.split('').map((ch, i) => (i % 2 ? ch.toUpperCase() : ch)).join('');
      expect(value(toEmail(pad + mixed + pad))).toBe(value(toEmail(email)));
    }));
  });
});

describe('timestamps', () => {
  const utc = Date.parse('2026-11-20T19:03:11Z');
  it.each([
    ['2026-11-20T14:03:11-05:00', utc],
    ['2026-11-20T19:03:11Z', utc],
    ['2026-11-20T19:03:11+00:00', utc],
    ['2026-11-21T04:33:11+09:30', utc],
    ['2026-11-20T19:03:11', utc], // no offset: UTC, never the host's zone
    ['2026-11-20 19:03:11Z', utc],
    ['2026-11-20T19:03:11.120Z', utc + 120],
    ['2026-11-20T19:03:11.123456Z', utc + 123],
    ['2026-11-20T14:03:11-0500', utc],
    [1795201391, utc], // unix seconds
    ['1795201391', utc],
    [1795201391000, utc], // unix millis
    ['1795201391000', utc],
    [1795201391.5, utc + 500],
    [new LosslessNumber('1795201391000'), utc],
  ])('%j -> epoch ms UTC', (raw, ms) => {
    expect(value(toTimestampMs(raw))).toBe(ms);
  });
  it.each(['yesterday', '2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-11-20T25:00:00Z', '', true, -5])('%j fails', (raw) => {
    expect(failure(toTimestampMs(raw)).code).toBe('invalid_type');
  });
  it('property: any ISO string from Date round-trips, with any whole-minute offset', () => {
    fc.assert(fc.property(
      fc.integer({ min: Date.parse('2000-01-01'), max: Date.parse('2099-12-31') }),
      fc.integer({ min: -14 * 60, max: 14 * 60 }),
      (ms, offset) => {
        expect(value(toTimestampMs(new Date(ms).toISOString()))).toBe(ms);
        const local = new Date(ms + offset * 60_000).toISOString().slice(0, 23);
        const sign = offset < 0 ? '-' : '+';
        const abs = Math.abs(offset);
        const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        expect(value(toTimestampMs(local + zone))).toBe(ms);
      },
    ));
  });
  it('property: unix seconds and millis for the same instant agree', () => {
    fc.assert(fc.property(fc.integer({ min: Date.parse('1975-01-01') / 1000, max: Date.parse('2200-01-01') / 1000 }), (s) => {
      expect(value(toTimestampMs(s))).toBe(s * 1000);
      expect(value(toTimestampMs(s * 1000))).toBe(s * 1000);
    }));
  });
});

describe('line items', () => {
  it('types every field and defaults quantity to 1', () => {
    expect(value(toLineItems([{ sku: 3141592, product_id: new LosslessNumber('8123456789013'), variant_id: null, price: '60.00', title: 'Kyusu' }]))).toEqual([
      { product_id: '8123456789013', variant_id: null, sku: '3141592', name: 'Kyusu', price: 60, quantity: 1, category: null, subscription_eligible: null, ...NO_PRODUCT_EXTRAS },
    ]);
  });
  it('names the failing item and field', () => {
    const f = failure(toLineItems([{ sku: 'a', quantity: 1 }, { sku: 'b', quantity: 1.5 }]));
    expect(f.path).toBe('[1].quantity');
    expect(failure(toLineItems('nope')).code).toBe('invalid_type');
  });
});
