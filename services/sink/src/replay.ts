/**
 * Replays dead letters from sink.dlq back into events.canonical once their cause is fixed.
 *
 *   node services/sink/src/replay.ts [--reason rejected|parked|undecodable|attribute_rejected] [--event NAME]
 *                                    [--since ISO] [--until ISO] [--dry-run]
 *
 * `--since` is inclusive and `--until` exclusive (dead_lettered_at), as in the quarantine replay.
 *
 * Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, TOPIC_PREFIX (as the sink). Progress on stderr, the
 * summary on stdout. Exit 0 done, 1 errors (undecodable DLQ records, Kafka failure), 2 bad usage.
 */
import {
  ProgressBar, TIME_WINDOW_HELP, commandLineOrExit, configOrExit, createKafka, createLogger, exitWithUsageError, parseTimeWindow,
} from '@cio-pipeline/core';
import { loadReplayConfig } from './config.ts';
import { replayDeadLetters, type ReplayFilter, type ReplayProgress } from './dlq-replayer.ts';

const REASONS = ['rejected', 'parked', 'undecodable', 'attribute_rejected'] as const;
const USAGE = `usage: replay.ts [--reason rejected|parked|undecodable|attribute_rejected] [--event NAME] [--since ISO] [--until ISO] [--dry-run]
  ${TIME_WINDOW_HELP} (dead_lettered_at)`;

const COMMAND = { name: 'replay', usage: USAGE };

function parseFilter(argv: string[]): { filter: ReplayFilter; dryRun: boolean } {
  const { values } = commandLineOrExit(COMMAND, argv, {
    reason: { type: 'string' },
    event: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  });
  const { window, problems } = parseTimeWindow(values);
  const filter: ReplayFilter = { ...window };
  if (values.reason !== undefined) {
    if (!(REASONS as readonly string[]).includes(values.reason)) problems.push(`--reason must be one of ${REASONS.join(', ')}`);
    filter.reason = values.reason;
  }
  if (values.event !== undefined) filter.event = values.event;
  if (problems.length > 0) exitWithUsageError(COMMAND.name, problems.join('; '));
  return { filter, dryRun: values['dry-run'] };
}

const { filter, dryRun } = parseFilter(process.argv.slice(2));
const config = configOrExit(COMMAND.name, () => loadReplayConfig(process.env));
const logger = createLogger('sink-replay', config.logLevel, process.stderr);
const kafka = createKafka({ brokers: config.brokers, clientId: config.clientId, logger });
const bar = new ProgressBar('replay', 0);
let last: ReplayProgress | undefined;
const showProgress = (p: ReplayProgress): void => {
  last = p;
  bar.setTotal(p.total);
  bar.update(p.read, `matched ${p.matched}`);
};
const endProgress = (): void => {
  if (last) bar.finish(last.read, `matched ${last.matched}`);
};
try {
  const summary = await replayDeadLetters({
    kafka,
    registryUrl: config.registryUrl,
    topics: { dlq: config.topics.dlq, canonical: config.topics.canonical },
    filter,
    dryRun,
    logger,
    onProgress: showProgress,
  });
  endProgress();
  process.stdout.write(`${dryRun ? 'dry run: ' : ''}read ${summary.read}, matched ${summary.matched}, replayed ${summary.replayed}, errors ${summary.errors}\n`);
  process.exit(summary.errors > 0 ? 1 : 0);
} catch (err) {
  endProgress();
  process.stderr.write(`replay failed: ${(err as Error).message}\n`);
  process.exit(1);
}
