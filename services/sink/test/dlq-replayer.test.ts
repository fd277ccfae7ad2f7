import { describe, expect, it } from 'vitest';
import { matchesFilter } from '../src/dlq-replayer.ts';

const at = Date.parse('2026-11-20T10:00:00Z');
const letter = { reason: 'parked', event_name: 'order_completed', dead_lettered_at: at };

describe('matchesFilter', () => {
  it('matches everything without a filter', () => {
    expect(matchesFilter(letter, {})).toBe(true);
  });

  it('filters by reason and event name', () => {
    expect(matchesFilter(letter, { reason: 'parked', event: 'order_completed' })).toBe(true);
    expect(matchesFilter(letter, { reason: 'rejected' })).toBe(false);
    expect(matchesFilter(letter, { event: 'product_viewed' })).toBe(false);
  });

  it('takes since as inclusive and until as exclusive', () => {
    expect(matchesFilter(letter, { since: at })).toBe(true);
    expect(matchesFilter(letter, { since: at + 1 })).toBe(false);
    expect(matchesFilter(letter, { until: at })).toBe(false);
    expect(matchesFilter(letter, { since: at - 1000, until: at + 1 })).toBe(true);
  });
});
