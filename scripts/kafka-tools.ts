/**
 * Kafka 4's command-line tools from the local stack's jars (org.apache.kafka:kafka-tools), against
 * any broker: `make topics`, `make groups`, or directly
 *
 *   node scripts/kafka-tools.ts topics|groups|transactions [tool arguments...]
 *
 * `--bootstrap-server` comes from KAFKA_BROKERS (default 127.0.0.1:9092) unless given. Needs Java
 * and `make stack-fetch`; exits with the tool's exit code.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const KAFKA_LIB = join(ROOT, '.stack/lib/kafka');

export const KAFKA_TOOLS = {
  topics: 'org.apache.kafka.tools.TopicCommand',
  groups: 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
  transactions: 'org.apache.kafka.tools.TransactionsCommand',
} as const;
export type KafkaTool = keyof typeof KAFKA_TOOLS;

export function isKafkaTool(name: string): name is KafkaTool {
  return Object.hasOwn(KAFKA_TOOLS, name);
}

/** The java command line for a tool; `--bootstrap-server` is added unless `args` has one. */
export function kafkaToolCommand(tool: KafkaTool, brokers: string, args: readonly string[]): string[] {
  const bootstrap = args.includes('--bootstrap-server') ? [] : ['--bootstrap-server', brokers];
  // TransactionsCommand takes its options before the sub-command (`describe`, `list`...).
  const toolArgs = tool === 'transactions' ? [...bootstrap, ...args] : [...args, ...bootstrap];
  return [
    '-Xms64m', '-Xmx256m', '-XX:TieredStopAtLevel=1',
    `-Dlog4j2.configurationFile=${join(ROOT, 'infra/local-stack/log4j2-cli.properties')}`,
    '-cp', `${KAFKA_LIB}/*`, KAFKA_TOOLS[tool], ...toolArgs,
  ];
}

export interface ToolResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool to completion and returns what it printed (for tests and scripts). */
export function runKafkaTool(tool: KafkaTool, brokers: string, args: readonly string[], timeoutMs = 120_000): ToolResult {
  const result = spawnSync('java', kafkaToolCommand(tool, brokers, args), { encoding: 'utf8', timeout: timeoutMs });
  if (result.error) throw new Error(`could not run ${KAFKA_TOOLS[tool]} (is Java installed, and \`make stack-fetch\` done?): ${result.error.message}`);
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

function main(): void {
  const [tool, ...args] = process.argv.slice(2);
  if (tool === undefined || !isKafkaTool(tool)) {
    process.stderr.write(`usage: node scripts/kafka-tools.ts ${Object.keys(KAFKA_TOOLS).join('|')} [arguments of the Kafka tool]\n`);
    process.exitCode = 2;
    return;
  }
  const brokers = process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092';
  const result = spawnSync('java', kafkaToolCommand(tool, brokers, args), { stdio: 'inherit' });
  if (result.error) {
    process.stderr.write(`could not run java: ${result.error.message}\n`);
    process.exitCode = 1;
    return;
  }
  process.exitCode = result.status ?? 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
