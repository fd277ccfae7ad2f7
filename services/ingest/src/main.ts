import { createLogger } from '@cio-pipeline/core';
import { loadIngestConfig } from './config.ts';
import { createIngestServer } from './http-server.ts';
import { KafkaRawWriter, kafkaRawWriterOptions } from './kafka-raw-writer.ts';
import { createIngestMetrics } from './metrics.ts';

const config = loadIngestConfig(process.env);
const logger = createLogger('ingest', config.logLevel);
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

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'draining: no new requests, finishing writes in flight');
  try {
    await ingest.close();
    await writer.close();
    logger.info('drained');
    process.exit(0);
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
