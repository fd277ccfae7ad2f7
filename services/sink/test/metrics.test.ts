import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createOpsServer } from '@cio-pipeline/core';
import { CioRejectedError, CioRetryableError } from '../src/errors.ts';
import { KeyOrderedDispatcher, type DispatcherOptions } from '../src/key-ordered-dispatcher.ts';
import { mapEvent } from '../src/mapping.ts';
import { createSinkMetrics, KINDS, kindLabel, statusLabel, type SinkMetrics } from '../src/metrics.ts';
import { FakeSender, makeRecord, metricValue } from './helpers.ts';
import { eventually } from '../../../test/support/eventually.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Serves the registry as the sink does, and answers a function that scrapes /metrics. */
async function serve(metrics: SinkMetrics): Promise<() => Promise<string>> {
  const ops = createOpsServer({ metrics: metrics.registry, ready: () => true });
  const port = await ops.listen(0, '127.0.0.1');
  cleanups.push(() => ops.close());
  return async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** A dead-letter write that stays open until released, to observe the gauge meanwhile. */
function heldDeadLetter(): { deadLetter: DispatcherOptions['deadLetter']; writes: () => number; release: () => void } {
  let writes = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return { deadLetter: async () => { writes++; await gate; }, writes: () => writes, release };
}

function dispatcher(metrics: SinkMetrics, sender: FakeSender, overrides: Partial<DispatcherOptions>): KeyOrderedDispatcher {
  const d = new KeyOrderedDispatcher({
    sender, prepare: (e) => mapEvent(e, 'v2'), deadLetter: async () => undefined, concurrency: 2, maxBatchItems: 10, maxBatchBytes: 500_000,
    maxInFlightEvents: 1000, retryBaseMs: 5, retryMaxMs: 20, parkAfterMs: 60_000, metrics, ...overrides,
  });
  cleanups.push(() => d.stop());
  return d;
}

describe('sink metrics', () => {
  it('serves the process metrics under the names ingest and the monitor use, never prefixed twice', async () => {
    const scrape = await serve(createSinkMetrics({ defaultMetrics: true, rateLimit: () => 42 }));
    const text = await scrape();
    expect(metricValue(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(metricValue(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(metricValue(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(metricValue(text, 'sink_rate_limit_per_second')).toBe(42);
    expect(text).not.toMatch(/^(sink_process_|process_process_|sink_nodejs_)/m);
  });

  it('labels only from closed sets, whatever status or kind arrives', () => {
    const statuses = new Set(['none', 'other', '1xx', '2xx', '3xx', '4xx', '5xx', '200', '207', '301', '302', '307', '308', '400', '401', '403', '404', '405', '408', '413', '422', '429', '500', '502', '503', '504', '522', '524']);
    fc.assert(fc.property(fc.option(fc.integer()), fc.string(), (status, kind) => {
      expect(statuses.has(statusLabel(status))).toBe(true);
      expect([...KINDS, 'other']).toContain(kindLabel(kind));
    }));
    expect(statusLabel(418)).toBe('4xx');
    expect(kindLabel('delete')).toBe('delete');
  });

  it('counts a rejected event in flight while its dead letter is being written', async () => {
    const metrics = createSinkMetrics();
    const scrape = await serve(metrics);
    const held = heldDeadLetter();
    const sender = new FakeSender();
    sender.decide = () => ({ ok: false, error: new CioRejectedError(207, '{"errors":[{"reason":"invalid"}]}') });
    const d = dispatcher(metrics, sender, { deadLetter: held.deadLetter });
    d.push([makeRecord(0, 0, 'a'), makeRecord(0, 1, 'b')]);
    await eventually('two dead-letter writes', () => held.writes() === 2);
    expect(metricValue(await scrape(), 'sink_events_in_flight')).toBe(2);
    held.release();
    await eventually('nothing in flight', () => d.inFlightCount() === 0);
    const text = await scrape();
    expect(metricValue(text, 'sink_events_in_flight')).toBe(0);
    expect(metricValue(text, 'sink_events_dead_lettered_total{status="207",reason="rejected"}')).toBe(2);
  });

  it('counts a parked key\'s events in flight while their dead letters are being written', async () => {
    const metrics = createSinkMetrics();
    const scrape = await serve(metrics);
    const held = heldDeadLetter();
    const sender = new FakeSender();
    sender.decide = () => ({ ok: false, error: new CioRetryableError(503, 'unavailable') });
    const d = dispatcher(metrics, sender, { deadLetter: held.deadLetter, parkAfterMs: 0 });
    d.push([makeRecord(0, 0, 'a'), makeRecord(0, 1, 'a')]);
    await eventually('one dead-letter write', () => held.writes() === 1); // parked in order: one write at a time
    expect(metricValue(await scrape(), 'sink_events_in_flight')).toBe(1);
    held.release();
    await eventually('nothing in flight', () => d.inFlightCount() === 0);
    const text = await scrape();
    expect(metricValue(text, 'sink_events_in_flight')).toBe(0);
    expect(metricValue(text, 'sink_events_dead_lettered_total{status="503",reason="parked"}')).toBe(1);
    expect(metricValue(text, 'sink_events_dead_lettered_total{status="none",reason="parked"}')).toBe(1); // queued, never tried
    expect(metricValue(text, 'sink_keys_parked_total')).toBe(1);
  });
});
