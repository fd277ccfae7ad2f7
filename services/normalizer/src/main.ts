import { ConfigError, createLogger } from '@cio-pipeline/core';
import { startNormalizer } from './app.ts';
import { loadServiceConfig } from './service-config.ts';

const bootLog = createLogger('normalizer');
let config;
try {
  config = loadServiceConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    bootLog.fatal(err.message);
    process.exit(2);
  }
  throw err;
}
const logger = createLogger('normalizer', config.logLevel);
const service = await startNormalizer(config, logger);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: finishing the transaction in flight');
  await service.stop();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
