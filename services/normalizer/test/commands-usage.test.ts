import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectHelp, expectUsageError } from '../../../test/support/command-usage.ts';
import { QUARANTINE_REASON_CODES, isQuarantineReasonCode } from '../src/quarantine-reasons.ts';
import { decodeReason } from '../src/kafka/raw-decoder.ts';
import { REASON } from '../src/stages/validate.ts';
import { SerdeError } from '@cio-pipeline/core';

const REPLAY = 'services/normalizer/src/commands/replay-quarantine.ts';
const BACKFILL = 'services/normalizer/src/commands/backfill.ts';

describe('replay-quarantine command line', () => {
  it('answers --help with the usage and the reason codes, exit 0', () => {
    const r = expectHelp(REPLAY, 'usage: replay-quarantine.ts');
    for (const code of QUARANTINE_REASON_CODES) expect(r.stdout).toContain(code);
  });

  it('exits 2 on an unknown flag, a missing value, a bad time or an unknown reason', () => {
    expectUsageError(REPLAY, ['--nope'], /^replay-quarantine: .*--nope/);
    expectUsageError(REPLAY, ['--reason'], /^replay-quarantine: .*--reason/);
    expectUsageError(REPLAY, ['--since', 'yesterday'], /^replay-quarantine: .*--since/);
    expectUsageError(REPLAY, ['--reason', 'unknown_event'], /^replay-quarantine: --reason "unknown_event" is not a quarantine reason code/);
  });
});

describe('backfill command line', () => {
  it('answers --help with exit 0', () => {
    expectHelp(BACKFILL, 'usage: backfill.ts --file');
  });

  it('exits 2 on an unknown flag, no --file or a file that cannot be read', () => {
    expectUsageError(BACKFILL, ['--nope'], /^backfill: .*--nope/);
    expectUsageError(BACKFILL, [], /^backfill: --file is required/);
    expectUsageError(BACKFILL, ['--file', '/nonexistent/orders.jsonl'], /^backfill: cannot read --file \/nonexistent\/orders.jsonl: ENOENT/);
  });
});

describe('quarantine reason codes', () => {
  it('lists every code the stages write', () => {
    for (const code of Object.values(REASON)) expect(isQuarantineReasonCode(code), code).toBe(true);
    for (const code of ['SERDE_UNKNOWN_SCHEMA', 'SERDE_INCOMPATIBLE', 'SERDE_CORRUPT'] as const) {
      const reason = decodeReason(new SerdeError(code, 'x'));
      expect(isQuarantineReasonCode(reason), reason).toBe(true);
    }
  });

  it('lists the codes written outside the stateless stages (pipeline, ingest rejections)', () => {
    const pipeline = readFileSync(new URL('../src/stages/pipeline.ts', import.meta.url), 'utf8');
    const segment = readFileSync(new URL('../../ingest/src/segment.ts', import.meta.url), 'utf8');
    const written = [...`${pipeline}\n${segment}`.matchAll(/code: '([a-z_]+)'/g)].map((m) => m[1]!);
    expect(written.length).toBeGreaterThan(0);
    for (const code of written) expect(isQuarantineReasonCode(code), code).toBe(true);
  });

  it('has no duplicates', () => {
    expect(new Set(QUARANTINE_REASON_CODES).size).toBe(QUARANTINE_REASON_CODES.length);
  });
});
