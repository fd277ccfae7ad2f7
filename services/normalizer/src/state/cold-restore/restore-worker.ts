/**
 * The cold-restore worker thread: applies restored changelog batches to the local store while the
 * main thread fetches and decodes the next ones (cold-restore.ts). Everything here is the
 * worker's own: the store (opened here, closed before the main thread opens it again), the state
 * stage over it and its undo logs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LocalState } from '../local-state.ts';
import { OverlappedCommits } from '../overlapped-commits.ts';
import { createStateStage } from '../state-stage.ts';
import { createStateStores } from '../state-stores.ts';
import { decodeRestoreBatch } from './restore-wire.ts';
import type { ColdRestoreSetup, ToRestoreWorker, FromRestoreWorker } from './cold-restore.ts';

const setup = workerData as ColdRestoreSetup;
const port = parentPort!;
const post = (m: FromRestoreWorker): void => port.postMessage(m);
const failed = (err: unknown): void => post({ kind: 'failed', message: err instanceof Error ? err.message : String(err), code: (err as { code?: string }).code ?? null });

async function main(): Promise<void> {
  const local = await LocalState.open(setup.disk);
  const state = createStateStage(setup.state, createStateStores(setup.state, local), local);
  const restoring = new OverlappedCommits(state);
  port.on('message', (m: ToRestoreWorker) => {
    if (m.kind === 'batch') {
      let applied: Promise<void>;
      try {
        const { records, positions } = decodeRestoreBatch(m.batch);
        applied = restoring.apply(records, positions);
      } catch (err) {
        failed(err);
        return;
      }
      applied.then(() => post({ kind: 'applied', id: m.id }), failed);
      return;
    }
    restoring.flush()
      .then(() => local.close())
      .then(({ keyFilterSaveError }) => post({ kind: 'finished', keyFilterSaveError: keyFilterSaveError?.message ?? null }), failed);
  });
  post({ kind: 'ready' });
}

main().catch(failed);
