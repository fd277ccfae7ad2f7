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
 * A Kafka consumer KafkaJS gave up on (CRASH with restart=false) never consumes again: exit
 * non-zero so the supervisor restarts the normalizer, which resumes from the committed offsets,
 * instead of staying alive and never ready. The stop is bounded: a broken client must not hold it.
 */
/** Set once started: a fatal crash during the start has nothing to stop yet. */
const running: { service?: NormalizerService } = {};
let stopping = false;
async function shutdown(signal: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: finishing the transaction in flight');
  await running.service?.stop().catch((err: unknown) => logger.error({ err }, 'stop failed'));
  process.exit(code);
}
function onFatal(err: Error): void {
  logger.fatal({ err }, 'a Kafka consumer stopped for good; exiting so the supervisor restarts the normalizer');
  setTimeout(() => process.exit(1), 10_000).unref();
  void shutdown('consumer crash', 1);
}

/**
 * Start-up talks to the broker and the registry while other services may be creating the same
 * topics and subjects; a transient failure there is retried with backoff. A mistake in the
 * configuration or the tracking plan (a PipelineError that is not retryable) stops at once.
 */
async function startWithRetry(): Promise<NormalizerService> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNormalizer(config, logger, { onFatal });
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

running.service = await startWithRetry();

process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
