/**
 * Invalid-data alert rules and their state machine. Pure: no I/O, time is passed in, so the whole
 * decision (which events count, the share, when an alert fires and clears) is unit-testable.
 *
 * Share = invalid / total over the window, where
 *   invalid = quarantined (by the normalizer) + rejected (by Customer.io, from sink.dlq)
 *   total   = canonical + quarantined.
 * Every raw event becomes exactly one canonical or quarantined record, so canonical + quarantined
 * is every event seen. A rejected event was a canonical one first: adding it to the total again
 * would count it twice and dilute the share. Parked events (a key that kept failing transiently)
 * are not invalid data; they are counted, and shown, but never raise this alert.
 */
import { SlidingWindow } from './sliding-window.ts';

export const VERDICTS = ['valid', 'quarantined', 'rejected', 'parked'] as const;
export type Verdict = (typeof VERDICTS)[number];
const FIELD: Record<Verdict, number> = { valid: 0, quarantined: 1, rejected: 2, parked: 3 };

export const GROUP_DIMENSIONS = ['source', 'tier'] as const;
export type GroupDimension = (typeof GROUP_DIMENSIONS)[number];

/** One verdict about one event, stamped with when it was reached (see monitor.ts). */
export interface Observation {
  at: number;
  source: string;
  /** '1', '2' or 'unknown'. */
  tier: string;
  /** Canonical event name; null when the normalizer quarantined it before naming it. */
  event: string | null;
  verdict: Verdict;
}

export interface AlertRule {
  name: string;
  /** Event names in scope; null = every event (including unnamed quarantined ones). */
  events: readonly string[] | null;
  sources: readonly string[] | null;
  tiers: readonly string[] | null;
  /** One alert series per distinct value of these; empty = one series for the whole rule. */
  groupBy: readonly GroupDimension[];
  /** Fires when the share is above this... */
  threshold: number;
  /** ...and resolves when it is at or below this (hysteresis, so a rate hovering at the threshold doesn't flap). */
  clearBelow: number;
  windowMs: number;
  buckets: number;
  /** Fewer events than this in the window cannot fire: 1 bad event out of 3 is not a 33% problem. */
  minEvents: number;
}

/** Share of the threshold a firing alert must drop below to resolve: 1% fires, 0.8% clears. */
export const DEFAULT_HYSTERESIS = 0.2;
export const DEFAULT_BUCKETS = 15;

/** The rules in the JSON form of MONITOR_RULES (snake_case, optional fields defaulted). */
export interface RuleSpec {
  name: string;
  events?: string[];
  sources?: string[];
  tiers?: number[];
  group_by?: GroupDimension[];
  threshold: number;
  clear_below?: number;
  window_ms: number;
  buckets?: number;
  min_events?: number;
}

export const DEFAULT_RULE_SPECS: readonly RuleSpec[] = [
  // The retention checklist's own example: more than 1% invalid over 15 minutes for checkout and purchase.
  { name: 'checkout-and-purchase', events: ['checkout_started', 'order_completed'], threshold: 0.01, window_ms: 900_000, min_events: 20 },
  // The share per source and tier, for every event: the broad net under the specific rule above.
  { name: 'per-source-tier', group_by: ['source', 'tier'], threshold: 0.01, window_ms: 900_000, min_events: 100 },
];

export function ruleFromSpec(spec: RuleSpec, hysteresis = DEFAULT_HYSTERESIS): AlertRule {
  return {
    name: spec.name,
    events: spec.events ?? null,
    sources: spec.sources ?? null,
    tiers: spec.tiers ? spec.tiers.map(String) : null,
    groupBy: spec.group_by ?? [],
    threshold: spec.threshold,
    clearBelow: spec.clear_below ?? spec.threshold * (1 - hysteresis),
    windowMs: spec.window_ms,
    buckets: spec.buckets ?? DEFAULT_BUCKETS,
    minEvents: spec.min_events ?? 1,
  };
}

export function matches(rule: AlertRule, obs: Observation): boolean {
  if (rule.events && (obs.event === null || !rule.events.includes(obs.event))) return false;
  if (rule.sources && !rule.sources.includes(obs.source)) return false;
  if (rule.tiers && !rule.tiers.includes(obs.tier)) return false;
  return true;
}

