import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SEGMENT = fileURLToPath(new URL('../src/segment.ts', import.meta.url));
const RECEIVED_AT = Date.UTC(2024, 5, 1, 10, 0, 30);

/** Ingest's event time for `messages`, computed in a child process whose host zone is `tz`. */
function eventTimesUnder(tz: string, messages: Array<{ message: unknown; sentAt: string | null }>): Array<number | null> {
  const script = `
    const { correctedTimestamp } = await import(${JSON.stringify(SEGMENT)});
    const cases = ${JSON.stringify(messages)};
    process.stdout.write(JSON.stringify(cases.map((c) => correctedTimestamp(c.message, c.sentAt, ${RECEIVED_AT}))));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8' });
  return JSON.parse(out) as Array<number | null>;
}

describe('ingest event time without an offset', () => {
  it('is the same canonical time under TZ=America/New_York as under UTC', () => {
    const cases = [
      // No sentAt: the client's time as is, read as UTC.
      { message: { timestamp: '2024-06-01T10:00:00' }, sentAt: null },
      // Skew correction with both times offset-less: the difference does not depend on the zone either.
      { message: { originalTimestamp: '2024-06-01T09:59:50' }, sentAt: '2024-06-01T10:00:00Z' },
      { message: { timestamp: '2024-06-01T10:00:00.500' }, sentAt: null },
      { message: { timestamp: 'not a date' }, sentAt: null },
    ];
    const utc = eventTimesUnder('UTC', cases);
    const newYork = eventTimesUnder('America/New_York', cases);
    expect(newYork).toEqual(utc);
    expect(utc).toEqual([Date.UTC(2024, 5, 1, 10), RECEIVED_AT - 10_000, Date.UTC(2024, 5, 1, 10, 0, 0, 500), null]);
  });
});
