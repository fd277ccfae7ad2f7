/**
 * The time filter of the replay commands, one meaning for all: `--since` inclusive, `--until`
 * exclusive, so consecutive windows (`--since A --until B`, then `--since B --until C`) replay each
 * record exactly once.
 */
export interface TimeWindow {
  /** Epoch ms; records at or after it match. */
  since?: number;
  /** Epoch ms; records before it match, not at it. */
  until?: number;
}

export const TIME_WINDOW_HELP = '--since ISO (inclusive) and --until ISO (exclusive) bound the record time: since <= t < until';

export function inTimeWindow(t: number, w: TimeWindow): boolean {
  if (w.since !== undefined && t < w.since) return false;
  if (w.until !== undefined && t >= w.until) return false;
  return true;
}

/** Parses `--since`/`--until` values (ISO-8601); every problem is returned, none thrown. */
export function parseTimeWindow(values: { since?: string | undefined; until?: string | undefined }): { window: TimeWindow; problems: string[] } {
  const window: TimeWindow = {};
  const problems: string[] = [];
  for (const key of ['since', 'until'] as const) {
    const v = values[key];
    if (v === undefined) continue;
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) problems.push(`--${key} must be an ISO date-time, got "${v}"`);
    else window[key] = ms;
  }
  if (window.since !== undefined && window.until !== undefined && window.since >= window.until) problems.push('--since must be before --until');
  return { window, problems };
}
