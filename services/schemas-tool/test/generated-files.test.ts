// The checked-in generated files must match their sources: this is what makes `make test` fail
// when someone edits an .avsc or the tracking plan and forgets to regenerate.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderDocs, renderTypes } from '../src/commands.ts';
import { loadConfig, REPO_ROOT } from '../src/config.ts';

const config = loadConfig({});

describe('checked-in generated files', () => {
  it('packages/core/src/generated/avro-types.ts is up to date (npm run schemas -- codegen)', () => {
    expect(readFileSync(join(REPO_ROOT, 'packages/core/src/generated/avro-types.ts'), 'utf8')).toBe(renderTypes(config));
  });

  it('docs/tracking-plan.md is up to date (npm run schemas -- docs)', () => {
    expect(readFileSync(join(REPO_ROOT, 'docs/tracking-plan.md'), 'utf8')).toBe(renderDocs(config));
  });
});
