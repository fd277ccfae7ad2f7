/**
 * The whole pipeline as real processes on the shared broker and registry, for end-to-end tests:
 * emulator, normalizer, sink and ingest, each on a free port, topics under a fresh prefix.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/local-stack.ts';
import { stackInfo, testKafka } from './kafka.ts';
import { emulatedPerson, personWhen, settledPerson, type CioEvent, type CioPerson } from './emulator-people.ts';
import { startService, waitReady, type RunningService } from './processes.ts';
import { explainedByTrace, type TraceCoverage } from './trace-coverage.ts';

export type { CioEvent, CioPerson };

export interface PipelineStack {
  prefix: string;
  ingestUrl: string;
  emulatorUrl: string;
  /** The monitor's ops port, which serves GET /trace from its trace index. */
  traceUrl: string;
  services: RunningService[];
  /** The emulator's person, or undefined when Customer.io would not know them. */
  person(idOrEmail: string): Promise<CioPerson | undefined>;
  /** Waits until the person exists and `ready` holds. */
  arrived(idOrEmail: string, ready: (p: CioPerson) => boolean): Promise<CioPerson>;
  /** Waits until the person exists and `ready` holds, then a little longer so stragglers show. */
  settled(idOrEmail: string, ready: (p: CioPerson) => boolean): Promise<CioPerson>;
  /**
   * Waits until every raw record of the run appears, with its verdict, in the trace of the people
   * the test has waited for (and `more`), and every event sent has Customer.io's answer there.
   */
  explainedByTrace(more?: readonly string[]): Promise<TraceCoverage>;
  stop(): Promise<void>;
}

/** What a test changes in the stack. */
export interface PipelineOptions {
  /** Settings added to (or overriding) the normalizer's or the monitor's environment. */
  normalizer?: Record<string, string>;
  monitor?: Record<string, string>;
  /** LOG_LEVEL of every service (default warn). */
  logLevel?: string;
  /** The Customer.io API key the emulator expects and the sink sends (default `key`). */
  cioApiKey?: string;
  /** Every line any service prints, as it prints it. */
  onLine?: (service: string, line: string) => void;
}

export async function startPipeline(run: string, ingestEnv: Record<string, string>, extra: PipelineOptions = {}): Promise<PipelineStack> {
  const { brokers, registryUrl } = stackInfo();
  const prefix = `${run}.`;
  const [emulatorPort, ingestPort, sinkPort, normalizerPort, monitorPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const logLevel = extra.logLevel ?? 'warn';
  const cioApiKey = extra.cioApiKey ?? 'key';
  const shared = { KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, LOG_LEVEL: logLevel };
  const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
  const ingestUrl = `http://127.0.0.1:${ingestPort}`;
  const onLine = extra.onLine;
  const start = (name: string, script: string, env: Record<string, string>): RunningService =>
    startService(name, script, env, onLine === undefined ? undefined : (line) => onLine(name, line));

  const emulator = start('emulator', 'services/emulator/src/main.ts', { EMULATOR_PORT: String(emulatorPort), CIO_SITE_ID: 'site', CIO_API_KEY: cioApiKey, LOG_LEVEL: logLevel });
  const normalizer = start('normalizer', 'services/normalizer/src/main.ts', {
    ...shared, NORMALIZER_GROUP_ID: `${run}-normalizer`, NORMALIZER_OPS_PORT: String(normalizerPort),
    NORMALIZER_COMPLETENESS_HOLD_MS: '3000', NORMALIZER_SWEEP_INTERVAL_MS: '200', ...extra.normalizer,
  });
  const sink = start('sink', 'services/sink/src/main.ts', {
    ...shared, SINK_GROUP_ID: `${run}-sink`, SINK_OPS_PORT: String(sinkPort),
    CIO_TRACK_URL: emulatorUrl, CIO_SITE_ID: 'site', CIO_API_KEY: cioApiKey,
  });
  const traceDir = mkdtempSync(join(tmpdir(), `trace-${run}-`));
  const monitor = start('monitor', 'services/monitor/src/main.ts', {
    ...shared, MONITOR_GROUP_ID: `${run}-monitor`, MONITOR_TRACE_GROUP_ID: `${run}-trace`, MONITOR_OPS_PORT: String(monitorPort),
    MONITOR_TRACE_DIR: traceDir, ...extra.monitor,
  });
  const traceUrl = `http://127.0.0.1:${monitorPort}`;
  const ingest = start('ingest', 'services/ingest/src/main.ts', { ...shared, INGEST_PORT: String(ingestPort), INGEST_HOST: '127.0.0.1', ...ingestEnv });
  const services = [ingest, normalizer, sink, emulator, monitor];
  const stop = async (): Promise<void> => {
    for (const s of services) await s.stop();
    rmSync(traceDir, { recursive: true, force: true });
  };
  try {
    await waitReady(emulator, `${emulatorUrl}/healthz`);
    await waitReady(ingest, `${ingestUrl}/readyz`);
    await waitReady(sink, `http://127.0.0.1:${sinkPort}/healthz`);
    await waitReady(normalizer, `http://127.0.0.1:${normalizerPort}/readyz`, 90_000);
    await waitReady(monitor, `${traceUrl}/readyz`, 90_000);
  } catch (err) {
    await stop();
    throw err;
  }

  const person = (idOrEmail: string) => emulatedPerson(emulatorUrl, idOrEmail);
  const people = new Set<string>();
  const arrived = (idOrEmail: string, ready: (p: CioPerson) => boolean) => {
    people.add(idOrEmail);
    return personWhen(emulatorUrl, idOrEmail, ready, services);
  };
  const settled = (idOrEmail: string, ready: (p: CioPerson) => boolean) => {
    people.add(idOrEmail);
    return settledPerson(emulatorUrl, idOrEmail, ready, services);
  };
  const explained = (more: readonly string[] = []) => explainedByTrace(testKafka(), prefix, traceUrl, [...people, ...more]);

  return { prefix, ingestUrl, emulatorUrl, traceUrl, services, person, arrived, settled, explainedByTrace: explained, stop };
}
