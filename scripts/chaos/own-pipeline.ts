/**
 * `--own`: a pipeline of the tool's own, like make dev's but on free ports and a fresh topic
 * prefix: its own broker and registry (unless given), the emulator, one or more normalizers and
 * sinks (each group's instances sharing the work), and ingest, each restarted when it exits, as
 * make dev's supervisor does. stop() removes all of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, signalStackSync, startStack, stopStack, wipeStack, type StackOptions } from '../local-stack.ts';
import { FaultError, type FaultTargets, type ServiceEndpoint } from './faults.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface OwnPipeline {
  ingestUrl: string;
  emulatorUrl: string;
  writeKey: string;
  /** The broker list and the topic prefix the services use (a benchmark reads their topics). */
  brokers: string;
  topicPrefix: string;
  /** The first instance of each service is the one a kill hits. */
  targets: Omit<FaultTargets, 'brokerDownMs'>;
  /** Every instance's endpoint, in start order. */
  instances: { normalizer: ServiceEndpoint[]; sink: ServiceEndpoint[] };
  /** The monitor's ops server, which serves GET /trace, when the shape asked for a trace index. */
  traceUrl: string | null;
  stop(): Promise<void>;
}

/** How many of each consumer to run, and the Customer.io rate limit they share. */
export interface PipelineShape {
  normalizers: number;
  sinks: number;
  /** Requests per second the emulator allows (POST /_emulator/config) and the sinks share; undefined = unlimited. */
  cioRateLimitPerSec: number | undefined;
  /** A monitor keeping a trace index in this directory (MONITOR_TRACE_DIR); none when undefined. */
  traceDir?: string;
}

const ONE_EACH: PipelineShape = { normalizers: 1, sinks: 1, cioRateLimitPerSec: undefined };

interface Spec {
  name: string;
  script: string;
  /** Answers 200 once the service is ready. */
  health: string;
  env: Record<string, string>;
}

interface Supervised {
  name: string;
  current: ChildProcess;
  exits: number;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitAnswers(url: string, what: Supervised, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch { /* not yet */ }
    if (what.exits > 3) break;
    await delay(200);
  }
  throw new FaultError(`${what.name} did not answer ${url} within ${timeoutMs} ms (exited ${what.exits} times)`);
}

/** Sets the emulator's rate limit, as a test or an operator would. */
async function limitEmulator(emulatorUrl: string, ratePerSec: number): Promise<void> {
  const res = await fetch(`${emulatorUrl}/_emulator/config`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rate_limit_per_sec: ratePerSec }), signal: AbortSignal.timeout(5000),
  });
  const body = await res.text();
  if (!res.ok) throw new FaultError(`the emulator refused rate_limit_per_sec ${ratePerSec}: ${res.status} ${body}`);
}

/**
 * `serviceEnv` is the environment every service starts with (the caller's own, usually, plus any
 * overrides); each service's settings go on top. Passed in so only entry files read the environment.
 */
