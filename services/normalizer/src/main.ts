import { PipelineError, runService, type Logger } from '@cio-pipeline/core';
import { startNormalizer, type NormalizerService } from './app.ts';
import { loadServiceConfig, type ServiceConfig } from './service-config.ts';

/**
 * Start-up talks to the broker and the registry while other services may be creating the same
 * topics and subjects; a transient failure there is retried with backoff. A mistake in the
 * configuration or the tracking plan (a PipelineError that is not retryable) stops at once.
 */
async function startWithRetry(config: Readonly<ServiceConfig>, logger: Logger, onFatal: (err: Error) => void): Promise<NormalizerService> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNormalizer(config, logger, { onFatal });
    } catch (err) {
      const permanent = err instanceof PipelineError && !err.retryable;
      if (permanent || attempt >= 10) throw err;
      const delayMs = Math.min(500 * 2 ** (attempt - 1), 8_000);
      logger.warn({ err, attempt, delayMs }, 'start-up failed; retrying');
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

// The normalizer serves its own ops endpoints (alive during the state restore, ready after it).
// An unhandled error exits at once (runService): the supervisor restarts it from Kafka.
await runService({
  name: 'normalizer',
  loadConfig: () => loadServiceConfig(process.env),
  async start({ config, logger, fail }) {
    // A Kafka consumer KafkaJS gave up on (CRASH with restart=false) never consumes again, and a
    // local state store whose write failed refuses every later unit: exit non-zero (a bounded stop)
    // so the supervisor restarts the normalizer from the committed offsets, instead of staying
    // alive and stalled.
    const service = await startWithRetry(config, logger, (err) => fail(err, 'the normalizer cannot go on (a Kafka consumer stopped for good, or the local state store failed); exiting so the supervisor restarts it'));
    return { stop: () => service.stop() };
  },
  // A broken client must not hold the stop up for long; a healthy one finishes its unit well within this.
  stopDeadlineMs: () => 20_000,
});
