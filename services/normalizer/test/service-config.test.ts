import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadTrackingPlan } from '@cio-pipeline/core';
import { loadServiceConfig } from '../src/service-config.ts';
import { createStateConfig } from '../src/state/config.ts';

/** Every problem the configuration reports at once, as one text (a ConfigError is required). */
function configProblems(env: Record<string, string>): string {
  try {
    loadServiceConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.join('\n');
  }
  throw new Error('expected a ConfigError');
}

describe('loadServiceConfig: state restore budgets', () => {
  it('gives a restore 30 minutes and a catch-up 1 minute by default', () => {
    const c = loadServiceConfig({});
    expect(c.restoreTimeoutMs).toBe(1_800_000);
    expect(c.catchUpTimeoutMs).toBe(60_000);
  });

  it('reads both budgets', () => {
    const c = loadServiceConfig({ NORMALIZER_RESTORE_TIMEOUT_MS: '7200000', NORMALIZER_CATCH_UP_TIMEOUT_MS: '15000' });
    expect([c.restoreTimeoutMs, c.catchUpTimeoutMs]).toEqual([7_200_000, 15_000]);
  });

  it('refuses budgets too short to mean anything, reporting both at once', () => {
    const problems = configProblems({ NORMALIZER_RESTORE_TIMEOUT_MS: '10', NORMALIZER_CATCH_UP_TIMEOUT_MS: 'soon' });
    expect(problems).toContain('NORMALIZER_RESTORE_TIMEOUT_MS');
    expect(problems).toContain('NORMALIZER_CATCH_UP_TIMEOUT_MS');
  });
});

describe('loadServiceConfig: heap growth during a restore to disk', () => {
  it('lets the old generation grow 20% by default, as set, 0 for V8 own, and refuses the rest', () => {
    expect(loadServiceConfig({}).restoreHeapGrowthPercent).toBe(20);
    expect(loadServiceConfig({ NORMALIZER_RESTORE_HEAP_GROWTH_PERCENT: '50' }).restoreHeapGrowthPercent).toBe(50);
    expect(loadServiceConfig({ NORMALIZER_RESTORE_HEAP_GROWTH_PERCENT: '0' }).restoreHeapGrowthPercent).toBe(0);
    for (const bad of ['-1', '1001', '1.5', 'tight']) {
      expect(configProblems({ NORMALIZER_RESTORE_HEAP_GROWTH_PERCENT: bad })).toContain('NORMALIZER_RESTORE_HEAP_GROWTH_PERCENT');
    }
  });
});

describe('loadServiceConfig: changelog fetch size', () => {
  it('fetches 4 MB at a time by default, in MB when set, and refuses 0 or more than 256', () => {
    expect(loadServiceConfig({}).changelogFetchBytes).toBe(4 * 1024 * 1024);
    expect(loadServiceConfig({ NORMALIZER_CHANGELOG_FETCH_MB: '16' }).changelogFetchBytes).toBe(16 * 1024 * 1024);
    expect(configProblems({ NORMALIZER_CHANGELOG_FETCH_MB: '0' })).toContain('NORMALIZER_CHANGELOG_FETCH_MB');
    expect(configProblems({ NORMALIZER_CHANGELOG_FETCH_MB: '257' })).toContain('NORMALIZER_CHANGELOG_FETCH_MB');
  });
});

describe('loadServiceConfig: identity expiry', () => {
  it('expires moment identifiers after 30 days by default, 10,000 per sweep', () => {
    const c = loadServiceConfig({});
    expect([c.state.identityTtlMs, c.state.identityExpiryPerSweep]).toEqual([30 * 86_400_000, 10_000]);
  });

  it('reads the TTL (0 = never) and refuses a sweep that expires nothing', () => {
    expect(loadServiceConfig({ NORMALIZER_IDENTITY_TTL_MS: '0' }).state.identityTtlMs).toBe(0);
    expect(() => loadServiceConfig({ NORMALIZER_IDENTITY_EXPIRY_PER_SWEEP: '0' })).toThrow(/NORMALIZER_IDENTITY_EXPIRY_PER_SWEEP/);
  });
});

describe('loadServiceConfig: group timing', () => {
  it('defaults to a 10 s session, a 1 s heartbeat, a 30 s rebalance and a 2 s retry cap', () => {
    const c = loadServiceConfig({});
    expect([c.sessionTimeoutMs, c.heartbeatIntervalMs, c.rebalanceTimeoutMs, c.kafkaRetryMaxMs]).toEqual([10_000, 1_000, 30_000, 2_000]);
  });

  it('refuses a heartbeat that does not fit three times in the session and a rebalance shorter than it', () => {
    expect(() => loadServiceConfig({ NORMALIZER_SESSION_TIMEOUT_MS: '6000', NORMALIZER_HEARTBEAT_INTERVAL_MS: '2500' })).toThrow(/NORMALIZER_HEARTBEAT_INTERVAL_MS must be at most a third/);
    expect(() => loadServiceConfig({ NORMALIZER_SESSION_TIMEOUT_MS: '20000', NORMALIZER_REBALANCE_TIMEOUT_MS: '10000' })).toThrow(/NORMALIZER_REBALANCE_TIMEOUT_MS must be at least/);
  });
});

