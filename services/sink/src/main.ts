import { ConfigError, createLogger } from '@cio-pipeline/core';
import { startSink, type SinkService } from './app.ts';
import { loadSinkConfig, redactSinkConfig, type SinkConfig } from './config.ts';

let config: Readonly<SinkConfig>;
try {
  config = loadSinkConfig(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    // Every problem at once, before anything connects.
    process.stderr.write(`cio-sink: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
const logger = createLogger('sink', config.logLevel);
logger.debug({ config: redactSinkConfig(config) }, 'configuration');
let service: SinkService;
try {
  service = await startSink(config, logger);
} catch (err) {
  // Kafka or the registry unreachable at start: exit non-zero so the supervisor restarts us.
  logger.fatal({ err }, 'sink failed to start');
  process.exit(1);
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    // A second signal: the operator wants out now; uncommitted work is redelivered on restart.
    logger.warn({ signal }, 'second signal: exiting without finishing the drain');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal, drainTimeoutMs: config.drainTimeoutMs }, 'stopping: finishing deliveries in flight, then committing');
  try {
    await service.stop();
    process.exit(0);
  } catch (err) {
    logger.error({ err }, 'graceful stop failed');
    process.exit(1);
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