export async function startOwnPipeline(run: string, given: { kafka: string; registry: string } | undefined, log: (line: string) => void, serviceEnv: NodeJS.ProcessEnv, shape: PipelineShape = ONE_EACH): Promise<OwnPipeline> {
  let stack: StackOptions | undefined;
  let brokers: string;
  let registryUrl: string;
  if (given) {
    ({ kafka: brokers, registry: registryUrl } = given);
  } else {
    stack = { name: `chaos-${run}`, kafkaPort: await freePort(), controllerPort: await freePort(), registryPort: await freePort(), detached: false };
    log(`starting a broker and a registry of its own (stack ${stack.name})`);
    const running = await startStack(stack);
    ({ brokers, registryUrl } = running);
  }
  const [emulatorPort, ingestPort, monitorPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const normalizerPorts = await Promise.all(Array.from({ length: shape.normalizers }, () => freePort()));
  const sinkPorts = await Promise.all(Array.from({ length: shape.sinks }, () => freePort()));
  const instanceName = (service: string, i: number) => (i === 0 ? service : `${service}-${i + 1}`);
  const writeKey = `chaos-${run}`;
  const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
  const ingestUrl = `http://127.0.0.1:${ingestPort}`;
  const shared = { KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: `chaos${run}.`, LOG_LEVEL: serviceEnv['LOG_LEVEL'] ?? 'warn' };
  const sinkLimit: Record<string, string> = shape.cioRateLimitPerSec === undefined ? {} : { SINK_RATE_LIMIT_PER_SEC: String(shape.cioRateLimitPerSec) };
  const emulator: Spec = { name: 'emulator', script: 'services/emulator/src/main.ts', health: `${emulatorUrl}/healthz`, env: { EMULATOR_PORT: String(emulatorPort), CIO_SITE_ID: 'site', CIO_API_KEY: 'key', LOG_LEVEL: shared.LOG_LEVEL } };
  // Consumers start together (each instance of a group in the same group) and are waited for ready.
  const consumers: Spec[] = [
    ...normalizerPorts.map((port, i) => ({ name: instanceName('normalizer', i), script: 'services/normalizer/src/main.ts', health: `http://127.0.0.1:${port}/readyz`, env: { ...shared, NORMALIZER_GROUP_ID: `chaos-${run}-normalizer`, NORMALIZER_OPS_PORT: String(port) } })),
    ...sinkPorts.map((port, i) => ({ name: instanceName('sink', i), script: 'services/sink/src/main.ts', health: `http://127.0.0.1:${port}/readyz`, env: { ...shared, ...sinkLimit, SINK_GROUP_ID: `chaos-${run}-sink`, SINK_OPS_PORT: String(port), CIO_TRACK_URL: emulatorUrl, CIO_SITE_ID: 'site', CIO_API_KEY: 'key' } })),
  ];
  const traceUrl = shape.traceDir === undefined ? null : `http://127.0.0.1:${monitorPort}`;
  const monitor: Spec[] = shape.traceDir === undefined ? [] : [{
    name: 'monitor', script: 'services/monitor/src/main.ts', health: `${traceUrl}/readyz`,
    env: { ...shared, MONITOR_GROUP_ID: `chaos-${run}-monitor`, MONITOR_TRACE_GROUP_ID: `chaos-${run}-trace`, MONITOR_OPS_PORT: String(monitorPort), MONITOR_TRACE_DIR: shape.traceDir },
  }];
  const ingest: Spec = { name: 'ingest', script: 'services/ingest/src/main.ts', health: `${ingestUrl}/readyz`, env: { ...shared, INGEST_PORT: String(ingestPort), INGEST_HOST: '127.0.0.1', APP_WRITE_KEYS: `chaos:${writeKey}` } };

  let stopping = false;
  const supervised: Supervised[] = [];
  const spawnService = (spec: Spec, entry?: Supervised): Supervised => {
    const child = spawn(process.execPath, [join(ROOT, spec.script)], { cwd: ROOT, env: { ...serviceEnv, ...spec.env }, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line) log(`[${spec.name}] ${line}`);
    });
    const s = entry ?? { name: spec.name, current: child, exits: 0 };
    s.current = child;
    child.on('exit', (code, signal) => {
      if (stopping) return;
      s.exits++;
      log(`${spec.name} exited (${signal ?? code}); restarting`);
      spawnService(spec, s);
    });
    return s;
  };

  // Whatever ends this process (an error, Ctrl-C), leave no service or broker behind.
  const onExit = (): void => {
    stopping = true;
    for (const s of supervised) s.current.kill('SIGKILL');
    if (stack) signalStackSync(stack.name);
  };
  process.once('exit', onExit);
  const stop = async (): Promise<void> => {
    process.off('exit', onExit);
    stopping = true;
    await Promise.all(supervised.map((s) => new Promise<void>((r) => {
      if (s.current.exitCode !== null || s.current.signalCode !== null) return r();
      s.current.once('exit', () => r());
      s.current.kill('SIGTERM');
      setTimeout(() => s.current.kill('SIGKILL'), 15_000).unref();
    })));
    if (stack) {
      await stopStack(stack.name);
      wipeStack(stack.name);
    }
  };

  const startAll = async (specs: Spec[]): Promise<void> => {
    await Promise.all(specs.map(async (spec) => {
      const s = spawnService(spec);
      supervised.push(s);
      await waitAnswers(spec.health, s, 120_000);
      log(`${spec.name} ready`);
    }));
  };
  try {
    await startAll([emulator]);
    if (shape.cioRateLimitPerSec !== undefined) await limitEmulator(emulatorUrl, shape.cioRateLimitPerSec);
    await startAll([...consumers, ...monitor]);
    await startAll([ingest]);
  } catch (err) {
    await stop();
    throw err;
  }
  // Alive is what a kill waits for: a restarted consumer answers /healthz before it can join.
  const endpoint = (port: number): ServiceEndpoint => ({ port, healthUrl: `http://127.0.0.1:${port}/healthz` });
  const instances = { normalizer: normalizerPorts.map(endpoint), sink: sinkPorts.map(endpoint) };
  return {
    ingestUrl,
    emulatorUrl,
    writeKey,
    brokers,
    topicPrefix: shared.TOPIC_PREFIX,
    targets: {
      services: { ingest: { port: ingestPort, healthUrl: `${ingestUrl}/healthz` }, normalizer: instances.normalizer[0], sink: instances.sink[0] },
      broker: stack,
    },
    instances,
    traceUrl,
    stop,
  };
}
