import { describe, expect, it } from 'vitest';
import { inTimeWindow, parseTimeWindow } from '../src/index.ts';

describe('time window', () => {
  it('includes since and excludes until, so consecutive windows take each time once', () => {
    const a = Date.parse('2026-01-01T00:00:00Z');
    const b = Date.parse('2026-01-02T00:00:00Z');
    const c = Date.parse('2026-01-03T00:00:00Z');
    for (const t of [a, a + 1, b - 1, b, c - 1]) {
      const hits = [inTimeWindow(t, { since: a, until: b }), inTimeWindow(t, { since: b, until: c })].filter(Boolean);
      expect(hits, new Date(t).toISOString()).toHaveLength(1);
    }
    expect(inTimeWindow(c, { since: b, until: c })).toBe(false);
    expect(inTimeWindow(0, {})).toBe(true);
  });

  it('parses ISO times and reports every problem', () => {
    expect(parseTimeWindow({ since: '2026-01-01T00:00:00Z' })).toEqual({ window: { since: Date.parse('2026-01-01T00:00:00Z') }, problems: [] });
    expect(parseTimeWindow({ since: 'yesterday', until: 'soon' }).problems).toEqual([
      '--since must be an ISO date-time, got "yesterday"',
      '--until must be an ISO date-time, got "soon"',
    ]);
    expect(parseTimeWindow({ since: '2026-01-02', until: '2026-01-01' }).problems).toEqual(['--since must be before --until']);
  });
});
