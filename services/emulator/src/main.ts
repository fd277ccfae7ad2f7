import { createLogger } from '@cio-pipeline/core';
import { loadConfig } from './config.ts';
import { createEmulator } from './server.ts';

const config = loadConfig(process.env);
const logger = createLogger('emulator', config.logLevel);
const emulator = createEmulator(config, { logger });
const { url } = await emulator.listen();
logger.info({ url, faults: config.faults }, 'Customer.io emulator listening (inspector page at /)');

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'closing');
    emulator.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'close failed');
        process.exit(1);
      },
    );
  });
}
