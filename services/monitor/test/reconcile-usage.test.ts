import { relative } from 'node:path';
import { describe, it } from 'vitest';
import { expectHelp, expectUsageError } from '../../../test/support/command-usage.ts';
import { BACKFILL_ENTRY } from '../src/reconcile/backfill-runner.ts';

describe('reconcile command line', () => {
  const CLI = 'services/monitor/src/reconcile/cli.ts';
  const EXPORT = 'test/fixtures/shopify/orders-create.json'; // any readable file: usage is judged before it is read

  it('answers --help with exit 0', () => {
    expectHelp(CLI, 'usage: reconcile --orders FILE');
  });

  it('exits 2 on a missing or unreadable export, a bad day, an inverted window or an unknown zone', () => {
    expectUsageError(CLI, [], /^reconcile: --orders is required/);
    expectUsageError(CLI, ['--nope'], /^reconcile: .*--nope/);
    expectUsageError(CLI, ['--orders', '/no/such/orders.jsonl'], /^reconcile: cannot read --orders .*ENOENT/);
    expectUsageError(CLI, ['--orders', EXPORT, '--since', '2026-02-30'], /^reconcile: --since must be a day/);
    expectUsageError(CLI, ['--orders', EXPORT, '--since', '2026-11-21', '--until', '2026-11-20'], /^reconcile: --since must be before --until/);
    expectUsageError(CLI, ['--orders', EXPORT, '--timezone', 'Mars/Olympus'], /^reconcile: --timezone must be an IANA zone/);
  });


  it('--backfill runs the normalizer\'s backfill entry, which is where reconcile looks for it', () => {
    expectHelp(relative(new URL('../../../', import.meta.url).pathname, BACKFILL_ENTRY), 'usage: backfill.ts');
  });
});