describe('loadServiceConfig: one set of state defaults', () => {
  it('an empty environment gives the state config a test builds without overrides (production\'s identity policy)', () => {
    const plan = loadTrackingPlan(new URL('../../../schemas/tracking-plan.yaml', import.meta.url).pathname);
    const fromEnv = createStateConfig(plan, loadServiceConfig({}).state);
    expect(fromEnv).toEqual(createStateConfig(plan));
    expect(fromEnv.fallbackIdentifiers).toEqual(['email', 'shopify_customer_id', 'subscription_customer_id']);
    expect(fromEnv.completenessEvents).toEqual(['order_completed', 'checkout_started']);
  });

  it('NORMALIZER_COMPLETENESS_EVENTS replaces the plan\'s guard anchors', () => {
    expect(loadServiceConfig({ NORMALIZER_COMPLETENESS_EVENTS: 'order_completed' }).state.completenessEvents).toEqual(['order_completed']);
  });
});

describe('loadServiceConfig: audit records', () => {
  it('writes them by default, kept 7 days, in one partition', () => {
    const c = loadServiceConfig({});
    expect([c.audit, c.auditRetentionMs, c.auditPartitions]).toEqual([true, 7 * 86_400_000, 1]);
  });

  it('reads the switch and the retention, and refuses anything but on or off', () => {
    const c = loadServiceConfig({ NORMALIZER_AUDIT: 'off', NORMALIZER_AUDIT_RETENTION_MS: '86400000' });
    expect([c.audit, c.auditRetentionMs]).toEqual([false, 86_400_000]);
    expect(() => loadServiceConfig({ NORMALIZER_AUDIT: 'maybe' })).toThrow(/NORMALIZER_AUDIT/);
    expect(() => loadServiceConfig({ NORMALIZER_AUDIT_PARTITIONS: '0' })).toThrow(/NORMALIZER_AUDIT_PARTITIONS/);
  });
});

describe('loadServiceConfig: state on local disk', () => {
  it('keeps the state in memory when NORMALIZER_STATE_DIR is unset', () => {
    expect(loadServiceConfig({}).stateDisk).toBeNull();
  });

  it('reads the directory, the block cache in MB, the read cache entries, the written-keys filter in MB and compression', () => {
    const c = loadServiceConfig({
      NORMALIZER_STATE_DIR: '/var/lib/normalizer', NORMALIZER_STATE_BLOCK_CACHE_MB: '128', NORMALIZER_STATE_READ_CACHE_ENTRIES: '50000', NORMALIZER_STATE_WRITTEN_KEYS_MB: '0',
      NORMALIZER_STATE_COMPRESSION: 'false',
    });
    expect(c.stateDisk).toEqual({ dir: '/var/lib/normalizer', blockCacheBytes: 128 * 1024 * 1024, readCacheEntries: 50_000, writtenKeysFilterBytes: 0, compression: false });
    const defaults = loadServiceConfig({ NORMALIZER_STATE_DIR: '/var/lib/normalizer' }).stateDisk;
    expect([defaults?.writtenKeysFilterBytes, defaults?.compression]).toEqual([64 * 1024 * 1024, true]);
  });

  it('refuses a cache below 1 MB, a negative read cache and a negative filter, even without a directory, reporting all', () => {
    const problems = configProblems({ NORMALIZER_STATE_BLOCK_CACHE_MB: '0', NORMALIZER_STATE_READ_CACHE_ENTRIES: '-1', NORMALIZER_STATE_WRITTEN_KEYS_MB: '-1' });
    expect(problems).toContain('NORMALIZER_STATE_BLOCK_CACHE_MB');
    expect(problems).toContain('NORMALIZER_STATE_READ_CACHE_ENTRIES');
    expect(problems).toContain('NORMALIZER_STATE_WRITTEN_KEYS_MB');
  });
});

describe('loadServiceConfig: record workers and transactions (issue 18)', () => {
  it('decodes on every core but one, in units of up to 2,000 records, units of three partitions overlapping, one unit of each in flight', () => {
    const c = loadServiceConfig({});
    expect(c.workers).toBe(Math.max(1, availableParallelism() - 1));
    expect([c.maxRecordsPerTransaction, c.partitionsConsumedConcurrently, c.producersPerPartition]).toEqual([2_000, 3, 1]);
    expect(loadServiceConfig({ NORMALIZER_PRODUCERS_PER_PARTITION: '2' }).producersPerPartition).toBe(2);
    expect(() => loadServiceConfig({ NORMALIZER_PRODUCERS_PER_PARTITION: '0' })).toThrow(/NORMALIZER_PRODUCERS_PER_PARTITION/);
  });

  it('runs the stages in-thread with 0 workers, and refuses a negative count', () => {
    expect(loadServiceConfig({ NORMALIZER_WORKERS: '0' }).workers).toBe(0);
    expect(() => loadServiceConfig({ NORMALIZER_WORKERS: '-1' })).toThrow(/NORMALIZER_WORKERS/);
  });
});
