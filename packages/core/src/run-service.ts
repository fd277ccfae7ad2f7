/**
 * What every service's `main.ts` does, once: read the configuration (exit 2 on a mistake, one line
 * on stderr, before anything connects), start the service, serve its ops endpoints if it leaves
 * them to us, stop gracefully on SIGTERM/SIGINT within a deadline, and exit non-zero on a fatal
 * error so that the supervisor (compose, Kubernetes, make dev) restarts it.
 *
 * Exit codes: 0 stopped cleanly; 1 failed to start, failed at run time, or did not stop in time;
 * 2 invalid configuration.
 */
import { Registry } from 'prom-client';
import type { OpsSettings } from './common-config.ts';
import { ConfigError, configErrorLine } from './errors.ts';
import { createLogger, type Logger } from './logger.ts';
import { createOpsServer, type OpsEndpoints, type OpsServer } from './ops-server.ts';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_CONFIG = 2;

/** A started service, as runService needs to know it. */
export interface RunningService {
  /** Graceful stop: finish the work in flight, commit, disconnect. Called at most once. */
  stop(): Promise<void>;
}

export interface ServiceContext<C> {
  readonly config: Readonly<C>;
  readonly logger: Logger;
  /**
   * For a service whose ops endpoints runService serves (`ops` below): what /metrics and /readyz
   * answer from now on. Until then /healthz answers, /readyz is 503 and /metrics is empty.
   */
  serveOps(endpoints: OpsEndpoints): void;
  /** A failure the service cannot recover from (a crashed consumer): logged, a bounded stop, exit 1. */
  fail(err: unknown, what: string): void;
}

export interface ServiceDefinition<C extends { logLevel: string }> {
  /** The logger's `service`, and the prefix of the configuration-error line. */
  name: string;
  /** Reads and validates the environment, which only the entry file reads. */
  loadConfig(): Readonly<C>;
  start(ctx: ServiceContext<C>): Promise<RunningService>;
  /** Where runService serves the ops endpoints (from before `start`); leave out when the service serves its own. */
  ops?: (config: Readonly<C>) => OpsSettings;
  /** How long a graceful stop may take before the process exits 1 anyway. Default 30 s. */
  stopDeadlineMs?: (config: Readonly<C>) => number;
}

/** The process as runService uses it; tests pass their own. */
export interface ServiceHost {
  exit(code: number): void;
  writeError(line: string): void;
  onSignal(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void;
  /** Unhandled rejections and uncaught exceptions. */
  onCrash(handler: (err: unknown) => void): void;
  /** Where logs go; stdout when left out. */
  logDestination?: { write(line: string): unknown };
}

export const DEFAULT_STOP_DEADLINE_MS = 30_000;

const processHost: ServiceHost = {
  exit: (code) => process.exit(code),
  writeError: (line) => void process.stderr.write(line),
  onSignal: (signal, handler) => void process.on(signal, handler),
  onCrash: (handler) => {
    process.on('unhandledRejection', handler);
    process.on('uncaughtException', handler);
  },
};

/**
 * Runs a service until it is stopped. Resolves once it has started (or once the process has been
 * told to exit); everything after that is driven by signals and `fail`.
 */
export async function runService<C extends { logLevel: string }>(def: ServiceDefinition<C>, host: ServiceHost = processHost): Promise<void> {
  let config: Readonly<C>;
  try {
    config = def.loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    host.writeError(configErrorLine(def.name, err));
    return host.exit(EXIT_CONFIG);
  }
  const logger = createLogger(def.name, config.logLevel, host.logDestination);
  const deadlineMs = def.stopDeadlineMs?.(config) ?? DEFAULT_STOP_DEADLINE_MS;
  let service: RunningService | undefined;
  let ops: OpsServer | undefined;
  let stopping = false;
  let exited = false;
  const exit = (code: number): void => {
    if (exited) return;
    exited = true;
    host.exit(code);
  };

  async function shutdown(reason: string, code: number): Promise<void> {
    if (stopping) {
      // A second signal: the operator wants out now; uncommitted work is redone after a restart.
      logger.warn({ reason }, 'second stop request: exiting without finishing the stop');
      return exit(EXIT_FAILED);
    }
    stopping = true;
    logger.info({ reason, deadlineMs }, 'stopping');
    const deadline = setTimeout(() => {
      logger.error({ deadlineMs }, 'stop did not finish in time: exiting');
      exit(EXIT_FAILED);
    }, deadlineMs);
    try {
      await service?.stop();
      await ops?.close();
      logger.info('stopped');
      exit(code);
    } catch (err) {
      logger.error({ err }, 'graceful stop failed');
      exit(EXIT_FAILED);
    } finally {
      clearTimeout(deadline);
    }
  }

  const fail = (err: unknown, what: string): void => {
    logger.fatal({ err }, what);
    if (stopping) return exit(EXIT_FAILED);
    void shutdown(what, EXIT_FAILED);
  };
  // State may be half-changed after an error nobody caught: no graceful stop, the supervisor restarts from Kafka.
  host.onCrash((err) => {
    logger.fatal({ err }, 'unhandled error: exiting');
    exit(EXIT_FAILED);
  });
  let signalDuringStart: string | undefined;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    host.onSignal(signal, () => {
      if (service === undefined && !stopping) signalDuringStart ??= signal;
      else void shutdown(signal, EXIT_OK);
    });
  }

  const bound: { endpoints?: OpsEndpoints } = {};
  if (def.ops) {
    const settings = def.ops(config);
    const empty = new Registry();
    ops = createOpsServer({
      get metrics() {
        return bound.endpoints?.metrics ?? empty;
      },
      ready: () => (bound.endpoints ? bound.endpoints.ready() : { ready: false, reason: 'starting' }),
      beforeScrape: () => bound.endpoints?.beforeScrape?.(),
      // The service's own routes (the monitor's /trace) exist once it has started.
      get routes() {
        return bound.endpoints?.routes;
      },
    });
    try {
      const opsPort = await ops.listen(settings.opsPort, settings.opsHost);
      logger.info({ opsPort, opsHost: settings.opsHost }, 'ops endpoints listening');
    } catch (err) {
      logger.fatal({ err, opsPort: settings.opsPort }, `${def.name} cannot serve its ops endpoints`);
      return exit(EXIT_FAILED);
    }
  }

  try {
    service = await def.start({ config, logger, serveOps: (endpoints) => (bound.endpoints = endpoints), fail });
  } catch (err) {
    await ops?.close().catch(() => undefined);
    if (err instanceof ConfigError) {
      host.writeError(configErrorLine(def.name, err));
      return exit(EXIT_CONFIG);
    }
    logger.fatal({ err }, `${def.name} failed to start`);
    return exit(EXIT_FAILED);
  }
  if (signalDuringStart !== undefined) await shutdown(signalDuringStart, EXIT_OK);
}
