/**
 * The local stack without Docker: an Apache Kafka broker (KRaft, one node, broker and controller
 * combined) and Apicurio Registry (Confluent-compatible API, its state kept in a topic of that
 * broker), fetched from Maven Central through infra/local-stack/pom.xml (scripts/stack-fetch.ts)
 * and run on the installed Java, on loopback.
 *
 *   node scripts/local-stack.ts fetch | start | stop | status | wait | wipe
 *
 * Each stack has a name (`dev` by default) and lives under .stack/<name>/ (data, logs, pids), so the
 * test run's stack never touches the one `make dev` runs. Readiness is real: a metadata request that
 * succeeds on the broker, a schema-registry endpoint that answers. Never a fixed sleep.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KAFKA_LIB, apicurioJar, fetchStack } from './stack-fetch.ts';
import { delay, freePort, waitForKafka, waitForRegistry } from './stack-probes.ts';

export { fetchStack, freePort, waitForKafka, waitForRegistry };

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const STACK_DIR = join(ROOT, '.stack');

export interface StackOptions {
  name: string;
  kafkaPort: number;
  controllerPort: number;
  registryPort: number;
  /** Kept alive after this process exits (make stack-up) or tied to it (tests, make dev). */
  detached: boolean;
}

export interface RunningStack {
  brokers: string;
  registryUrl: string;
  stop(): Promise<void>;
}

export const DEFAULT_STACK: StackOptions = { name: 'dev', kafkaPort: 9092, controllerPort: 9093, registryPort: 8081, detached: true };

function log(message: string): void {
  process.stderr.write(`[local-stack] ${message}\n`);
}

function stackDir(name: string): string {
  return join(STACK_DIR, name);
}

