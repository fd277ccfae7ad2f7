import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMonitorMetrics } from '../src/metrics.ts';

interface Panel { title: string; targets?: Array<{ expr: string }> }

const dashboard = JSON.parse(readFileSync(new URL('../../../infra/grafana/dashboards/pipeline.json', import.meta.url), 'utf8')) as { panels: Panel[] };

describe('the Grafana dashboard\'s monitor panels', () => {
  it('query only metrics the monitor exposes, the data health panel included', () => {
    const { registry } = createMonitorMetrics();
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    const names = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:monitor|reconcile)_[a-z_]+)\b/g)].map((m) => m[1]!)));
    expect([...names].filter((n) => n.startsWith('reconcile_')).sort()).toEqual(['reconcile_last_success_timestamp_seconds', 'reconcile_orders']);
    for (const name of names) expect(registry.getSingleMetric(name.replace(/_(bucket|count|sum)$/, '')), name).toBeDefined();
    expect(dashboard.panels.map((p) => p.title)).toContain('Data health');
  });
});
