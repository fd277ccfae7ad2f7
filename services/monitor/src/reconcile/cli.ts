/**
 * npm run reconcile -- --orders orders.jsonl [--since DAY] [--until DAY] [--timezone ZONE] [--backfill] [--json]
 *
 * The store's orders export against what the pipeline did with each order, per day of created_at.
 * Logs on stderr, the report on stdout. Exit 0 done (whatever the numbers), 1 failure (Kafka,
 * registry, a missing topic, backfill), 2 bad usage.
 */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, createKafka, createLogger } from '@cio-pipeline/core';
import { backfillMissing, type BackfillRun } from './backfill-runner.ts';
import { loadReconcileConfig } from './config.ts';
import { jsonLines, table } from './format.ts';
import { reconcile } from './reconcile.ts';
import { dayOf, isDay, missingOrderIds } from './report.ts';

const USAGE = `usage: reconcile --orders FILE [--since DAY] [--until DAY] [--timezone ZONE] [--backfill] [--json]
  --orders    the store's orders export: JSON lines of Shopify orders (Admin API shape), as backfill reads
  --since     first day reported, YYYY-MM-DD (inclusive), by the order's created_at
  --until     day the report stops before, YYYY-MM-DD (exclusive)
  --timezone  IANA zone the days are counted in (default UTC)
  --backfill  send the missing orders through the normal path (the normalizer's backfill), once
  --json      one JSON object per day instead of the table
Reads KAFKA_BROKERS, SCHEMA_REGISTRY_URL, TOPIC_PREFIX and LOG_LEVEL; --backfill also the normalizer's settings.`;

interface Options {
  orders: string;
  since?: string;
  until?: string;
  timeZone: string;
  backfill: boolean;
  json: boolean;
}

function usageError(problem: string): never {
  process.stderr.write(`reconcile: ${problem} (--help for usage)\n`);
  process.exit(2);
}

function parseCommandLine(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        orders: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, timezone: { type: 'string', default: 'UTC' },
        backfill: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    usageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (values.orders === undefined) usageError('--orders is required');
  try {
    if (!statSync(values.orders).isFile()) usageError(`--orders ${values.orders} is not a file`);
  } catch (err) {
    usageError(`cannot read --orders ${values.orders}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  for (const flag of ['since', 'until'] as const) {
    const v = values[flag];
    if (v !== undefined && !isDay(v)) usageError(`--${flag} must be a day, YYYY-MM-DD, got "${v}"`);
  }
  if (values.since !== undefined && values.until !== undefined && values.since >= values.until) usageError('--since must be before --until');
  try {
    dayOf(0, values.timezone);
  } catch {
    usageError(`--timezone must be an IANA zone such as Europe/Paris, got "${values.timezone}"`);
  }
  return { orders: values.orders, since: values.since, until: values.until, timeZone: values.timezone, backfill: values.backfill, json: values.json };
}

async function main(): Promise<void> {
  const opts = parseCommandLine(process.argv.slice(2));
  let config;
  try {
    config = loadReconcileConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`reconcile: ${err.message}\n`);
    process.exit(2);
  }
  const logger = createLogger('reconcile', config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
  const kafka = createKafka({ brokers: config.brokers, clientId: 'reconcile', logger });
  const sources = { kafka, registryUrl: config.registryUrl, topics: config.topics, logger };
  const { report } = await reconcile(opts.orders, sources, opts);

  let backfill: BackfillRun | null = null;
  if (opts.backfill) {
    backfill = await backfillMissing(opts.orders, missingOrderIds(report), { kafka, topics: config.topics, registryUrl: config.registryUrl, logger, env: process.env });
    if (backfill.summary) process.stderr.write(`reconcile: backfill summary ${JSON.stringify(backfill.summary)}\n`);
  }
  process.stdout.write(opts.json ? jsonLines(report, backfill) : table(report, backfill));
}

main().catch((err: Error & { code?: string }) => {
  process.stderr.write(`reconcile failed: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
  process.exit(1);
});