function writeKafkaConfig(opts: StackOptions, dir: string): string {
  const dataDir = join(dir, 'kafka-data');
  const file = join(dir, 'server.properties');
  writeFileSync(file, [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${opts.controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${opts.kafkaPort},CONTROLLER://127.0.0.1:${opts.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${opts.kafkaPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=3',
    // One node: every internal topic has one replica.
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=10',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'min.insync.replicas=1',
    'default.replication.factor=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    // Small segments keep test data and compaction quick on a laptop-sized machine.
    'log.segment.bytes=67108864',
    'log.retention.check.interval.ms=60000',
    '',
  ].join('\n'));
  return file;
}

function java(args: string[], logFile: string, detached: boolean): ChildProcess {
  const out = openSync(logFile, 'a');
  const child = spawn('java', args, { stdio: ['ignore', out, out], detached });
  closeSync(out);
  if (detached) child.unref();
  return child;
}

function startKafka(opts: StackOptions, dir: string): ChildProcess {
  const config = writeKafkaConfig(opts, dir);
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const classpath = `${KAFKA_LIB}/*`;
  const jvm = ['-Xms256m', '-Xmx768m', `-Dkafka.logs.dir=${logs}`, `-Dlog4j2.configurationFile=${join(ROOT, 'infra/local-stack/log4j2.properties')}`, '-cp', classpath];
  if (!existsSync(join(dir, 'kafka-data', 'meta.properties'))) {
    // A random id; passed as --cluster-id=<id> because base64url may start with '-'.
    const clusterId = randomBytes(16).toString('base64url');
    const format = spawnSync('java', [...jvm, 'kafka.tools.StorageTool', 'format', '--standalone', `--cluster-id=${clusterId}`, '-c', config], { encoding: 'utf8' });
    if (format.status !== 0) throw new Error(`formatting Kafka storage failed:\n${format.stdout}\n${format.stderr}`);
  }
  return java([...jvm, 'kafka.Kafka', config], join(logs, 'kafka.out'), opts.detached);
}

/** The registry's journal topic: every schema, version, id and rule, replayed at each start. */
export const REGISTRY_JOURNAL_TOPIC = '_registry-journal';
export const REGISTRY_SNAPSHOTS_TOPIC = '_registry-snapshots';

function startRegistry(opts: StackOptions, dir: string): ChildProcess {
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  // KafkaSQL storage: the registry's state lives in its journal topic on the stack's own broker (as
  // Confluent's registry keeps `_schemas`), so versions and ids registered through the API survive
  // a restart. Started beside the broker, not after it: its Kafka clients wait for the broker.
  return java([
    // C1 only and a serial collector: the registry answers a few lookups, and JIT threads
    // competing with the broker's own start are what make a busy machine's start slow.
    '-Xms128m', '-Xmx512m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC',
    `-Dquarkus.http.port=${opts.registryPort}`, '-Dquarkus.http.host=127.0.0.1',
    '-Dquarkus.log.level=WARN', '-Dapicurio.rest.deletion.artifact.enabled=true',
    '-Dapicurio.rest.deletion.artifact-version.enabled=true', '-Dapicurio.rest.deletion.group.enabled=true',
    '-Dapicurio.storage.kind=kafkasql',
    `-Dapicurio.kafkasql.bootstrap.servers=127.0.0.1:${opts.kafkaPort}`,
    `-Dapicurio.kafkasql.topic=${REGISTRY_JOURNAL_TOPIC}`,
    `-Dapicurio.kafkasql.snapshots.topic=${REGISTRY_SNAPSHOTS_TOPIC}`,
    // Properties of the topics it creates: the journal is the registry's only copy, kept forever.
    '-Dapicurio.kafkasql.topic.retention.ms=-1', '-Dapicurio.kafkasql.topic.retention.bytes=-1',
    // Its Kafka clients wait up to 5 min for a broker still starting (default 1 min), e.g. on a busy machine.
    '-Dapicurio.kafkasql.admin.default.api.timeout.ms=300000',
    // New subjects get BACKWARD, Confluent's default; schemas/subjects.yaml sets its own levels.
    '-Dapicurio.rules.global.compatibility=BACKWARD',
    '-jar', apicurioJar(),
  ], join(logs, 'registry.out'), opts.detached);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readPid(dir: string, what: string): number | null {
  const file = join(dir, `${what}.pid`);
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8'));
  return Number.isInteger(pid) && isAlive(pid) ? pid : null;
}

export function registryUrlFor(port: number): string {
  return `http://127.0.0.1:${port}/apis/ccompat/v7`;
}

/** The stack (or one of its processes) is already running: callers may use it instead of starting one. */
export class StackAlreadyRunningError extends Error {
  readonly code = 'STACK_ALREADY_RUNNING';
}

/** Starts broker and registry in parallel and resolves once both answer. */
export async function startStack(opts: StackOptions): Promise<RunningStack> {
  fetchStack();
  const dir = stackDir(opts.name);
  mkdirSync(dir, { recursive: true });
  const brokers = `127.0.0.1:${opts.kafkaPort}`;
  const registryUrl = registryUrlFor(opts.registryPort);
  if (readPid(dir, 'kafka') !== null || readPid(dir, 'registry') !== null) {
    throw new StackAlreadyRunningError(`stack "${opts.name}" is already running (node scripts/local-stack.ts stop)`);
  }
  const started = Date.now();
  const kafka = startKafka(opts, dir);
  let registry = startRegistry(opts, dir);
  writeFileSync(join(dir, 'kafka.pid'), String(kafka.pid));
  writeFileSync(join(dir, 'registry.pid'), String(registry.pid));
  const stop = (): Promise<void> => stopStack(opts.name);
  try {
    const kafkaReady = waitForKafka(brokers, 120_000, () => kafka.exitCode === null && isAlive(kafka.pid ?? -1));
    await Promise.all([
      kafkaReady.then(() => log(`Kafka ready at ${brokers} in ${Date.now() - started} ms`)),
      // The registry keeps its state in the broker, so its wait starts once the broker is ready.
      // Both JVMs boot side by side; on a machine so busy that the broker took longer than the
      // registry's Kafka clients wait, the registry has given up: start it again, now that Kafka answers.
      kafkaReady.then(async () => {
        if (registry.exitCode !== null || !isAlive(registry.pid ?? -1)) {
          log('the registry gave up waiting for Kafka; starting it again');
          registry = startRegistry(opts, dir);
          writeFileSync(join(dir, 'registry.pid'), String(registry.pid));
        }
        const kafkaAt = Date.now();
        await waitForRegistry(registryUrl, 120_000, () => registry.exitCode === null && isAlive(registry.pid ?? -1));
        log(`registry ready at ${registryUrl} in ${Date.now() - started} ms (${Date.now() - kafkaAt} ms after Kafka)`);
      }),
    ]);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\nlogs: ${join(dir, 'logs')}`);
  }
  return { brokers, registryUrl, stop };
}

/** Stops both processes: SIGTERM, then SIGKILL if they have not exited within 15 s. */
export async function stopStack(name: string): Promise<void> {
  const dir = stackDir(name);
  for (const what of ['registry', 'kafka']) {
    const pid = readPid(dir, what);
    if (pid === null) continue;
    try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    const deadline = Date.now() + 15_000;
    while (isAlive(pid) && Date.now() < deadline) await delay(100);
    if (isAlive(pid)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    rmSync(join(dir, `${what}.pid`), { force: true });
  }
}

async function stopOne(name: string, what: 'kafka' | 'registry', signal: NodeJS.Signals): Promise<void> {
  const dir = stackDir(name);
  const pid = readPid(dir, what);
  if (pid === null) return;
  try { process.kill(pid, signal); } catch { /* already gone */ }
  const deadline = Date.now() + 30_000;
  while (isAlive(pid) && Date.now() < deadline) await delay(50);
  if (isAlive(pid)) throw new Error(`${what} (pid ${pid}) did not exit after ${signal}`);
  rmSync(join(dir, `${what}.pid`), { force: true });
}

/**
 * Stops only the broker of a running stack (the registry keeps running), e.g. to test an outage.
 * SIGKILL by default: a crash, not a clean shutdown. Resolves once the process is gone.
 */
export function stopKafka(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  return stopOne(name, 'kafka', signal);
}

/** Stops only the registry of a running stack (a crash by default), e.g. to test that schemas survive. */
export function stopRegistry(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  return stopOne(name, 'registry', signal);
}

/**
 * Starts the broker of a stack again after `stopKafka`, on the same ports and data directory, and
 * resolves once it is ready. `opts` must be the ones the stack was started with.
 */
export async function restartKafka(opts: StackOptions): Promise<void> {
  const dir = stackDir(opts.name);
  if (readPid(dir, 'kafka') !== null) throw new StackAlreadyRunningError(`Kafka of stack "${opts.name}" is already running`);
  const started = Date.now();
  const kafka = startKafka(opts, dir);
  writeFileSync(join(dir, 'kafka.pid'), String(kafka.pid));
  const brokers = `127.0.0.1:${opts.kafkaPort}`;
  await waitForKafka(brokers, 120_000, () => kafka.exitCode === null && isAlive(kafka.pid ?? -1));
  log(`Kafka restarted at ${brokers} in ${Date.now() - started} ms`);
}

/** Starts the registry of a stack again after `stopRegistry`; it rebuilds its state from its journal topic. */
export async function restartRegistry(opts: StackOptions): Promise<void> {
  const dir = stackDir(opts.name);
  if (readPid(dir, 'registry') !== null) throw new StackAlreadyRunningError(`the registry of stack "${opts.name}" is already running`);
  const started = Date.now();
  const registry = startRegistry(opts, dir);
  writeFileSync(join(dir, 'registry.pid'), String(registry.pid));
  const url = registryUrlFor(opts.registryPort);
  await waitForRegistry(url, 120_000, () => registry.exitCode === null && isAlive(registry.pid ?? -1));
  log(`registry restarted at ${url} in ${Date.now() - started} ms`);
}

/** Signals both processes to stop without waiting: for exit handlers, which cannot await. */
export function signalStackSync(name: string): void {
  const dir = stackDir(name);
  for (const what of ['registry', 'kafka']) {
    const pid = readPid(dir, what);
    if (pid !== null) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    }
  }
}

/** Deletes the stack's data and logs (it must be stopped). */
export function wipeStack(name: string): void {
  const dir = stackDir(name);
  if (readPid(dir, 'kafka') !== null || readPid(dir, 'registry') !== null) {
    throw new Error(`stack "${name}" is running; stop it first`);
  }
  rmSync(dir, { recursive: true, force: true });
}

const USAGE = `usage: local-stack.ts [fetch|start|stop|status|wait|wipe] (default: status)
  fetch    download Kafka and Apicurio from Maven Central (needs Maven and Java)
  start    start the broker and the registry, detached
  stop     stop them
  status   print their process ids
  wait     wait until both answer
  wipe     delete the stopped stack's data and logs
env: STACK_NAME (default ${DEFAULT_STACK.name}); Kafka on 127.0.0.1:${DEFAULT_STACK.kafkaPort}, the registry on 127.0.0.1:${DEFAULT_STACK.registryPort}`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h') || args[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (args.length > 1) {
    log(`expected one command, got "${args.join(' ')}" (--help for usage)`);
    process.exitCode = 2;
    return;
  }
  const command = args[0] ?? 'status';
  const name = process.env['STACK_NAME'] ?? DEFAULT_STACK.name;
  const opts = { ...DEFAULT_STACK, name };
  const dir = stackDir(name);
  switch (command) {
    case 'fetch':
      fetchStack();
      break;
    case 'start':
      await startStack(opts);
      log(`started; stop with: node scripts/local-stack.ts stop`);
      break;
    case 'stop':
      await stopStack(name);
      log('stopped');
      break;
    case 'wait':
      await Promise.all([waitForKafka(`127.0.0.1:${opts.kafkaPort}`), waitForRegistry(registryUrlFor(opts.registryPort))]);
      log('Kafka and the registry are ready');
      break;
    case 'status':
      log(`kafka: ${readPid(dir, 'kafka') ?? 'stopped'}, registry: ${readPid(dir, 'registry') ?? 'stopped'}`);
      break;
    case 'wipe':
      wipeStack(name);
      log(`wiped ${dir}`);
      break;
    default:
      log(`unknown command "${command}": use fetch, start, stop, status, wait or wipe (--help for usage)`);
      process.exitCode = 2;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    log((err as Error).message);
    process.exit(1);
  });
}
