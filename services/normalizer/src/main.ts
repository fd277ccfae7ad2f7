import { PipelineError, runService, type Logger } from '@cio-pipeline/core';
import { startNormalizer, type NormalizerService } from './app.ts';
import { loadServiceConfig, type ServiceConfig } from './service-config.ts';

/**
 * Start-up talks to the broker and the registry while other services may be creating the same
 * topics and subjects; a transient failure there is retried with backoff. A mistake in the
 * configuration or the tracking plan (a PipelineError that is not retryable) stops at once.
 */
async function startWithRetry(config: Readonly<ServiceConfig>, logger: Logger): Promise<NormalizerService> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNormalizer(config, logger);
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
  async start({ config, logger }) {
    const service = await startWithRetry(config, logger);
    return { stop: () => service.stop() };
  },
});
