import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deterministicUlid } from '../src/stages/deterministic-ulid.ts';

const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

describe('deterministicUlid', () => {
  it('is a valid ULID, a pure function of the dedupe key', () => {
    const a = deterministicUlid('order_completed:5904832711894301745');
    expect(a).toMatch(ULID);
    expect(a).toHaveLength(26);
    expect(deterministicUlid('order_completed:5904832711894301745')).toBe(a);
  });
  it('ignores the event time: two sources reporting one order at different times share the id', () => {
    const shopify = deterministicUlid('order_completed:5904832711894301745', Date.parse('2026-11-20T19:03:11Z'));
    const app = deterministicUlid('order_completed:5904832711894301745', Date.parse('2026-11-20T19:03:12Z'));
    expect(app).toBe(shopify);
  });
  it('never changes from one release to the next: Customer.io drops a replayed event by its id', () => {
    // Ids the releases before this one gave these keys.
    expect(deterministicUlid('order_completed:5904832711894301745')).toBe('3W9AZGVK3ST4FZKYZRP4M0FFWC');
    expect(deterministicUlid('app:m-0001')).toBe('4ZJW4ZH43EBXCS1PMQFKARM0GQ');
    expect(deterministicUlid('')).toBe('7MS2CPZE94WERC8GMRZGE196QV');
    expect(deterministicUlid('é🙂')).toBe('3JF4PZ03X0EE1FADXFD99GAJVA');
  });
  it('differs for different keys', () => {
    expect(deterministicUlid('app:m-0001')).not.toBe(deterministicUlid('app:m-0002'));
  });
  it('property: always a valid ULID, equal exactly when the keys are equal', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => {
      expect(deterministicUlid(a)).toMatch(ULID);
      expect(deterministicUlid(a) === deterministicUlid(b)).toBe(a === b);
    }));
  });
});
