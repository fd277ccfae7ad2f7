import { describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { createLogger } from '@cio-pipeline/core';
import { TransactionalProcessor, UnitOfWorkError, type ProcessorOptions } from '../src/kafka/transactional-processor.ts';
import { DiskStoreError } from '../src/state/disk/errors.ts';

/**
 * A unit's failure rolls back its state and that of every unit applied after it, which must then
 * fail too, never commit. Here the rollback itself throws, as it does once a local store has
 * failed a write and refuses use: the later unit must still fail, and the service must end. No
 * broker: the units reach `finishUnit` with nothing to send, so no transaction is begun.
 */
const logger = createLogger('processor-rollback-test', 'silent');

describe('a rollback that throws', () => {
  it('still fails the units applied after the failed one, and ends the service once', async () => {
    const commits: unknown[] = [];
    const fatal: Error[] = [];
    const refused = new DiskStoreError('DISK_STORE_UNUSABLE', 'the state store failed to commit earlier');
    const processor = new TransactionalProcessor({
      kafka: {} as Kafka, groupId: 'g', topics: { raw: ['raw.app'], canonical: 'c', quarantine: 'q', conflicts: 'x' }, logger,
      maxRecordsPerTransaction: 500, sweepIntervalMs: 60_000, catchUpTimeoutMs: 1_000,
      state: {
        rollback: () => { throw refused; },
        commit: (positions: unknown) => { commits.push(positions); return undefined; },
      },
      tables: { remotePending: 0, handledPositions: () => new Map() },
      onFatal: (err: Error) => fatal.push(err),
    } as unknown as ProcessorOptions);
    const finishUnit = (processor as unknown as { finishUnit: (...args: unknown[]) => Promise<void> }).finishUnit.bind(processor);
    const nothing = { canonical: [], quarantine: [], conflicts: [], audit: [], changelog: [], afterCommit: [] };
    const order = () => ({ before: null, offsetsSent: { resolve: () => undefined, reject: () => undefined }, sentBefore: Promise.resolve(), markSent: () => undefined });

    // Both units applied while no rollback had happened (rollbacks 0); the first failed deciding.
    const first = finishUnit('raw.app:0', 0, nothing, null, { previous: Promise.resolve(), rollbacks: 0, decideError: new Error('injected: stage failed') }, order());
    await expect(first).rejects.toBeInstanceOf(UnitOfWorkError);
    const later = finishUnit('raw.app:1', 0, nothing, null, { previous: Promise.resolve(), rollbacks: 0, decideError: null }, order());
    await expect(later).rejects.toThrow(/a unit of work applied before this one failed/);
    expect(commits).toEqual([]);
    expect(fatal).toEqual([refused]);
  });
});
