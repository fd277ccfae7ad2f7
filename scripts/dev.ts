/**
 * `make dev`: the whole pipeline locally, in the foreground. Starts the broker and the registry,
 * registers the schemas, starts the Customer.io emulator and every service, waits until each
 * answers, prints where to look, then feeds a realistic stream of shoppers until Ctrl-C, which
 * stops everything it started (no orphans: every child is tracked and killed, the stack stopped).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_STACK, registryUrlFor, signalStackSync, StackAlreadyRunningError, startStack, waitForKafka, waitForRegistry, type RunningStack } from './local-stack.ts';
import { DEV_SECRETS } from './demo/journeys.ts';
import { RestartBudget } from './restart-budget.ts';
import { SERVICE_NODE_OPTIONS } from './service-node-options.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BROKERS = process.env['KAFKA_BROKERS'] ?? `127.0.0.1:${DEFAULT_STACK.kafkaPort}`;
const REGISTRY = process.env['SCHEMA_REGISTRY_URL'] ?? registryUrlFor(DEFAULT_STACK.registryPort);
const LOG_LEVEL = process.env['LOG_LEVEL'] ?? 'warn';

const shared = { KAFKA_BROKERS: BROKERS, SCHEMA_REGISTRY_URL: REGISTRY, LOG_LEVEL };

interface ServiceSpec {
  name: string;
  script: string;
  env: Record<string, string>;
  /** URL that answers 200 once the service is ready. */
  ready: string;
  where: string;
}

const services: ServiceSpec[] = [
  {
    name: 'emulator', script: 'services/emulator/src/main.ts',
    env: { EMULATOR_PORT: '8090', CIO_SITE_ID: 'site', CIO_API_KEY: 'key', LOG_LEVEL, EMULATOR_TRACE_URL: 'http://127.0.0.1:9103/trace/view' },
    ready: 'http://127.0.0.1:8090/healthz', where: 'Customer.io emulator: people, events, rejected requests  http://127.0.0.1:8090/',
  },
  {
    name: 'normalizer', script: 'services/normalizer/src/main.ts',
    env: { ...shared, NORMALIZER_OPS_PORT: '9101', NORMALIZER_COMPLETENESS_HOLD_MS: '10000', NODE_OPTIONS: SERVICE_NODE_OPTIONS.normalizer },
    ready: 'http://127.0.0.1:9101/readyz', where: 'normalizer metrics  http://127.0.0.1:9101/metrics',
  },
  {
    name: 'sink', script: 'services/sink/src/main.ts',
    env: { ...shared, SINK_OPS_PORT: '9102', CIO_TRACK_URL: 'http://127.0.0.1:8090', CIO_SITE_ID: 'site', CIO_API_KEY: 'key', NODE_OPTIONS: SERVICE_NODE_OPTIONS.sink },
    ready: 'http://127.0.0.1:9102/healthz', where: 'sink metrics        http://127.0.0.1:9102/metrics',
  },
  {
    name: 'monitor', script: 'services/monitor/src/main.ts',
    // The trace index under .data/ (ignored by git): rebuilt from pipeline.audit and the receipts topics if deleted.
    env: { ...shared, MONITOR_OPS_PORT: '9103', MONITOR_TRACE_DIR: join(ROOT, '.data/dev/trace-index') },
    ready: 'http://127.0.0.1:9103/healthz', where: 'invalid-data monitor http://127.0.0.1:9103/metrics  trace: npm run trace -- <email>',
  },
  {
    name: 'ingest', script: 'services/ingest/src/main.ts',
    env: {
      ...shared, INGEST_PORT: '8080', INGEST_HOST: '127.0.0.1', NODE_OPTIONS: SERVICE_NODE_OPTIONS.ingest,
      SHOPIFY_WEBHOOK_SECRETS: DEV_SECRETS.shopify, RECHARGE_WEBHOOK_SECRETS: DEV_SECRETS.recharge, APP_WRITE_KEYS: `web:${DEV_SECRETS.writeKey}`,
    },
    ready: 'http://127.0.0.1:8080/readyz', where: 'ingest (webhooks, Segment API) http://127.0.0.1:8080  metrics /metrics',
  },
];

