import { runService } from '@cio-pipeline/core';
import { loadIngestConfig } from './config.ts';
import { createIngestServer } from './http-server.ts';
import { KafkaRawWriter, kafkaRawWriterOptions } from './kafka-raw-writer.ts';
import { createIngestMetrics } from './metrics.ts';

// Ingest serves /healthz, /readyz and /metrics on its public port (core's handler, see http-server.ts).
await runService({
  name: 'ingest',
  loadConfig: () => loadIngestConfig(process.env),
  // The drain, then the writes still queued, each bounded by the Kafka timeout.
  stopDeadlineMs: (config) => config.drainTimeoutMs + config.kafkaTimeoutMs + 5_000,
  async start({ config, logger }) {
    if (config.shopifySecrets.length === 0) logger.warn('SHOPIFY_WEBHOOK_SECRETS is empty: every Shopify webhook gets 401');
    if (config.rechargeSecrets.length === 0) logger.warn('RECHARGE_WEBHOOK_SECRETS is empty: every Recharge webhook gets 401');
    if (config.rechargeLegacySecrets.length > 0) {
      logger.warn({ secrets: config.rechargeLegacySecrets.length }, 'RECHARGE_LEGACY_SECRETS enables the legacy Recharge signature, which admits length extension');
    }
    if (config.writeKeys.length === 0) logger.warn('APP_WRITE_KEYS is empty: every app call gets 401');

    const writer = new KafkaRawWriter(kafkaRawWriterOptions(config, logger));
    // Not fatal: until Kafka and the registry answer, /readyz says so and writes get 503 (and retry it).
    writer.start().catch((err: unknown) => logger.warn({ err }, 'Kafka or the schema registry not reachable at start-up'));

    const metrics = createIngestMetrics({ defaultMetrics: true });
    const ingest = createIngestServer({ config, writer, logger, metrics });
    const url = await ingest.listen(config.port, config.host);
    logger.info({ url }, 'ingest listening');
    return {
      async stop() {
        logger.info('draining: no new requests, finishing writes in flight');
        await ingest.close();
        await writer.close();
        logger.info('drained');
      },
    };
  },
});
