import { describe, it } from 'vitest';
import { expectHelp, expectUsageError } from '../../../test/support/command-usage.ts';

const REPLAY = 'services/sink/src/replay.ts';

describe('sink DLQ replay command line', () => {
  it('answers --help with exit 0', () => {
    expectHelp(REPLAY, 'usage: replay.ts');
  });

  it('exits 2 on an unknown flag, a missing value, a bad reason or a bad time', () => {
    expectUsageError(REPLAY, ['--nope'], /^replay: .*--nope/);
    expectUsageError(REPLAY, ['--event'], /^replay: .*--event/);
    expectUsageError(REPLAY, ['--reason', 'lost'], /^replay: --reason must be one of rejected, parked/);
    expectUsageError(REPLAY, ['--until', 'tomorrow'], /^replay: .*--until/);
  });
});
