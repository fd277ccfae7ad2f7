import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, createRegistry, type Kafka } from '@cio-pipeline/core';
import type { AlertTransition } from '../src/alert-rules.ts';
import { loadMonitorConfig } from '../src/config.ts';
import { createMonitorMetrics } from '../src/metrics.ts';
import { InvalidDataMonitor } from '../src/monitor.ts';
import type { Notifier } from '../src/webhook-notifier.ts';

/** The monitor's reactions to a transition (log, metrics, webhook), without Kafka. */
describe('InvalidDataMonitor.evaluate', () => {
  it('logs error on firing and info on resolved, sets the gauges, counts transitions and notifies', async () => {
    const lines: Array<{ level: string; msg: string; webhookHost?: string }> = [];
    const logger = createLogger('monitor-test', 'info', new Writable({ write(c, _e, cb) { lines.push(JSON.parse(String(c))); cb(); } }));
    const sent: AlertTransition[] = [];
    const notifier: Notifier = { notify: async (t) => { sent.push(t); return true; }, idle: async () => undefined };
    const metrics = createMonitorMetrics();
    let now = 1_000_000;
    const config = loadMonitorConfig({
      MONITOR_RULES: JSON.stringify([{ name: 'checkout', events: ['checkout_started'], threshold: 0.01, window_ms: 60000, min_events: 20 }]),
    });
    const monitor = new InvalidDataMonitor({
      config, kafka: {} as Kafka, registry: createRegistry('http://127.0.0.1:1'), logger, metrics, notifier, now: () => now,
    });
    const gauge = async (name: 'alertFiring' | 'invalidShare'): Promise<number | undefined> =>
      (await metrics[name].get()).values.find((v) => v.labels['rule'] === 'checkout')?.value;
    expect(await gauge('alertFiring')).toBe(0);

    for (let i = 0; i < 50; i++) monitor.observe({ at: now, source: 'shopify', tier: '1', event: 'checkout_started', verdict: 'valid' });
    for (let i = 0; i < 5; i++) monitor.observe({ at: now, source: 'shopify', tier: '1', event: 'checkout_started', verdict: 'quarantined' });
    expect(monitor.evaluate()).toMatchObject([{ state: 'firing' }]);
    expect(monitor.evaluate()).toEqual([]);
    expect(await gauge('alertFiring')).toBe(1);
    expect(await gauge('invalidShare')).toBeCloseTo(5 / 55);
    expect(lines.find((l) => l.msg === 'invalid-data alert firing')?.level).toBe('error');

    now += 60_000; // the burst leaves the window
    expect(monitor.evaluate()).toMatchObject([{ state: 'resolved' }]);
    expect(await gauge('alertFiring')).toBe(0);
    expect(lines.find((l) => l.msg === 'invalid-data alert resolved')?.level).toBe('info');
    expect(sent.map((t) => t.state)).toEqual(['firing', 'resolved']);
    const transitions = (await metrics.alertTransitions.get()).values.map((v) => [v.labels['state'], v.value]);
    expect(transitions).toEqual([['firing', 1], ['resolved', 1]]);
    const events = (await metrics.events.get()).values.map((v) => [v.labels['verdict'], v.value]);
    expect(events).toEqual([['valid', 50], ['quarantined', 5]]);
  });
});

/** A consumer KafkaJS gives up on never consumes again: the monitor must end, not sit unready. */
describe('InvalidDataMonitor and a crashed consumer', () => {
  it('calls onFatal (main.ts exits 1) only for a crash KafkaJS will not restart', async () => {
    type Listener = (e: { payload: Record<string, unknown> }) => void;
    const listeners = new Map<string, Listener>();
    const consumer = {
      events: { CRASH: 'consumer.crash', GROUP_JOIN: 'consumer.group_join' },
      on: (event: string, l: Listener) => listeners.set(event, l),
      connect: async () => undefined, subscribe: async () => undefined, run: async () => undefined, disconnect: async () => undefined,
    };
    const config = loadMonitorConfig({});
    const inputs = [config.kafka.topics.canonical, config.kafka.topics.quarantine, config.kafka.topics.dlq];
    const admin = {
      connect: async () => undefined, disconnect: async () => undefined, listTopics: async () => inputs,
      fetchTopicMetadata: async ({ topics }: { topics: string[] }) => ({ topics: topics.map((name) => ({ name, partitions: [{ partitionId: 0, leader: 0 }] })) }),
      fetchTopicOffsets: async () => [],
    };
    const fatal: unknown[] = [];
    const monitor = new InvalidDataMonitor({
      config, kafka: { admin: () => admin, consumer: () => consumer } as unknown as Kafka, registry: createRegistry('http://127.0.0.1:1'),
      logger: createLogger('monitor-test', 'silent'), metrics: createMonitorMetrics(),
      notifier: { notify: async () => true, idle: async () => undefined }, onFatal: (err) => fatal.push(err),
    });
    await monitor.start();
    listeners.get('consumer.group_join')!({ payload: {} });
    expect(monitor.ready()).toBe(true);
    listeners.get('consumer.crash')!({ payload: { error: new Error('retriable'), restart: true } });
    expect(fatal).toEqual([]);
    expect(monitor.ready()).toBe(false); // until KafkaJS's restart rejoins
    listeners.get('consumer.group_join')!({ payload: {} });
    expect(monitor.ready()).toBe(true);
    const error = new Error('not retriable');
    listeners.get('consumer.crash')!({ payload: { error, restart: false } });
    expect(fatal).toEqual([error]);
    expect(monitor.ready()).toBe(false);
    await monitor.stop({ notifyTimeoutMs: 10 });
  });
});
