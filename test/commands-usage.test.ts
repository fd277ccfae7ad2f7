import { describe, it } from 'vitest';
import { expectHelp, expectUsageError } from './support/command-usage.ts';

describe('demo feed command line', () => {
  const FEED = 'scripts/demo/feed.ts';

  it('answers --help with exit 0 (no stack trace, no traffic sent)', () => {
    expectHelp(FEED, 'usage: feed.ts');
  });

  it('exits 2 on an unknown flag or a bad value', () => {
    expectUsageError(FEED, ['--nope'], /^demo-feed: .*--nope/);
    expectUsageError(FEED, ['--shoppers-per-second', '0'], /^demo-feed: --shoppers-per-second must be a number above 0/);
    expectUsageError(FEED, ['--limit', 'ten'], /^demo-feed: --limit must be a whole number/);
    expectUsageError(FEED, ['--ingest', 'not a url'], /^demo-feed: --ingest must be a URL/);
  });
});

describe('local-stack command line', () => {
  const STACK = 'scripts/local-stack.ts';

  it('answers --help with exit 0', () => {
    expectHelp(STACK, 'usage: local-stack.ts');
  });

  it('exits 2 on an unknown command or extra arguments', () => {
    expectUsageError(STACK, ['bogus'], /^\[local-stack\] unknown command "bogus"/);
    expectUsageError(STACK, ['start', 'now'], /^\[local-stack\] expected one command/);
  });
});

describe('trace command line', () => {
  const TRACE = 'services/monitor/src/trace/cli.ts';

  it('answers --help with exit 0', () => {
    expectHelp(TRACE, 'usage: trace.ts');
  });

  it('exits 2 without an identifier, on an unknown flag or a bad URL', () => {
    expectUsageError(TRACE, [], /^trace: expected exactly one identifier/);
    expectUsageError(TRACE, ['a', 'b'], /^trace: expected exactly one identifier/);
    expectUsageError(TRACE, ['a', '--nope'], /^trace: .*--nope/);
    expectUsageError(TRACE, ['a', '--monitor-url', 'ftp://x'], /^trace: --monitor-url must be an http\(s\) URL/);
    expectUsageError(TRACE, ['a', '--monitor-url', 'http://x', '--index-dir', '/tmp'], /^trace: give --monitor-url or --index-dir, not both/);
  });
});
