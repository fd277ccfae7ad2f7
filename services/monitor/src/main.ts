import { createKafka, createLogger, createOpsServer, createRegistry } from '@cio-pipeline/core';
import { loadMonitorConfig, webhookHost } from './config.ts';
import { createMonitorMetrics } from './metrics.ts';
import { InvalidDataMonitor } from './monitor.ts';
import { ReconcileGauges } from './reconcile/gauges.ts';
import { WebhookNotifier } from './webhook-notifier.ts';

const config = loadMonitorConfig(process.env);
const logger = createLogger('monitor', config.logLevel);
if (config.webhook.url === null) logger.warn('MONITOR_WEBHOOK_URL is not set: alerts go to the log and metrics only');

const metrics = createMonitorMetrics({ defaultMetrics: true });
const notifier = new WebhookNotifier({ ...config.webhook, logger, metrics });
const kafka = createKafka({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, logger });
const monitor = new InvalidDataMonitor({
  config,
  kafka,
  registry: createRegistry(config.schemaRegistryUrl),
  logger,
  metrics,
  notifier,
  onFatal: () => void shutdown('consumer crash', 1),
});
const ops = createOpsServer({ metrics: metrics.registry, ready: () => monitor.ready() });
const opsPort = await ops.listen(config.opsPort, config.opsHost);
logger.info({
  opsPort,
  webhookHost: webhookHost(config.webhook.url),
  rules: config.rules.map((r) => ({ name: r.name, threshold: r.threshold, clearBelow: r.clearBelow, windowMs: r.windowMs, minEvents: r.minEvents })),
}, 'monitor ops listening');
await monitor.start();
const reconciliation = config.reconcile === null ? null : new ReconcileGauges({
  ...config.reconcile,
  sources: { kafka, registryUrl: config.schemaRegistryUrl, topics: config.kafka.topics, logger },
  metrics,
  logger,
});
reconciliation?.start();

let stopping = false;
async function shutdown(reason: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ reason }, 'stopping: leaving the consumer group, finishing alert deliveries');
  try {
    reconciliation?.stop();
    await monitor.stop();
    await ops.close();
    process.exit(code);
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
