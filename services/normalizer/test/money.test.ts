// Issue #17 (money): amounts are added in whole minor units of their currency, decimals from Intl.
import { describe, expect, it } from 'vitest';
import { isSupportedCurrency, minorDigits } from '../src/stages/currencies.ts';
import { addMoney, fromMinor, subtractMoney, toMinor } from '../src/stages/money.ts';

describe('currencies from Intl', () => {
  it('knows each currency\'s minor unit: JPY 0, USD 2, KWD 3', () => {
    expect([minorDigits('JPY'), minorDigits('USD'), minorDigits('KWD'), minorDigits('BHD')]).toEqual([0, 2, 3, 3]);
  });
  it('money with no currency keeps two decimals', () => {
    expect(minorDigits(null)).toBe(2);
  });
  it.each(['CLF', 'USN', 'BOV', 'XAU', 'XAG', 'XTS', 'XXX'])('refuses %s (a fund code, metal or non-currency Intl leaves out)', (code) => {
    expect(isSupportedCurrency(code)).toBe(false);
  });
  it('accepts every code Intl lists', () => {
    expect(Intl.supportedValuesOf('currency').every(isSupportedCurrency)).toBe(true);
  });
});

describe('minor units', () => {
  it('shifts the decimal point exactly (1.005 is 101 cents, not 100)', () => {
    expect(toMinor(1.005, 'USD')).toBe(101);
    expect(toMinor(118.4, 'USD')).toBe(11840);
    expect(toMinor(1500, 'JPY')).toBe(1500);
    expect(toMinor(1.234, 'KWD')).toBe(1234);
    expect(toMinor(-1.005, 'USD')).toBe(-101);
  });
  it('rounds to the currency\'s decimals', () => {
    expect(toMinor(1500.4, 'JPY')).toBe(1500);
    expect(toMinor(0.0004, 'KWD')).toBe(0);
  });
  it('converts back without binary residue, and never to -0', () => {
    expect(fromMinor(30, 'USD')).toBe(0.3);
    expect(fromMinor(1003, 'KWD')).toBe(1.003);
    expect(Object.is(fromMinor(-0, 'USD'), 0)).toBe(true);
  });
});

describe('sums and differences are exact per currency', () => {
  it('USD: 0.1 + 0.2 is 0.3, 0.3 - 0.1 is 0.2', () => {
    expect(addMoney(0.1, 0.2, 'USD')).toBe(0.3);
    expect(subtractMoney(0.3, 0.1, 'USD')).toBe(0.2);
  });
  it('KWD: three decimals kept (1.001 + 0.002 is 1.003), not rounded to two', () => {
    expect(addMoney(1.001, 0.002, 'KWD')).toBe(1.003);
    expect(subtractMoney(10.005, 0.001, 'KWD')).toBe(10.004);
  });
  it('JPY: whole yen', () => {
    expect(addMoney(1500, 2980, 'JPY')).toBe(4480);
    expect(subtractMoney(4480, 480, 'JPY')).toBe(4000);
  });
  it('a thousand additions of 0.1 are 100, exactly', () => {
    let sum = 0;
    for (let i = 0; i < 1000; i++) sum = addMoney(sum, 0.1, 'USD');
    expect(sum).toBe(100);
  });
});
