import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RULE_SPECS, InvalidShareEvaluator, invalidShare, matches, nextAlertState, ruleFromSpec,
  type AlertRule, type Observation, type Verdict,
} from '../src/alert-rules.ts';

const checkout = ruleFromSpec({ name: 'checkout', events: ['checkout_started', 'order_completed'], threshold: 0.01, window_ms: 900_000, min_events: 20 });

function obs(at: number, verdict: Verdict, event: string | null = 'checkout_started', source = 'shopify', tier = '1'): Observation {
  return { at, verdict, event, source, tier };
}

function feed(ev: InvalidShareEvaluator, at: number, verdict: Verdict, n: number, event?: string | null): void {
  for (let i = 0; i < n; i++) ev.observe(obs(at, verdict, event), at);
}

describe('invalid share', () => {
  it('counts quarantined and rejected as invalid, canonical and quarantined as the total', () => {
    // A rejected event was canonical first: it is not added to the total again.
    expect(invalidShare({ valid: 97, quarantined: 3, rejected: 2, parked: 50 })).toEqual({ invalid: 5, total: 100, share: 0.05 });
    expect(invalidShare({ valid: 0, quarantined: 0, rejected: 0, parked: 9 })).toEqual({ invalid: 0, total: 0, share: 0 });
    expect(invalidShare({ valid: 0, quarantined: 0, rejected: 3, parked: 0 }).share).toBe(1);
  });
});

describe('rule matching', () => {
  it('filters by event, source and tier; an unnamed quarantined event matches only rules without an event list', () => {
    const perTier = ruleFromSpec({ name: 't1', tiers: [1], group_by: ['tier'], threshold: 0.01, window_ms: 1000 });
    expect(matches(checkout, obs(0, 'valid', 'checkout_started'))).toBe(true);
    expect(matches(checkout, obs(0, 'valid', 'product_viewed'))).toBe(false);
    expect(matches(checkout, obs(0, 'quarantined', null))).toBe(false);
    expect(matches(perTier, obs(0, 'quarantined', null, 'app', '1'))).toBe(true);
    expect(matches(perTier, obs(0, 'quarantined', null, 'app', '2'))).toBe(false);
  });

  it('defaults: the checkout-and-purchase rule at 1% over 15 minutes, and a per-source-tier rule', () => {
    const rules = DEFAULT_RULE_SPECS.map((s) => ruleFromSpec(s));
    expect(rules[0]).toMatchObject({ name: 'checkout-and-purchase', events: ['checkout_started', 'order_completed'], threshold: 0.01, windowMs: 900_000, minEvents: 20, groupBy: [] });
    expect(rules[0]!.clearBelow).toBeCloseTo(0.008);
    expect(rules[1]).toMatchObject({ name: 'per-source-tier', groupBy: ['source', 'tier'], events: null });
  });
});

