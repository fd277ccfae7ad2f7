/**
 * The currencies an order can be paid in, and their minor units, both from the runtime's ICU data
 * (`Intl`), so the list and the decimals cannot drift from each other or from CLDR.
 *
 * Intl leaves out ISO-4217's fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), metals and
 * bond units (XAU, XAG, XPD, XPT, XBA-XBD, XUA), testing and no-currency codes (XTS, XXX), and, in
 * the ICU that ships with Node 24, VED. None of them is money a shop charges, so they are refused
 * (`unknown_currency`) rather than counted at a guessed number of decimals.
 */
export const SUPPORTED_CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

export function isSupportedCurrency(code: string): boolean {
  return SUPPORTED_CURRENCIES.has(code);
}

/** Money named with no currency keeps two decimals, the ISO-4217 default. */
const DEFAULT_DIGITS = 2;
const digitsByCode = new Map<string, number>();

/** Decimals of a currency's minor unit: JPY 0, USD 2, KWD 3; a missing or unsupported code gets 2. */
export function minorDigits(code: string | null | undefined): number {
  if (code === null || code === undefined || !SUPPORTED_CURRENCIES.has(code)) return DEFAULT_DIGITS;
  let digits = digitsByCode.get(code);
  if (digits === undefined) {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency: code }).resolvedOptions().maximumFractionDigits ?? DEFAULT_DIGITS;
    digitsByCode.set(code, digits);
  }
  return digits;
}
