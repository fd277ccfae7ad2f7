import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChangelogRecord } from '../../../src/state/changelog.ts';
import { ColdRestore } from '../../../src/state/cold-restore/cold-restore.ts';
import { createDiskStoreConfig } from '../../../src/state/disk/config.ts';
import { LocalState } from '../../../src/state/local-state.ts';
import { createStateStage, createStateStores } from '../../../src/state/state-stage.ts';
import { arrival, config, journey, summary } from '../journey.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function newDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cold-restore-test-'));
  dirs.push(dir);
  return dir;
}

describe('cold restore in a worker thread', () => {
  it('writes a store that decides the rest of the journey as a stage restored in memory does, at the positions handed over', async () => {
    // The changelog of the journey's first half, as the topics would hold it.
    const cut = 5;
    const writer = createStateStage(config());
    const changes: ChangelogRecord[] = journey.slice(0, cut).flatMap((c) => writer.apply([c], arrival(c)).changes);
    expect(changes.some((r) => r.key.startsWith('h:'))).toBe(true); // a held event is among them

    const dir = newDir();
    const disk = createDiskStoreConfig({ dir });
    const worker = await ColdRestore.start({ disk, state: config() });
    const half = Math.ceil(changes.length / 2);
    await worker.apply(changes.slice(0, half), new Map([['state.identity:0', 10n]]));
    await worker.apply(changes.slice(half), new Map([['state.identity:0', 20n], ['state.journey:1', 3n]]));
    await worker.finish();

    const local = await LocalState.open(disk);
    try {
      expect(local.offsets()).toEqual(new Map([['state.identity:0', 20n], ['state.journey:1', 3n]]));
      const onDisk = createStateStage(config(), createStateStores(config(), local), local);
      await local.load(Object.values(onDisk.stores));
      const inMemory = createStateStage(config());
      inMemory.restore(changes);
      for (const c of journey.slice(cut)) {
        const expected = inMemory.apply([c], arrival(c));
        expect(summary(onDisk.apply([c], arrival(c)))).toEqual(summary(expected));
        await onDisk.commit();
      }
      expect(onDisk.stats()).toEqual(inMemory.stats());
    } finally {
      await local.close();
    }
  });

  it('fails with COLD_RESTORE_FAILED, naming the store error, when the worker cannot open the store', async () => {
    const disk = createDiskStoreConfig({ dir: newDir() });
    const holder = await LocalState.open(disk); // LevelDB's lock: the worker's open is refused
    try {
      const failure = await ColdRestore.start({ disk, state: config() }).then(() => null, (e: unknown) => e);
      expect(failure).toMatchObject({ code: 'COLD_RESTORE_FAILED', retryable: true });
      expect((failure as Error).message).toContain('DISK_STORE_LOCKED');
    } finally {
      await holder.close();
    }
  });
});