describe('alert state machine', () => {
  const rule: AlertRule = { ...checkout, minEvents: 20 };
  it('fires only above the threshold with at least min_events, and clears at or below clear_below', () => {
    expect(nextAlertState('ok', { invalid: 1, total: 100, share: 0.01 }, rule)).toBe('ok'); // not above 1%
    expect(nextAlertState('ok', { invalid: 2, total: 100, share: 0.02 }, rule)).toBe('firing');
    expect(nextAlertState('ok', { invalid: 5, total: 19, share: 5 / 19 }, rule)).toBe('ok'); // too few events
    expect(nextAlertState('firing', { invalid: 9, total: 1000, share: 0.009 }, rule)).toBe('firing'); // inside the hysteresis band
    expect(nextAlertState('firing', { invalid: 8, total: 1000, share: 0.008 }, rule)).toBe('ok');
  });

  it('a burst over 1% fires once, stays firing, and resolves once when the rate falls back', () => {
    const ev = new InvalidShareEvaluator([checkout]);
    let t = 1_000_000;
    feed(ev, t, 'valid', 100);
    expect(ev.evaluate(t).transitions).toEqual([]);

    t += 1_000;
    feed(ev, t, 'quarantined', 5); // 5 / 105 = 4.8%
    const fired = ev.evaluate(t);
    expect(fired.transitions).toHaveLength(1);
    expect(fired.transitions[0]).toMatchObject({ rule: 'checkout', group: 'all', state: 'firing', invalid: 5, total: 105 });

    // Still bad, more of it: no second firing.
    for (let i = 0; i < 5; i++) {
      t += 1_000;
      feed(ev, t, 'quarantined', 1);
      feed(ev, t, 'valid', 10);
      const r = ev.evaluate(t);
      expect(r.transitions).toEqual([]);
      expect(r.snapshots[0]!.state).toBe('firing');
    }
    // 10 invalid of 160: dilute to 0.9% (inside the band) -> still firing; below 0.8% -> resolved.
    t += 1_000;
    feed(ev, t, 'valid', 950); // 10 / 1110 = 0.9%
    expect(ev.evaluate(t)).toMatchObject({ transitions: [], snapshots: [{ state: 'firing', total: 1110 }] });
    t += 1_000;
    feed(ev, t, 'valid', 300); // 10 / 1410 = 0.71%
    const resolved = ev.evaluate(t);
    expect(resolved.transitions).toEqual([expect.objectContaining({ state: 'resolved', invalid: 10, total: 1410 })]);
    expect(ev.evaluate(t + 1).transitions).toEqual([]);
  });

  it('rejections from Customer.io count as invalid, parked events do not', () => {
    const ev = new InvalidShareEvaluator([checkout]);
    feed(ev, 0, 'valid', 100);
    feed(ev, 0, 'parked', 50);
    expect(ev.evaluate(0).transitions).toEqual([]);
    feed(ev, 0, 'rejected', 2);
    const r = ev.evaluate(0);
    expect(r.transitions).toEqual([expect.objectContaining({ state: 'firing', invalid: 2, total: 100, share: 0.02 })]);
    expect(r.snapshots[0]!.parked).toBe(50);
  });

  it('min_events holds back a burst in a quiet window', () => {
    const ev = new InvalidShareEvaluator([checkout]);
    feed(ev, 0, 'valid', 10);
    feed(ev, 0, 'quarantined', 9); // 47% of 19 events: too few to judge
    expect(ev.evaluate(0).transitions).toEqual([]);
    feed(ev, 0, 'valid', 1); // 20 events
    expect(ev.evaluate(0).transitions).toEqual([expect.objectContaining({ state: 'firing' })]);
  });

  it('resolves when the bad events age out of the window, even with no new traffic', () => {
    const rule = ruleFromSpec({ name: 'short', threshold: 0.01, window_ms: 60_000, buckets: 6, min_events: 1 });
    const ev = new InvalidShareEvaluator([rule]);
    feed(ev, 0, 'quarantined', 3);
    expect(ev.evaluate(0).transitions).toMatchObject([{ state: 'firing' }]);
    expect(ev.evaluate(59_999).transitions).toEqual([]);
    expect(ev.evaluate(60_000).transitions).toMatchObject([{ state: 'resolved', invalid: 0, total: 0 }]);
  });

  it('keeps one series per group for grouped rules', () => {
    const rule = ruleFromSpec({ name: 'pst', group_by: ['source', 'tier'], threshold: 0.01, window_ms: 60_000, min_events: 10 });
    const ev = new InvalidShareEvaluator([rule]);
    for (let i = 0; i < 20; i++) ev.observe(obs(0, 'valid', 'page_viewed', 'app', '2'), 0);
    for (let i = 0; i < 20; i++) ev.observe(obs(0, 'valid', 'order_completed', 'shopify', '1'), 0);
    ev.observe(obs(0, 'quarantined', null, 'shopify', 'unknown'), 0);
    for (let i = 0; i < 5; i++) ev.observe(obs(0, 'quarantined', 'order_completed', 'shopify', '1'), 0);
    const r = ev.evaluate(0);
    expect(r.snapshots.map((s) => [s.group, s.state]).sort()).toEqual([
      ['source=app,tier=2', 'ok'], ['source=shopify,tier=1', 'firing'], ['source=shopify,tier=unknown', 'ok'],
    ]);
    expect(r.transitions).toMatchObject([{ group: 'source=shopify,tier=1', state: 'firing' }]);
  });
});
