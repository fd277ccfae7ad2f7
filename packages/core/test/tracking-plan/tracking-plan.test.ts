import { describe, expect, it } from 'vitest';
import { parseTrackingPlan, TrackingPlanError, loadTrackingPlan } from '../../src/tracking-plan/tracking-plan.ts';
import { plan, planText } from './repository-plan.ts';

function problemsOf(text: string): readonly string[] {
  try {
    parseTrackingPlan(text, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(TrackingPlanError);
    expect((err as TrackingPlanError).code).toBe('TRACKING_PLAN_INVALID');
    return (err as TrackingPlanError).problems;
  }
  throw new Error('expected the plan to be rejected');
}
const edit = (from: string | RegExp, to: string): string => {
  const text = planText();
  const out = text.replace(from, to);
  if (out === text) throw new Error(`edit did not apply: ${String(from)}`);
  return out;
};

describe('the repository plan', () => {
  it('loads and exposes what the normalizer needs', () => {
    expect(plan.version).toMatch(/^\d{4}\.\d+\.\d+$/);
    expect(plan.tier('order_completed')).toBe(1);
    expect(plan.tier('product_viewed')).toBe(2);
    expect(plan.tier('identify')).toBe(1);
    expect(plan.anonymousPolicy('page_viewed')).toBe('forward');
    expect(plan.anonymousPolicy('added_to_cart')).toBe('hold');
    expect(plan.event('order_completed')?.required).toEqual(['order_id', 'total', 'currency']);
    expect(plan.propertyType('order_completed', 'order_id')).toBe('string');
    expect(plan.propertyType('order_completed', 'subtotal')).toBe('number');
    expect(plan.propertyType('added_to_cart', 'quantity')).toBe('integer');
    expect(plan.dedupeKeyFields('order_completed')).toEqual(['order_id']);
    expect(plan.dedupeKeyFields('checkout_started')).toEqual(['checkout_id']);
    expect(plan.orderGuards).toEqual([
      { after: 'order_completed', suppress: ['checkout_started', 'added_to_cart'], matchOn: ['checkout_id', 'cart_id'], onlyIfOlder: false, onlyCartSnapshots: false },
      { after: 'checkout_started', suppress: ['added_to_cart'], matchOn: ['cart_id'], onlyIfOlder: true, onlyCartSnapshots: true },
    ]);
    expect(plan.botFilter.dropTiers).toEqual([2]);
    // The maintained list (isbot) does the work; the plan adds its own patterns, none by default.
    expect(plan.botFilter.userAgentPatterns).toEqual([]);
    expect(plan.sourceTopic('shopify', 'orders/create')).toBe('order_completed');
    expect(plan.sourceTopic('subscriptions', 'customer/updated')).toBe('identify');
    expect(plan.sourceTopic('shopify', 'products/update')).toBeUndefined();
  });

  it('names the file when it cannot be read', () => {
    expect(() => loadTrackingPlan('/nonexistent/plan.yaml')).toThrow(/\/nonexistent\/plan\.yaml/);
  });
});

describe('plan validation errors name the path', () => {
  it('tier must be 1 or 2', () => {
    expect(problemsOf(edit(/(order_completed:\n(?:.*\n)*?\s+)tier: 1/, '$1tier: 3'))).toContain('events.order_completed.tier must be 1 or 2, got 3');
  });
  it('anonymous must be hold or forward', () => {
    expect(problemsOf(edit(/(product_viewed:\n(?:.*\n)*?\s+)anonymous: forward/, '$1anonymous: maybe'))).toContain('events.product_viewed.anonymous must be hold or forward, got "maybe"');
  });
  it('unknown property type', () => {
    expect(problemsOf(edit('      sku: string\n\n  added_to_cart', '      sku: text\n\n  added_to_cart')))
      .toContain('events.product_viewed.properties.sku must be one of string, number, integer, boolean, currency, email, timestamp, items, got "text"');
  });
  it('a required property without a type', () => {
    expect(problemsOf(edit('required: [order_id, total, currency]', 'required: [order_id, total, currency, affiliation]')))
      .toContain('events.order_completed.required: "affiliation" has no type in events.order_completed.properties');
  });
  it('an alias claimed by two events', () => {
    expect(problemsOf(edit('aliases: [subscription_canceled]', 'aliases: [subscription_canceled, purchase]')))
      .toContain('events.subscription_cancelled.aliases: "purchase" already means order_completed');
  });
  it('an alias that folds onto another event name', () => {
    expect(problemsOf(edit('aliases: [subscription_canceled]', 'aliases: [subscription_canceled, "Order Completed"]')))
      .toContain('events.subscription_cancelled.aliases: "Order Completed" already means order_completed');
  });
  it('a commerce field with the wrong type', () => {
    expect(problemsOf(edit('      total: number\n      currency: currency\n    dedupe_key', '      total: string\n      currency: currency\n    dedupe_key')))
      .toContain('events.order_completed: total must be number or integer (it is a commerce field of the canonical event), got string');
  });
  it('dedupe_key naming an optional property', () => {
    expect(problemsOf(edit('dedupe_key: [order_id]', 'dedupe_key: [cart_id]')))
      .toContain('events.order_completed.dedupe_key: "cart_id" must be a required property, or the key could be empty');
  });
  it('order guards naming unknown events and properties', () => {
    const problems = problemsOf(edit('suppress: [checkout_started, added_to_cart]\n    match_on: [checkout_id, cart_id]', 'suppress: [checkout_started, cart_abandoned]\n    match_on: [checkout_id, basket_id]'));
    expect(problems).toContain('order_guards[0].suppress: "cart_abandoned" is not an event of the plan');
    expect(problems).toContain('order_guards[0].match_on: "basket_id" is not a property of order_completed');
  });
  it('an order guard matching on a property the state stage cannot match is rejected here, not at the normalizer\'s start', () => {
    // order_id is a property of every event involved, so only the match_on check can catch it.
    const text = edit('match_on: [checkout_id, cart_id]', 'match_on: [checkout_id, cart_id, order_id]');
    expect(problemsOf(text)).toEqual(['order_guards[0].match_on: "order_id" cannot be matched (an order guard matches on checkout_id or cart_id)']);
  });
  it('source topics must name plan events', () => {
    expect(problemsOf(edit('orders/create: order_completed', 'orders/create: order_done'))).toContain('source_topics.shopify.orders/create must name an event of the plan or identify, got "order_done"');
  });
  it('unknown keys (typos) are reported', () => {
    expect(problemsOf(edit('    profile_rollup: true', '    profile_rolup: true'))).toContain(
      'events.order_completed.profile_rolup is not a known setting (expected one of description, tier, aliases, anonymous, required, optional, properties, property_aliases, property_fallbacks, dedupe_key, profile_rollup)',
    );
  });
  it('event names must be snake_case', () => {
    expect(problemsOf(edit('  screen_viewed:', '  ScreenViewed:'))).toContain('events.ScreenViewed: event names must be snake_case (it folds to screen_viewed)');
  });
  it('bad bot regex and bad tiers', () => {
    const problems = problemsOf(edit('drop_tiers: [2]', 'drop_tiers: [0]').replace('user_agent_patterns: []', 'user_agent_patterns: ["crawler", "/([a-z/"]'));
    expect(problems).toContain('bot_filter.drop_tiers[0] must be 1 or 2, got 0');
    expect(problems.some((p) => p.startsWith('bot_filter.user_agent_patterns[1] is not a valid regular expression'))).toBe(true);
  });
  it('every problem is reported at once', () => {
    const text = edit(/(order_completed:\n(?:.*\n)*?\s+)tier: 1/, '$1tier: 3').replace('unplanned_events: flag', 'unplanned_events: maybe');
    expect(problemsOf(text)).toEqual(['unplanned_events must be flag or block, got "maybe"', 'events.order_completed.tier must be 1 or 2, got 3']);
  });
  it('invalid YAML, duplicate keys and a missing version', () => {
    expect(problemsOf('events: [')[0]).toMatch(/^not valid YAML/);
    expect(problemsOf('version: "1"\nversion: "2"\n')[0]).toMatch(/^not valid YAML.*[Uu]nique/s);
    expect(problemsOf(planText().replace(/^version: .*$/m, ''))).toContain('version must be a non-empty string (quote it: "2026.11.1")');
  });
});
