/**
 * The one ISO-8601 parser of the pipeline, shared by ingest and the normalizer. A timestamp without
 * an offset is UTC, never the host's zone: `Date.parse('2024-06-01T10:00:00')` depends on TZ, so the
 * same event would get a different time on a machine set to New York.
 */

const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Epoch milliseconds (UTC) of an ISO-8601 date or date-time with any offset or none (then UTC);
 * null when the text is not ISO-8601 or not a real date and time (2024-02-30, 25:00, +24:00).
 * Fractions beyond milliseconds are rounded (half up), carrying into the second, day, month and year.
 */
export function parseIsoTimestamp(text: string): number | null {
  const m = ISO_8601.exec(text.trim());
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((p) => (p === undefined ? 0 : Number(p))) as [
    number, number, number, number, number, number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return null;
  const offset = offsetMinutes(m[8]);
  if (offset === null) return null;
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not. The fields are all valid here,
  // so nothing carries while they are set; the fraction and the offset are added to the epoch
  // milliseconds afterwards, so a carry they cause (.9996 on Dec 31 23:59:59) reaches the year.
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, 0);
  return utc.getTime() + roundedMilliseconds(m[7]) - offset * 60_000;
}

/** The fraction's digits as milliseconds, rounded half up on the decimal digits (no binary-float error: .5005 is 501). */
function roundedMilliseconds(digits: string | undefined): number {
  if (digits === undefined) return 0;
  const padded = digits.padEnd(4, '0');
  return Number(padded.slice(0, 3)) + (padded.charCodeAt(3) >= 0x35 /* '5' */ ? 1 : 0);
}

function offsetMinutes(zone: string | undefined): number | null {
  if (zone === undefined || zone.toUpperCase() === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
  if (hours > 23 || minutes > 59) return null;
  return sign * (hours * 60 + minutes);
}

function daysInMonth(year: number, month: number): number {
  const d = new Date(Date.UTC(2000, month, 0));
  d.setUTCFullYear(year, month, 0);
  return d.getUTCDate();
}
