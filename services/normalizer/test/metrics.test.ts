// Issue #17 (metrics): standard process metric names, and labels from closed sets only.
import { describe, expect, it } from 'vitest';
import { createNormalizerMetrics } from '../src/metrics.ts';
import { loadTrackingPlan } from '@cio-pipeline/core';

const plan = loadTrackingPlan(new URL('../../../schemas/tracking-plan.yaml', import.meta.url).pathname);

describe('normalizer metrics', () => {
  it('names Node\'s process metrics process_* and nodejs_*, as the sink and ingest do', async () => {
    const m = createNormalizerMetrics({ plannedEvents: plan.events.keys() });
    const text = await m.registry.metrics();
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(text).not.toContain('normalizer_process_');
  });

  it('labels an event by its planned name, anything else as unplanned, a missing name as unknown', () => {
    const m = createNormalizerMetrics({ plannedEvents: plan.events.keys(), defaultMetrics: false });
    expect(m.eventLabel('order_completed')).toBe('order_completed');
    expect(m.eventLabel('identify')).toBe('identify');
    expect(m.eventLabel('my_clients_own_event_42')).toBe('unplanned');
    expect(m.eventLabel(null)).toBe('unknown');
  });

  it('labels a source outside the pipeline\'s four as other', () => {
    const m = createNormalizerMetrics({ plannedEvents: [], defaultMetrics: false });
    expect(['shopify', 'app', 'subscriptions', 'backfill', 'evil'].map(m.sourceLabel)).toEqual(['shopify', 'app', 'subscriptions', 'backfill', 'other']);
  });
});
