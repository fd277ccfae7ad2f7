import { runService } from '@cio-pipeline/core';
import { startSink } from './app.ts';
import { loadSinkConfig, redactSinkConfig } from './config.ts';

// The sink serves its own ops endpoints (alive while it waits to join its group); the stop deadline
// covers the drain plus the commit and disconnect after it.
await runService({
  name: 'sink',
  loadConfig: () => loadSinkConfig(process.env),
  stopDeadlineMs: (config) => config.drainTimeoutMs + 10_000,
  async start({ config, logger }) {
    logger.debug({ config: redactSinkConfig(config) }, 'configuration');
    const service = await startSink(config, logger);
    return { stop: () => service.stop() };
  },
});
