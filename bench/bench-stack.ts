/**
 * What the Kafka benchmarks share: a broker and registry (the ones KAFKA_BROKERS and
 * SCHEMA_REGISTRY_URL name, else a native stack of their own, `bench-norm`, on free ports, removed
 * afterwards), and writing one section of a results file without touching the others.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createKafka, createLogger, type Kafka } from '@cio-pipeline/core';
import { freePort, startStack, wipeStack } from '../scripts/local-stack.ts';

export interface BenchStack {
  brokers: string;
  registryUrl: string;
  kafka: Kafka;
}

/** Runs `fn` against a stack; returns a note saying which one, for the results. */
export async function withBenchStack(fn: (stack: BenchStack) => Promise<void>): Promise<string> {
  const logger = createLogger('bench', 'warn');
  const brokers = process.env['KAFKA_BROKERS'];
  const registryUrl = process.env['SCHEMA_REGISTRY_URL'];
  if (brokers && registryUrl) {
    await fn({ brokers, registryUrl, kafka: createKafka({ brokers: brokers.split(','), clientId: 'bench', logger }) });
    return `Stack: the one at ${brokers}, registry ${registryUrl}.`;
  }
  const name = 'bench-norm';
  const stack = await startStack({ name, kafkaPort: await freePort(), controllerPort: await freePort(), registryPort: await freePort(), detached: false });
  try {
    await fn({ brokers: stack.brokers, registryUrl: stack.registryUrl, kafka: createKafka({ brokers: stack.brokers.split(','), clientId: 'bench', logger }) });
  } finally {
    await stack.stop();
    wipeStack(name);
  }
  return 'Stack: a fresh native one (Kafka 4.x KRaft single node + Apicurio, scripts/local-stack.ts) started by the benchmark.';
}

/**
 * Replaces the section `id` of bench/results/<file> (between HTML comment markers), keeping the
 * other benchmarks' sections, so each benchmark can be rerun on its own.
 */
export async function writeResultSection(file: string, id: string, heading: string, body: string): Promise<void> {
  const dir = new URL('./results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const path = new URL(file, dir);
  const begin = `<!-- ${id}:begin -->`;
  const end = `<!-- ${id}:end -->`;
  const section = `${begin}\n${heading}\n\n${body}\n${end}`;
  let text = existsSync(path) ? readFileSync(path, 'utf8') : '# Normalizer benchmarks\n';
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from !== -1 && to > from) text = text.slice(0, from) + section + text.slice(to + end.length);
  else text = `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(path, text);
}
