import type { Kafka, Logger, OpsRoute, createRegistry } from '@cio-pipeline/core';
import type { MonitorConfig } from '../config.ts';
import type { MonitorMetrics } from '../metrics.ts';
import { TraceIndex } from './trace-index.ts';
import { TraceIndexer } from './trace-indexer.ts';
import { traceRoutes } from './trace-http.ts';

export interface TraceService {
  routes: Record<string, OpsRoute>;
  ready(): boolean;
  indexer: TraceIndexer;
  stop(): Promise<void>;
}

/** The monitor's trace side: the index on disk, its indexer, and the /trace endpoints. */
export async function startTraceService(deps: {
  config: Readonly<MonitorConfig>; dir: string; kafka: Kafka; registry: ReturnType<typeof createRegistry>; logger: Logger; metrics: MonitorMetrics; onFatal?: (err: unknown) => void;
}): Promise<TraceService> {
  const { config, logger, metrics } = deps;
  const index = await TraceIndex.open(deps.dir);
  const indexer = new TraceIndexer({
    kafka: deps.kafka, registry: deps.registry, registryUrl: config.schemaRegistryUrl,
    topics: { audit: config.kafka.topics.audit, receipts: config.kafka.topics.receipts, legacyReceipts: config.kafka.topics.legacyReceipts },
    index, retentionMs: config.trace.retentionMs, groupId: config.trace.groupId ?? undefined, logger,
    onIndexed: (topic, n) => metrics.traceIndexed.inc({ topic }, n),
    onReread: (topic, n) => metrics.traceReread.inc({ topic }, n),
    onSkipped: (topic, code) => metrics.decodeErrors.inc({ topic, code }),
    onFatal: deps.onFatal,
  });
  let open = true;
  try {
    await indexer.start();
  } catch (err) {
    await index.close();
    throw err;
  }
  return {
    routes: traceRoutes(() => (open ? index : null), logger),
    ready: () => indexer.ready(),
    indexer,
    async stop() {
      await indexer.stop();
      open = false;
      await index.close();
    },
  };
}
