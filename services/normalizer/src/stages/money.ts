import { minorDigits } from './currencies.ts';

/**
 * Money is added and subtracted as whole minor units of its currency (cents, yen, fils), never as
 * binary fractions: 0.1 + 0.2 is 30 cents, and a yen total never grows decimals. Amounts enter and
 * leave as the decimal numbers events carry; the stores keep those numbers, always exact to the
 * currency's decimals, so records written before this change still read.
 */

/** An amount as whole minor units of `currency`, rounded half away from zero to its decimals. */
export function toMinor(amount: number, currency: string | null | undefined): number {
  if (!Number.isFinite(amount)) return 0;
  const digits = minorDigits(currency);
  const text = String(Math.abs(amount));
  // Shift the decimal point in the text, not by multiplying: 1.005 * 100 is 100.49999999999999.
  const shifted = text.includes('e') ? Math.abs(amount) * 10 ** digits : Number(`${text}e${digits}`);
  const minor = Math.round(shifted);
  return amount < 0 ? -minor : minor;
}

/** Whole minor units back to the decimal amount (the nearest double, which prints exactly). */
export function fromMinor(minor: number, currency: string | null | undefined): number {
  // `|| 0`: never -0.
  return minor / 10 ** minorDigits(currency) || 0;
}

/** a + b, exact in `currency`'s minor units. */
export function addMoney(a: number, b: number, currency: string | null | undefined): number {
  return fromMinor(toMinor(a, currency) + toMinor(b, currency), currency);
}

/** a - b, exact in `currency`'s minor units. */
export function subtractMoney(a: number, b: number, currency: string | null | undefined): number {
  return fromMinor(toMinor(a, currency) - toMinor(b, currency), currency);
}
