/**
 * One meaning of the replay commands' time window (#15): `--since` inclusive, `--until` exclusive,
 * in the quarantine replay and the DLQ replay alike, and said so in both commands' --help.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { inTimeWindow, parseTimeWindow } from '@cio-pipeline/core';
import type { QuarantineRecord } from '@cio-pipeline/core/generated/avro-types';
import { matches } from '../services/normalizer/src/commands/replay-quarantine.ts';
import { matchesFilter } from '../services/sink/src/dlq-replayer.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const A = Date.parse('2026-11-20T00:00:00Z');
const B = Date.parse('2026-11-21T00:00:00Z');

const quarantined = (t: number): QuarantineRecord => ({
  quarantined_at: t, source: 'app', source_topic: 'raw.app', source_partition: 0, source_offset: '0', source_key: null,
  event_name: 'order_completed', tier: 1, tracking_version: '1', reasons: [{ code: 'missing_required', field: 'order_id', message: 'missing' }], original: Buffer.from('{}'),
});
const deadLetter = (t: number) => ({ reason: 'rejected', event_name: 'order_completed', dead_lettered_at: t });

describe('--since and --until', () => {
  it('mean since <= t < until in both replay commands', () => {
    const window = parseTimeWindow({ since: new Date(A).toISOString(), until: new Date(B).toISOString() }).window;
    for (const [t, expected] of [[A - 1, false], [A, true], [B - 1, true], [B, false]] as const) {
      expect(inTimeWindow(t, window)).toBe(expected);
      expect(matches(quarantined(t), window)).toBe(expected);
      expect(matchesFilter(deadLetter(t), window)).toBe(expected);
    }
  });

  it('replays consecutive windows without overlap or gap', () => {
    const times = [A, A + 1, B - 1, B, B + 1];
    const first = times.filter((t) => matches(quarantined(t), { since: A, until: B }));
    const second = times.filter((t) => matches(quarantined(t), { since: B }));
    expect([...first, ...second]).toEqual(times);
  });

  it('refuses an empty or reversed window and a date it cannot read', () => {
    expect(parseTimeWindow({ since: '2026-11-21T00:00:00Z', until: '2026-11-20T00:00:00Z' }).problems).toEqual(['--since must be before --until']);
    expect(parseTimeWindow({ since: 'yesterday' }).problems).toEqual(['--since must be an ISO date-time, got "yesterday"']);
  });

  it('is documented in each command\'s --help', () => {
    for (const script of ['services/normalizer/src/commands/replay-quarantine.ts', 'services/sink/src/replay.ts']) {
      const run = spawnSync(process.execPath, [script, '--help'], { cwd: REPO, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toContain('--since ISO (inclusive) and --until ISO (exclusive)');
    }
  });
});
