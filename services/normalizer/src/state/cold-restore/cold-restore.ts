import { Worker } from 'node:worker_threads';
import { PipelineError, type Logger } from '@cio-pipeline/core';
import type { ChangelogTables } from '../../kafka/changelog-tables.ts';
import type { ChangelogRecord } from '../changelog.ts';
import { LocalState } from '../local-state.ts';
import type { StateConfig } from '../config.ts';
import type { DiskStoreConfig } from '../disk/config.ts';
import type { ChangelogOffsets } from '../disk/disk-store.ts';
import { encodeRestoreBatch, type RestoreBatch } from './restore-wire.ts';

/**
 * A cold restore (a new machine, or a store discarded as stale) on two threads: the main thread
 * fetches and decodes the changelogs, a worker applies them to the local store and writes it. On
 * one thread the event loop did both and set the pace; the store is closed by the worker at the
 * end, and the service then opens it the way a restart does (reading only what came after).
 */
export interface ColdRestoreSetup {
  disk: Readonly<DiskStoreConfig>;
  state: Readonly<StateConfig>;
}

export type ToRestoreWorker = { kind: 'batch'; id: number; batch: RestoreBatch } | { kind: 'finish' };
export type FromRestoreWorker =
  | { kind: 'ready' }
  | { kind: 'applied'; id: number }
  | { kind: 'finished'; keyFilterSaveError: string | null }
  | { kind: 'failed'; message: string; code: string | null };

export class ColdRestoreError extends PipelineError {
  constructor(detail: string, cause?: unknown) {
    super('COLD_RESTORE_FAILED', `the cold restore of the local state store failed: ${detail}`, { retryable: true, cause });
  }
}

const WORKER_URL = new URL('./restore-worker.ts', import.meta.url);
/** Batches handed over and not yet applied: enough for the worker never to wait for the main thread. */
const MAX_IN_FLIGHT = 2;

export class ColdRestore {
  private readonly worker: Worker;
  private readonly log: Logger | undefined;
  private nextId = 0;
  /** Batch ids sent and not yet applied, oldest first. */
  private readonly inFlight: number[] = [];
  private wakeUp: (() => void) | null = null;
  private failure: ColdRestoreError | null = null;
  private finished: ((saveError: string | null) => void) | null = null;
  private exited = false;
  /** The store is closed and the worker told to go: its exit is expected. */
  private done = false;

  private constructor(worker: Worker, log: Logger | undefined) {
    this.worker = worker;
    this.log = log;
  }

  /** Starts the worker and opens the store in it; resolves once it is ready for batches. */
  static start(setup: ColdRestoreSetup, log?: Logger): Promise<ColdRestore> {
    const worker = new Worker(WORKER_URL, { workerData: setup, name: 'cold-restore' });
    const restore = new ColdRestore(worker, log);
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromRestoreWorker) => {
        if (m.kind === 'ready') {
          ready = true;
          resolve(restore);
        } else if (m.kind === 'applied') restore.acknowledge(m.id);
        else if (m.kind === 'finished') restore.finished?.(m.keyFilterSaveError);
        else restore.fail(new ColdRestoreError(`${m.code ?? 'error'}: ${m.message}`));
        if (!ready && restore.failure !== null) reject(restore.failure);
      });
      worker.on('error', (err) => restore.fail(new ColdRestoreError(err.message, err)));
      worker.on('exit', (code) => {
        restore.exited = true;
        if (!restore.done) restore.fail(new ColdRestoreError(`the worker exited with code ${code}`));
        if (!ready) reject(restore.failure);
      });
    });
  }

  /** Hands `records` over; resolves when the worker is ready for more (at most two batches waiting). */
  async apply(records: readonly ChangelogRecord[], positions: ChangelogOffsets): Promise<void> {
    this.throwIfFailed();
    const id = this.nextId++;
    const batch = encodeRestoreBatch(records, positions);
    this.inFlight.push(id);
    this.worker.postMessage({ kind: 'batch', id, batch } satisfies ToRestoreWorker, [batch.bytes]);
    while (this.inFlight.length > MAX_IN_FLIGHT) await this.waitForAck();
  }

  /** Resolves when every batch is applied and written and the worker has closed the store. */
  async finish(): Promise<void> {
    while (this.inFlight.length > 0) await this.waitForAck();
    const saveError = await new Promise<string | null>((resolve, reject) => {
      this.finished = resolve;
      this.wakeUp = () => reject(this.failure);
      this.worker.postMessage({ kind: 'finish' } satisfies ToRestoreWorker);
    });
    // The filter not saved costs the next open a key scan in the background, nothing more.
    if (saveError !== null) this.log?.warn({ err: saveError }, 'the cold restore could not save the key filter; the store scans its keys instead');
    this.done = true;
    await this.worker.terminate();
  }

  /** Stops the worker (a failed start); the store is left as the worker last wrote it. */
  async abort(): Promise<void> {
    if (!this.exited) await this.worker.terminate();
  }

  private waitForAck(): Promise<void> {
    this.throwIfFailed();
    return new Promise((resolve, reject) => {
      this.wakeUp = () => (this.failure !== null ? reject(this.failure) : resolve());
    });
  }

  private acknowledge(id: number): void {
    if (this.inFlight[0] === id) this.inFlight.shift();
    this.wake();
  }

  private fail(err: ColdRestoreError): void {
    this.failure ??= err;
    this.wake();
  }

  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = null;
    wake?.();
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }
}

/**
 * Restores every changelog into an empty local store on two threads (the class above), then
 * opens the store here as a restart would. The store is closed meanwhile: the worker owns it.
 */
export async function restoreColdInWorker(
  tables: Pick<ChangelogTables, 'restore'>, local: LocalState, disk: Readonly<DiskStoreConfig>, state: Readonly<StateConfig>, timeoutMs: number, log: Logger,
): Promise<{ local: LocalState; restored: { records: number; ms: number } }> {
  await local.close();
  const worker = await ColdRestore.start({ disk, state }, log);
  let restored: { records: number; ms: number };
  try {
    restored = await tables.restore((records, positions) => worker.apply(records, positions), { timeoutMs });
    await worker.finish();
  } catch (err) {
    await worker.abort();
    throw err;
  }
  log.info({ records: restored.records, ms: restored.ms }, 'cold restore written to the local store by its worker');
  return { local: await LocalState.open(disk), restored };
}
