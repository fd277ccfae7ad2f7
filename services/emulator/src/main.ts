import { runService } from '@cio-pipeline/core';
import { loadConfig } from './config.ts';
import { createEmulator } from './server.ts';

await runService({
  name: 'emulator',
  loadConfig: () => loadConfig(process.env),
  stopDeadlineMs: () => 10_000,
  async start({ config, logger }) {
    const emulator = createEmulator(config, { logger });
    const { url } = await emulator.listen();
    logger.info({ url, faults: config.faults }, 'Customer.io emulator listening (inspector page at /)');
    return { stop: () => emulator.close() };
  },
});
