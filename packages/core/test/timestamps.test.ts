import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseIsoTimestamp } from '../src/timestamps.ts';

const MODULE = fileURLToPath(new URL('../src/timestamps.ts', import.meta.url));
const NO_OFFSET = ['2024-06-01T10:00:00', '2024-06-01 10:00:00.250', '2024-06-01T10:00', '2024-06-01', '2024-01-15T23:30:00'];

/** Parses `inputs` in a child process whose zone is `tz`; also reports Date.parse, to prove the zone took effect. */
function parseUnder(tz: string, inputs: string[]): { parsed: Array<number | null>; dateParse: number } {
  const script = `
    const { parseIsoTimestamp } = await import(${JSON.stringify(MODULE)});
    const inputs = ${JSON.stringify(inputs)};
    process.stdout.write(JSON.stringify({ parsed: inputs.map(parseIsoTimestamp), dateParse: Date.parse('2024-06-01T10:00:00') }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8' });
  return JSON.parse(out) as { parsed: Array<number | null>; dateParse: number };
}

describe('parseIsoTimestamp', () => {
  it('reads a timestamp without an offset as UTC', () => {
    expect(parseIsoTimestamp('2024-06-01T10:00:00')).toBe(Date.UTC(2024, 5, 1, 10));
    expect(parseIsoTimestamp('2024-06-01')).toBe(Date.UTC(2024, 5, 1));
    expect(parseIsoTimestamp(' 2024-06-01 10:00:00.250 ')).toBe(Date.UTC(2024, 5, 1, 10, 0, 0, 250));
  });

  it('applies every offset form', () => {
    const tenUtc = Date.UTC(2024, 5, 1, 10);
    for (const s of ['2024-06-01T10:00:00Z', '2024-06-01T10:00:00z', '2024-06-01T06:00:00-04:00', '2024-06-01T15:30:00+0530', '2024-06-01T12:00:00+02']) {
      expect(parseIsoTimestamp(s), s).toBe(tenUtc);
    }
    expect(parseIsoTimestamp('2024-06-01T10:00:00.123456789Z')).toBe(tenUtc + 123);
  });

  it('refuses what is not ISO-8601 or not a real date and time', () => {
    for (const s of ['', 'yesterday', '2024-02-30T00:00:00Z', '2023-02-29', '2024-06-01T24:00:00Z', '2024-06-01T10:60:00Z', '2024-06-01T10:00:00+24:00', '1717236000', 'Sat, 01 Jun 2024 10:00:00 GMT']) {
      expect(parseIsoTimestamp(s), s).toBeNull();
    }
    expect(parseIsoTimestamp('2024-02-29T00:00:00Z')).toBe(Date.UTC(2024, 1, 29));
  });

  it('keeps years before 100 as written (Date.UTC would move them to the 1900s)', () => {
    expect(new Date(parseIsoTimestamp('0050-03-01T00:00:00Z')!).getUTCFullYear()).toBe(50);
  });

  it('carries a fraction that rounds up to the next second into the year (it came back as Jan 1 of the same year)', () => {
    expect(parseIsoTimestamp('2024-12-31T23:59:59.999999+00:00')).toBe(Date.UTC(2025, 0, 1));
    expect(parseIsoTimestamp('2024-12-31T23:59:59.9996Z')).toBe(Date.UTC(2025, 0, 1));
    expect(parseIsoTimestamp('1999-12-31T23:59:59.9995Z')).toBe(Date.UTC(2000, 0, 1));
    // With offsets: the local wall clock rolls into the next year, UTC may or may not.
    expect(parseIsoTimestamp('2024-12-31T23:59:59.9999+05:30')).toBe(Date.UTC(2024, 11, 31, 18, 30));
    expect(parseIsoTimestamp('2024-12-31T23:59:59.9999-01:00')).toBe(Date.UTC(2025, 0, 1, 1));
    expect(parseIsoTimestamp('2024-12-31T18:59:59.9999-05:00')).toBe(Date.UTC(2025, 0, 1));
    expect(parseIsoTimestamp('2025-01-01T00:59:59.9999+01:00')).toBe(Date.UTC(2025, 0, 1));
  });

  it('carries into the next day and month, leap days included', () => {
    expect(parseIsoTimestamp('2023-06-30T23:59:59.9999Z')).toBe(Date.UTC(2023, 6, 1));
    expect(parseIsoTimestamp('2024-02-28T23:59:59.9995Z')).toBe(Date.UTC(2024, 1, 29));
    expect(parseIsoTimestamp('2024-02-29T23:59:59.9995Z')).toBe(Date.UTC(2024, 2, 1));
    expect(parseIsoTimestamp('2023-02-28T23:59:59.9995Z')).toBe(Date.UTC(2023, 2, 1));
    expect(parseIsoTimestamp('2024-06-01T10:59:59.9995Z')).toBe(Date.UTC(2024, 5, 1, 11));
    expect(parseIsoTimestamp('2024-03-01T00:30:00.0001+01:00')).toBe(Date.UTC(2024, 1, 29, 23, 30));
  });

  it('carries into the next year before year 100 without moving to the 1900s', () => {
    const yearStart = (year: number): number => new Date(0).setUTCFullYear(year, 0, 1);
    expect(parseIsoTimestamp('0099-12-31T23:59:59.9999Z')).toBe(yearStart(100));
    expect(parseIsoTimestamp('0049-12-31T23:59:59.9999Z')).toBe(yearStart(50));
    expect(parseIsoTimestamp('0000-12-31T23:59:59.9999Z')).toBe(yearStart(1));
  });

  it('rounds the fraction half up on its decimal digits, not on a binary float', () => {
    const second = Date.UTC(2024, 5, 1, 10);
    expect(parseIsoTimestamp('2024-06-01T10:00:00.5Z')).toBe(second + 500);
    expect(parseIsoTimestamp('2024-06-01T10:00:00.12Z')).toBe(second + 120);
    expect(parseIsoTimestamp('2024-06-01T10:00:00.0005Z')).toBe(second + 1);
    expect(parseIsoTimestamp('2024-06-01T10:00:00.000499999Z')).toBe(second);
    expect(parseIsoTimestamp('2024-06-01T10:00:00.1234999Z')).toBe(second + 123);
    expect(parseIsoTimestamp('2024-06-01T10:00:00,9994Z')).toBe(second + 999);
    // 0.5005 * 1000 is 500.49999999999994 in binary floating point.
    expect(parseIsoTimestamp('2024-06-01T10:00:00.5005Z')).toBe(second + 501);
  });

  it('gives the same canonical time under TZ=America/New_York as under UTC', () => {
    const utc = parseUnder('UTC', NO_OFFSET);
    const newYork = parseUnder('America/New_York', NO_OFFSET);
    // The host zone really differs in the child: Date.parse reads the same text 4 h apart.
    expect(newYork.dateParse - utc.dateParse).toBe(4 * 3600_000);
    expect(newYork.parsed).toEqual(utc.parsed);
    expect(utc.parsed[0]).toBe(Date.UTC(2024, 5, 1, 10));
    expect(newYork.parsed[4]).toBe(Date.UTC(2024, 0, 15, 23, 30));
  });
});
