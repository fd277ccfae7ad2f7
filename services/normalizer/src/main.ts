import { ConfigError, PipelineError, createLogger } from '@cio-pipeline/core';
import { startNormalizer, type NormalizerService } from './app.ts';
import { loadServiceConfig } from './service-config.ts';

function loadConfig(): ReturnType<typeof loadServiceConfig> {
  try {
    return loadServiceConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      createLogger('normalizer').fatal(err.message);
      process.exit(2);
    }
    throw err;
  }
}
const config = loadConfig();
const logger = createLogger('normalizer', config.logLevel);
process.on('unhandledRejection', (err) => {
  logger.fatal({ err }, 'unhandled rejection; exiting so the supervisor restarts from Kafka');
  process.exit(1);
});

/**
 * Start-up talks to the broker and the registry while other services may be creating the same
 * topics and subjects; a transient failure there is retried with backoff. A mistake in the
 * configuration or the tracking plan (a PipelineError that is not retryable) stops at once.
 */
async function startWithRetry(): Promise<NormalizerService> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNormalizer(config, logger);
    } catch (err) {
      const permanent = err instanceof PipelineError && !err.retryable;
      if (permanent || attempt >= 10) {
        logger.fatal({ err, attempt }, 'normalizer failed to start');
        process.exit(1);
      }
      const delayMs = Math.min(500 * 2 ** (attempt - 1), 8_000);
      logger.warn({ err, attempt, delayMs }, 'start-up failed; retrying');
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

const service = await startWithRetry();

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
