/**
 * `--own`: a pipeline of the tool's own, like make dev's but on free ports and a fresh topic
 * prefix: its own broker and registry (unless given), the emulator, normalizer, sink and ingest,
 * each restarted when it exits, as make dev's supervisor does. stop() removes all of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, signalStackSync, startStack, stopStack, wipeStack, type StackOptions } from '../local-stack.ts';
import { FaultError, type FaultTargets } from './faults.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface OwnPipeline {
  ingestUrl: string;
  emulatorUrl: string;
  writeKey: string;
  targets: Omit<FaultTargets, 'brokerDownMs'>;
  stop(): Promise<void>;
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

/** `serviceEnv` is added to every service's environment (on top of this process's). */
export async function startOwnPipeline(run: string, given: { kafka: string; registry: string } | undefined, log: (line: string) => void, serviceEnv: Record<string, string> = {}): Promise<OwnPipeline> {
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
  const [emulatorPort, ingestPort, normalizerPort, sinkPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const writeKey = `chaos-${run}`;
  const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
  const ingestUrl = `http://127.0.0.1:${ingestPort}`;
  const shared = { KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: `chaos${run}.`, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn' };
  const specs = [
    { name: 'emulator', script: 'services/emulator/src/main.ts', health: `${emulatorUrl}/healthz`, env: { EMULATOR_PORT: String(emulatorPort), CIO_SITE_ID: 'site', CIO_API_KEY: 'key', LOG_LEVEL: shared.LOG_LEVEL } },
    { name: 'normalizer', script: 'services/normalizer/src/main.ts', health: `http://127.0.0.1:${normalizerPort}/readyz`, env: { ...shared, NORMALIZER_GROUP_ID: `chaos-${run}-normalizer`, NORMALIZER_OPS_PORT: String(normalizerPort) } },
    { name: 'sink', script: 'services/sink/src/main.ts', health: `http://127.0.0.1:${sinkPort}/healthz`, env: { ...shared, SINK_GROUP_ID: `chaos-${run}-sink`, SINK_OPS_PORT: String(sinkPort), CIO_TRACK_URL: emulatorUrl, CIO_SITE_ID: 'site', CIO_API_KEY: 'key' } },
    { name: 'ingest', script: 'services/ingest/src/main.ts', health: `${ingestUrl}/readyz`, env: { ...shared, INGEST_PORT: String(ingestPort), INGEST_HOST: '127.0.0.1', APP_WRITE_KEYS: `chaos:${writeKey}` } },
  ];

  let stopping = false;
  const supervised: Supervised[] = [];
  const spawnService = (spec: (typeof specs)[number], entry?: Supervised): Supervised => {
    const child = spawn(process.execPath, [join(ROOT, spec.script)], { cwd: ROOT, env: { ...process.env, ...serviceEnv, ...spec.env }, stdio: ['ignore', 'ignore', 'pipe'] });
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

  try {
    for (const spec of specs) {
      const s = spawnService(spec);
      supervised.push(s);
      await waitAnswers(spec.health, s, 120_000);
      log(`${spec.name} ready`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    ingestUrl,
    emulatorUrl,
    writeKey,
    targets: {
      services: {
        ingest: { port: ingestPort, healthUrl: `${ingestUrl}/healthz` },
        normalizer: { port: normalizerPort, healthUrl: `http://127.0.0.1:${normalizerPort}/healthz` },
        sink: { port: sinkPort, healthUrl: `http://127.0.0.1:${sinkPort}/healthz` },
      },
      broker: stack,
    },
    stop,
  };
}
