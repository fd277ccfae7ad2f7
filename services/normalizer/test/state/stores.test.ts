import { describe, expect, it } from 'vitest';
import { ConfigError } from '@cio-pipeline/core';
import { createStateConfig } from '../../src/state/config.ts';
import { DedupeStore } from '../../src/state/dedupe-store.ts';
import { createStateStage } from '../../src/state/state-stage.ts';
import { arrival, config, plan, shopifyOrder } from './journey.ts';

const DAY = 86_400_000;

describe('dedupe store', () => {
  it('remembers keys for the window and tombstones them after', () => {
    const d = new DedupeStore({ windowMs: 30 * DAY });
    expect(d.checkAndRecord('order_completed:1', 0)).toBe(true);
    expect(d.checkAndRecord('order_completed:2', DAY)).toBe(true);
    expect(d.checkAndRecord('order_completed:1', 30 * DAY - 1)).toBe(false);
    d.beginBatch();
    expect(d.expire(30 * DAY)).toBe(1);
    expect(d.takeChanges()).toEqual([{ topic: 'dedupe', key: 'd:order_completed:1', value: null }]);
    expect(d.checkAndRecord('order_completed:1', 30 * DAY)).toBe(true);
    expect(d.size).toBe(2);
  });

  it('a key seen again after the window (not yet swept) counts as new', () => {
    const d = new DedupeStore({ windowMs: 1000 });
    d.checkAndRecord('k', 0);
    expect(d.checkAndRecord('k', 1000)).toBe(true);
    expect(d.checkAndRecord('k', 1500)).toBe(false);
  });

  it('the stage sweeps dedupe keys in expire()', () => {
    const stage = createStateStage(config({ dedupeWindowMs: DAY }));
    stage.apply([shopifyOrder], arrival(shopifyOrder));
    expect(stage.stats().dedupeKeys).toBe(1);
    const r = stage.expire(arrival(shopifyOrder) + DAY);
    expect(r.changes).toContainEqual({ topic: 'dedupe', key: `d:${shopifyOrder.dedupeKey}`, value: null });
    expect(stage.stats().dedupeKeys).toBe(0);
  });
});

describe('state config', () => {
  it('takes guards, rollup and completeness events from the tracking plan', () => {
    const c = createStateConfig(plan);
    expect(c.orderGuards).toEqual([
      { after: 'order_completed', suppress: ['checkout_started', 'added_to_cart'], matchOn: ['checkout_id', 'cart_id'], onlyIfOlder: false, onlyCartSnapshots: false },
      { after: 'checkout_started', suppress: ['added_to_cart'], matchOn: ['cart_id'], onlyIfOlder: true, onlyCartSnapshots: true },
    ]);
    expect(c.rollupEvents).toEqual(['order_completed']);
    expect(c.completenessEvents).toEqual(['order_completed', 'checkout_started']);
    expect(c.dedupeWindowMs).toBe(30 * DAY);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reports every bad setting at once', () => {
    const attempt = (): unknown => {
      try {
        return createStateConfig(plan, { dedupeWindowMs: -1, conflictRule: 'coin_flip' as 'keep_first', fallbackIdentifiers: ['phone' as 'email'] });
      } catch (e) {
        return e;
      }
    };
    const err = attempt();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toHaveLength(3);
  });
});
