/**
 * The Node options each service runs with (`make dev`, docker-compose.yml, and the benchmarks that
 * run a service as it is deployed). A small young generation keeps each under its memory budget:
 * Node 24 otherwise grows it to 64 MB a semi-space under load (128 MB of new space).
 * - ingest and the sink: 300 MB budgets at their highest rates (bench/results/ingest.md, sink.md);
 * - the normalizer: 1 GB while restoring 50M identity links and 20M dedupe keys to disk (1,064-
 *   1,067 MB peak with Node's own young generation, 896-917 MB with 16 MB), at no cost to its
 *   steady throughput; the restore itself runs at 0.72-0.84 of its rate (docs/state-stores.md,
 *   "The restore's young generation").
 * test/ops/docker-compose.test.ts holds docker-compose.yml to these.
 */
export const SERVICE_NODE_OPTIONS = {
  ingest: '--max-semi-space-size=4',
  sink: '--max-semi-space-size=2',
  normalizer: '--max-semi-space-size=16',
} as const;
