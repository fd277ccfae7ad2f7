import { DEFAULT_SCHEMA_REGISTRY_URL } from '@cio-pipeline/core';
import { describe, expect, it } from 'vitest';
import { expectHelp, expectUsageError } from '../../../test/support/command-usage.ts';

const CLI = 'services/schemas-tool/src/cli.ts';

describe('schemas command line', () => {
  it('answers --help with exit 0, naming the registry default the tool uses', () => {
    const r = expectHelp(CLI, 'usage: schemas');
    expect(r.stdout).toContain(`default ${DEFAULT_SCHEMA_REGISTRY_URL})`);
  });

  it('exits 2 on an unknown flag, a missing value or no command', () => {
    expectUsageError(CLI, ['check', '--nope'], /^schemas: .*--nope/);
    expectUsageError(CLI, ['check', '--registry'], /^schemas: .*--registry/);
    expectUsageError(CLI, [], /^schemas: no command given/);
  });
});
