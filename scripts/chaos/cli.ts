/**
 * `make chaos`: a fault test against make dev (or a pipeline of its own). See --help.
 * Exit codes: 0 nothing lost, duplicated or reordered; 1 something was, or the run failed; 2 usage.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELP, UsageError, parseOptions, type ChaosOptions } from './options.ts';
import type { ChaosReport } from './run.ts';
import { describeVerdict } from './verdict.ts';

function log(line: string): void {
  process.stderr.write(`[chaos] ${line}\n`);
}

/** Passed: nothing lost, duplicated or reordered, and every event of every person was sent. */
export function passed(report: ChaosReport): boolean {
  return report.ok && report.rejected.length === 0 && report.unsentPeople === 0;
}

async function main(argv: string[]): Promise<number> {
  let options: ChaosOptions | 'help';
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\nrun with --help for the options\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  // Loaded only now: --help and usage errors answer without loading the Kafka client.
  const { runChaos } = await import('./run.ts');
  const report = await runChaos(options, log, process.env);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ passed: passed(report), ...report })}\n`);
  } else {
    process.stdout.write(`${describeVerdict(report, { passed: passed(report), retries: report.retries, durationS: report.durationS })}\n`);
    const { total, rateLimited } = report.cioAnswers;
    process.stdout.write(`  Customer.io (emulator) answers: ${total}, of which 429: ${rateLimited} (${total === 0 ? 0 : ((100 * rateLimited) / total).toFixed(2)}%)\n`);
    if (report.unsentPeople > 0) process.stdout.write(`  ${report.unsentPeople} people did not get all their events accepted\n`);
    if (report.rejected.length > 0) process.stdout.write(`  ${report.rejected.length} events refused by ingest (never retried), e.g.:\n`);
    for (const r of report.rejected.slice(0, 3)) process.stdout.write(`    ${r.person} #${r.seq}: ${r.status} ${r.body}\n`);
  }
  return passed(report) ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Ctrl-C: exit through 'exit' handlers, which stop an own stack's broker tied to this process.
  process.once('SIGINT', () => process.exit(130));
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (err: unknown) => {
    log(`failed: ${(err as Error).message}`);
    process.exitCode = 1;
  });
}