const children = new Map<string, ChildProcess>();
let stack: RunningStack | null = null;
let stopping = false;

function say(message: string): void {
  process.stdout.write(`[dev] ${message}\n`);
}

/** Per service: 5 restarts within a minute, then make dev gives up (a crash loop, not a crash). */
const restartBudgets = new Map<string, RestartBudget>();

function startChild(name: string, script: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [join(ROOT, script), ...(name === 'feed' ? ['--ingest', 'http://127.0.0.1:8080'] : [])], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C reaches only this runner, which then stops each service once
    // (a second signal would make a service skip its graceful drain).
    detached: true,
  });
  const prefix = (chunk: Buffer) => chunk.toString().split('\n').filter((l) => l.length > 0).map((l) => `[${name}] ${l}\n`).join('');
  child.stdout!.on('data', (c: Buffer) => process.stdout.write(prefix(c)));
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(prefix(c)));
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (stopping || name === 'feed') return;
    // A service that dies (the normalizer exits on a failed transaction by design) is restarted,
    // as a supervisor would; state and offsets come back from Kafka.
    const budget = restartBudgets.get(name) ?? new RestartBudget(5, 60_000);
    restartBudgets.set(name, budget);
    if (budget.take()) {
      say(`${name} exited (${signal ?? code}); restarting`);
      children.set(name, startChild(name, script, env));
    } else {
      say(`${name} exited 5 times within a minute; stopping everything`);
      void shutdown(1);
    }
  });
  children.set(name, child);
  return child;
}

async function waitReady(url: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) return;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

function run(args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'inherit' });
    child.on('exit', (code) => (code === 0 ? resolveRun() : reject(new Error(`${args.join(' ')} exited with ${code}`))));
  });
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('stopping every service...');
  const exits = [...children.entries()].map(([, child]) => new Promise<void>((r) => {
    if (child.exitCode !== null) return r();
    child.once('exit', () => r());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  }));
  await Promise.all(exits);
  if (stack) {
    say('stopping Kafka and the registry...');
    await stack.stop();
  }
  say('stopped; nothing left running');
  process.exit(code);
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  const started = Date.now();
  if (process.env['KAFKA_BROKERS'] && process.env['SCHEMA_REGISTRY_URL']) {
    say(`using Kafka at ${BROKERS} and the registry at ${REGISTRY}`);
    await Promise.all([waitForKafka(BROKERS), waitForRegistry(REGISTRY)]);
  } else {
    say('starting Kafka (KRaft) and Apicurio Registry...');
    try {
      // Detached: the broker must outlive Ctrl-C until the services have drained into it;
      // shutdown stops it last.
      stack = await startStack({ ...DEFAULT_STACK, detached: true });
    } catch (err) {
      if (!(err instanceof StackAlreadyRunningError)) throw err;
      say('a local stack started with `make stack-up` is running: using it (it keeps running after Ctrl-C)');
      await Promise.all([waitForKafka(BROKERS), waitForRegistry(REGISTRY)]);
    }
  }
  say(`Kafka ready at ${BROKERS}; registry ready at ${REGISTRY}`);
  await run(['services/schemas-tool/src/cli.ts', 'register'], shared);
  for (const s of services) {
    if (!existsSync(join(ROOT, s.script))) continue;
    startChild(s.name, s.script, s.env);
    await waitReady(s.ready);
    say(`${s.name} ready`);
  }
  say(`everything ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Where to look:`);
  for (const s of services) if (existsSync(join(ROOT, s.script))) say(`  ${s.where}`);
  say('feeding shopper journeys (with bots, duplicates, late webhooks and invalid checkouts); Ctrl-C stops everything');
  startChild('feed', 'scripts/demo/feed.ts', {});
}

main().catch((err: Error) => {
  process.stderr.write(`[dev] ${err.message}\n`);
  void shutdown(1);
});

process.on('exit', () => {
  for (const child of children.values()) child.kill('SIGKILL');
  if (stack) signalStackSync(DEFAULT_STACK.name);
});
