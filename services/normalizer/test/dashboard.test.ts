import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createNormalizerMetrics } from '../src/metrics.ts';

interface Panel { title: string; targets?: Array<{ expr: string }> }

const dashboard = JSON.parse(readFileSync(new URL('../../../infra/grafana/dashboards/pipeline.json', import.meta.url), 'utf8')) as { panels: Panel[] };

describe('the Grafana dashboard\'s normalizer panels', () => {
  it('query only metrics the normalizer exposes, identity conflicts and refused links included', () => {
    const { registry } = createNormalizerMetrics({ plannedEvents: [], defaultMetrics: false });
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    const names = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(normalizer_[a-z_]+)\b/g)].map((m) => m[1]!)));
    expect(names).toContain('normalizer_identity_links_refused_total');
    expect(names).toContain('normalizer_identity_conflicts_total');
    for (const name of names) expect(registry.getSingleMetric(name.replace(/_(bucket|count|sum)$/, '')), name).toBeDefined();
  });
});
