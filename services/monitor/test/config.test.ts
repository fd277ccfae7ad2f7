import { describe, expect, it } from 'vitest';
import { ConfigError } from '@cio-pipeline/core';
import { loadMonitorConfig, webhookHost } from '../src/config.ts';

describe('monitor config', () => {
  it('defaults: the two default rules, 5 s evaluation, ops on 9103, no webhook', () => {
    const c = loadMonitorConfig({});
    expect(c.rules.map((r) => r.name)).toEqual(['checkout-and-purchase', 'per-source-tier']);
    expect(c.evalIntervalMs).toBe(5_000);
    expect(c.opsPort).toBe(9103);
    expect(c.webhook.url).toBeNull();
    expect(c.kafka.topics.canonical).toBe('events.canonical');
    expect(c.kafka.groupId).toBe('cio-monitor');
    expect(Object.isFrozen(c.rules[0])).toBe(true);
  });

  it('reads rules from MONITOR_RULES, with the topic prefix and hysteresis applied', () => {
    const c = loadMonitorConfig({
      TOPIC_PREFIX: 't1.',
      MONITOR_HYSTERESIS: '0.5',
      MONITOR_RULES: JSON.stringify([
        { name: 'orders', events: ['order_completed'], sources: ['shopify'], threshold: 0.02, window_ms: 60000, min_events: 5, buckets: 6 },
        { name: 'tier1', tiers: [1], group_by: ['source'], threshold: 0.05, clear_below: 0.01, window_ms: 300000 },
      ]),
      MONITOR_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/SECRET',
    });
    expect(c.kafka.topics.dlq).toBe('t1.sink.dlq');
    expect(c.rules[0]).toMatchObject({ name: 'orders', events: ['order_completed'], sources: ['shopify'], tiers: null, threshold: 0.02, clearBelow: 0.01, windowMs: 60_000, buckets: 6, minEvents: 5 });
    expect(c.rules[1]).toMatchObject({ tiers: ['1'], groupBy: ['source'], clearBelow: 0.01, minEvents: 1, buckets: 15 });
    expect(webhookHost(c.webhook.url)).toBe('hooks.slack.com');
  });

  it('reports every problem at once, without echoing the webhook URL', () => {
    let error: unknown;
    try {
      loadMonitorConfig({
        MONITOR_RULES: JSON.stringify([
          { name: 'a', threshold: 2, window_ms: 10 },
          { name: 'a', threshold: 0.1, window_ms: 1000, group_by: ['country'], colour: 'red' },
          { name: 'b', threshold: 0.1, clear_below: 0.2, window_ms: 1000 },
        ]),
        MONITOR_EVAL_INTERVAL_MS: 'soon',
        MONITOR_WEBHOOK_URL: 'ftp://secret-token@example.com/x',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/MONITOR_RULES\[0\]: threshold must be a number in \[0, 1\)/);
    expect(problems).toMatch(/MONITOR_RULES\[0\]: window_ms must be an integer/);
    expect(problems).toMatch(/MONITOR_RULES\[1\]: unknown key "colour"/);
    expect(problems).toMatch(/MONITOR_RULES\[1\]: group_by must list/);
    expect(problems).toMatch(/MONITOR_RULES\[2\]: clear_below must be <= threshold/);
    expect(problems).toMatch(/MONITOR_EVAL_INTERVAL_MS must be an integer/);
    expect(problems).toMatch(/MONITOR_WEBHOOK_URL must be http\(s\)/);
    expect(problems).not.toContain('secret-token');
  });

  it('rejects MONITOR_RULES that is not a JSON array of rules', () => {
    expect(() => loadMonitorConfig({ MONITOR_RULES: '{' })).toThrow(/MONITOR_RULES is not JSON/);
    expect(() => loadMonitorConfig({ MONITOR_RULES: '[]' })).toThrow(/non-empty JSON array/);
    expect(() => loadMonitorConfig({ MONITOR_RULES: JSON.stringify([{ name: 'x', threshold: 0.1, window_ms: 1000 }, { name: 'x', threshold: 0.1, window_ms: 1000 }]) })).toThrow(/duplicate rule name "x"/);
  });

  it('reconciliation with an orders export: off by default; on with a file, hourly over 14 UTC days; a bad zone or a missing file is a problem', () => {
    expect(loadMonitorConfig({}).reconcile).toBeNull();
    const file = new URL('../../../test/fixtures/shopify/orders-create.json', import.meta.url).pathname;
    expect(loadMonitorConfig({ MONITOR_RECONCILE_ORDERS_FILE: file }).reconcile).toEqual({ ordersFile: file, intervalMs: 3_600_000, days: 14, timeZone: 'UTC' });
    let error: unknown;
    try {
      loadMonitorConfig({ MONITOR_RECONCILE_ORDERS_FILE: '/no/such/orders.jsonl', MONITOR_RECONCILE_TIMEZONE: 'Mars/Olympus', MONITOR_RECONCILE_DAYS: '0' });
    } catch (err) {
      error = err;
    }
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/MONITOR_RECONCILE_ORDERS_FILE \/no\/such\/orders.jsonl does not exist/);
    expect(problems).toMatch(/MONITOR_RECONCILE_TIMEZONE must be an IANA zone/);
    expect(problems).toMatch(/MONITOR_RECONCILE_DAYS must be >= 1/);
  });
});