/** 'all' for an ungrouped rule, else e.g. 'source=shopify,tier=1'. */
export function groupKey(rule: AlertRule, obs: Pick<Observation, 'source' | 'tier'>): string {
  if (rule.groupBy.length === 0) return 'all';
  return rule.groupBy.map((d) => `${d}=${obs[d]}`).join(',');
}

export interface WindowCounts {
  valid: number;
  quarantined: number;
  rejected: number;
  parked: number;
}

export interface Share {
  invalid: number;
  total: number;
  /** In [0, 1]; 0 for an empty window. */
  share: number;
}

export function invalidShare(c: WindowCounts): Share {
  const invalid = c.quarantined + c.rejected;
  const total = c.valid + c.quarantined;
  // Rejections of events counted as canonical before the window began can outnumber the total.
  const share = total === 0 ? (invalid > 0 ? 1 : 0) : Math.min(1, invalid / total);
  return { invalid, total, share };
}

export type AlertState = 'ok' | 'firing';

/**
 * ok -> firing when the share is above the threshold with at least min_events in the window;
 * firing -> ok when the share is at or below clear_below. Too few events never clears an alert on
 * its own (no evidence of recovery), but as the bad events age out the share falls to 0 and it does.
 */
export function nextAlertState(state: AlertState, share: Share, rule: AlertRule): AlertState {
  if (state === 'ok') return share.total >= rule.minEvents && share.share > rule.threshold ? 'firing' : 'ok';
  return share.share <= rule.clearBelow ? 'ok' : 'firing';
}

export interface SeriesSnapshot extends Share {
  rule: string;
  group: string;
  state: AlertState;
  parked: number;
}

export interface AlertTransition extends Share {
  rule: string;
  group: string;
  state: 'firing' | 'resolved';
  threshold: number;
  clearBelow: number;
  windowMs: number;
  minEvents: number;
  at: number;
}

interface Series {
  rule: AlertRule;
  group: string;
  window: SlidingWindow;
  state: AlertState;
}

/**
 * Holds one sliding window and one alert state per (rule, group). Series appear on first sight
 * and stay (bounded by rules x sources x tiers), so an alert still resolves after traffic stops.
 */
export class InvalidShareEvaluator {
  readonly rules: readonly AlertRule[];
  private readonly series = new Map<string, Series>();

  constructor(rules: readonly AlertRule[]) {
    this.rules = rules;
  }

  /** Counts an observation in every series it belongs to; false when it is outside every window. */
  observe(obs: Observation, now: number): boolean {
    let counted = false;
    for (const rule of this.rules) {
      if (!matches(rule, obs)) continue;
      const group = groupKey(rule, obs);
      const id = `${rule.name}\u0000${group}`;
      let s = this.series.get(id);
      if (!s) {
        s = { rule, group, window: new SlidingWindow({ windowMs: rule.windowMs, buckets: rule.buckets, fields: VERDICTS.length }), state: 'ok' };
        this.series.set(id, s);
      }
      if (s.window.add(Math.min(obs.at, now), FIELD[obs.verdict], 1, now)) counted = true;
    }
    return counted;
  }

  evaluate(now: number): { snapshots: SeriesSnapshot[]; transitions: AlertTransition[] } {
    const snapshots: SeriesSnapshot[] = [];
    const transitions: AlertTransition[] = [];
    for (const s of this.series.values()) {
      const [valid = 0, quarantined = 0, rejected = 0, parked = 0] = s.window.totals(now);
      const share = invalidShare({ valid, quarantined, rejected, parked });
      const next = nextAlertState(s.state, share, s.rule);
      if (next !== s.state) {
        transitions.push({
          ...share, rule: s.rule.name, group: s.group, state: next === 'firing' ? 'firing' : 'resolved',
          threshold: s.rule.threshold, clearBelow: s.rule.clearBelow, windowMs: s.rule.windowMs, minEvents: s.rule.minEvents, at: now,
        });
        s.state = next;
      }
      snapshots.push({ ...share, rule: s.rule.name, group: s.group, state: s.state, parked });
    }
    return { snapshots, transitions };
  }
}
