import { createKafka, createRegistry, runService } from '@cio-pipeline/core';
import { loadMonitorConfig, webhookHost } from './config.ts';
import { createMonitorMetrics } from './metrics.ts';
import { InvalidDataMonitor } from './monitor.ts';
import { ReconcileGauges } from './reconcile/gauges.ts';
import { startTraceService, type TraceService } from './trace/trace-service.ts';
import { WebhookNotifier } from './webhook-notifier.ts';

await runService({
  name: 'monitor',
  loadConfig: () => loadMonitorConfig(process.env),
  ops: (config) => config,
  async start({ config, logger, serveOps, fail }) {
    if (config.webhook.url === null) logger.warn('MONITOR_WEBHOOK_URL is not set: alerts go to the log and metrics only');
    const metrics = createMonitorMetrics({ defaultMetrics: true });
    const notifier = new WebhookNotifier({ ...config.webhook, logger, metrics });
    const kafka = createKafka({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, logger });
    const registry = createRegistry(config.schemaRegistryUrl);
    const monitor = new InvalidDataMonitor({
      config,
      kafka,
      registry,
      logger,
      metrics,
      notifier,
      onFatal: (err) => fail(err, 'monitor consumer crashed for good'),
    });
    // The trace index before the ops endpoints: /trace is one of their routes.
    let trace: TraceService | null = null;
    if (config.trace.dir !== null) {
      trace = await startTraceService({ config, dir: config.trace.dir, kafka, registry, logger, metrics, onFatal: (err) => fail(err, 'trace indexer crashed for good') });
    } else {
      logger.info('MONITOR_TRACE_DIR is not set: no trace index, /trace answers 404');
    }
    serveOps({ metrics: metrics.registry, ready: () => monitor.ready() && (trace?.ready() ?? true), routes: trace?.routes ?? {} });
    logger.info({
      webhookHost: webhookHost(config.webhook.url),
      rules: config.rules.map((r) => ({ name: r.name, threshold: r.threshold, clearBelow: r.clearBelow, windowMs: r.windowMs, minEvents: r.minEvents })),
    }, 'monitor rules');
    await monitor.start();
    const reconciliation = config.reconcile === null ? null : new ReconcileGauges({
      ...config.reconcile,
      sources: { kafka, registryUrl: config.schemaRegistryUrl, topics: config.kafka.topics, logger },
      metrics,
      logger,
    });
    reconciliation?.start();
    return {
      async stop() {
        reconciliation?.stop();
        await monitor.stop();
        await trace?.stop();
      },
    };
  },
});
