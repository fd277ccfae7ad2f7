/**
 * Steps 1-8 of raw records on worker threads, so every core decodes while the main thread runs
 * the state stages, encodes and talks to Kafka. The state never leaves the main thread.
 *
 * A chunk is cut into one contiguous slice per worker; results come back per slice and are put
 * together in offset order. A worker that dies fails every slice it held: the chunk's unit of work
 * then fails and rolls back, and KafkaJS re-delivers the chunk. The dead worker is replaced at once.
 */
import { Worker } from 'node:worker_threads';
import { PipelineError, SerdeError, type Logger } from '@cio-pipeline/core';
import type { KafkaMessage } from 'kafkajs';
import type { RecordResult } from './pipeline.ts';
import { fromWire, packValues, type RecordTask, type RecordWorkerSetup, type WireResults, type WorkerFailure, type WorkerReply } from './record-wire.ts';

type RawMessage = KafkaMessage & { value: Buffer };

/** Runs steps 1-8 for a chunk of one partition's records. */
export interface RecordRunner {
  /** One result per record with a value (tombstones left out), in offset order. */
  run(topic: string, partition: number, messages: readonly KafkaMessage[]): Promise<RecordResult[]>;
  close(): Promise<void>;
}

/** A record worker died (crashed, killed, out of memory) while it held records. */
export class RecordWorkerCrashedError extends PipelineError {
  constructor(detail: string, cause?: unknown) {
    super('RECORD_WORKER_CRASHED', `a record worker stopped with records in hand (${detail}); the chunk is re-delivered`, { retryable: true, cause });
  }
}

/** Steps 1-8 threw in a worker for a reason other than a registry error (which keeps its SerdeError). */
export class RecordWorkerFailedError extends PipelineError {
  constructor(failure: WorkerFailure) {
    super('RECORD_WORKER_FAILED', `a record worker failed: ${failure.name}: ${failure.message}`, { retryable: true, details: { code: failure.code } });
  }
}

/** On this thread, record after record: NORMALIZER_WORKERS=0, unit tests and injected stages. */
export function inThreadRunner(runRecord: (topic: string, partition: number, message: RawMessage) => Promise<RecordResult>): RecordRunner {
  return {
    async run(topic, partition, messages) {
      const results: RecordResult[] = [];
      // A tombstone on a raw topic carries no event.
      for (const m of messages) if (m.value !== null) results.push(await runRecord(topic, partition, m as RawMessage));
      return results;
    },
    close: async () => undefined,
  };
}

interface Pending {
  resolve(results: WireResults): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  /** Settles when the worker has built its stages, or died before. */
  started: Promise<void>;
  alive: boolean;
}

const WORKER_URL = new URL('./record-worker.ts', import.meta.url);

export class RecordWorkerPool implements RecordRunner {
  private readonly setup: RecordWorkerSetup;
  private readonly log: Logger;
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;

  constructor(size: number, setup: RecordWorkerSetup, logger: Logger) {
    this.setup = setup;
    this.log = logger.child({ component: 'record-workers' });
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  /** Resolves once every worker has built its stages (a broken plan fails the start, not a chunk). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.started));
  }

  /** The worker threads, for tests that kill one mid-chunk. */
  threads(): readonly Worker[] {
    return this.slots.map((s) => s.worker);
  }

  async run(topic: string, partition: number, messages: readonly KafkaMessage[]): Promise<RecordResult[]> {
    if (this.closed) throw new RecordWorkerCrashedError('the pool is closed');
    const values = messages.filter((m): m is RawMessage => m.value !== null); // tombstones carry no event
    if (values.length === 0) return [];
    // One contiguous slice per worker, the slices in offset order.
    const per = Math.ceil(values.length / this.slots.length);
    const slices: RawMessage[][] = [];
    for (let i = 0; i < values.length; i += per) slices.push(values.slice(i, i + per));
    const parts = await Promise.all(slices.map((slice) => this.submit(topic, partition, slice)));
    return parts.flatMap((part, s) => fromWire(part, topic, partition, slices[s]!));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private submit(topic: string, partition: number, slice: RawMessage[]): Promise<WireResults> {
    // The least busy worker: slices of the next chunk go to whichever finishes first.
    const alive = this.slots.filter((s) => s.alive);
    if (alive.length === 0) return Promise.reject(new RecordWorkerCrashedError('no record worker is running'));
    const slot = alive.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    const { bytes, bounds } = packValues(slice);
    const task: RecordTask = { id, topic, partition, offsets: slice.map((m) => m.offset), bytes, bounds };
    return new Promise<WireResults>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage(task, [bytes, bounds]);
    });
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_URL, { workerData: this.setup, name: 'record-worker' });
    let started!: { resolve(): void; reject(err: Error): void };
    const slot: Slot = { worker, pending: new Map(), alive: true, started: new Promise<void>((resolve, reject) => { started = { resolve, reject }; }) };
    let ready = false;
    slot.started.catch(() => undefined);
    worker.on('message', (m: WorkerReply) => {
      if ('ready' in m) {
        ready = true;
        started.resolve();
        return;
      }
      const pending = slot.pending.get(m.id);
      if (!pending) return;
      slot.pending.delete(m.id);
      if ('error' in m) pending.reject(revive(m.error));
      else pending.resolve(m);
    });
    // 'error' (an uncaught throw in the worker) is followed by 'exit'.
    worker.on('error', (err) => this.log.error({ err, thread: worker.threadId }, 'record worker failed'));
    worker.on('messageerror', (err) => {
      this.log.error({ err, thread: worker.threadId }, 'record worker sent a message that cannot be read; replacing it');
      void worker.terminate();
    });
    worker.on('exit', (code) => {
      slot.alive = false;
      started.reject(new RecordWorkerCrashedError(`exit code ${code} while starting`));
      const lost = [...slot.pending.values()];
      slot.pending.clear();
      for (const p of lost) p.reject(new RecordWorkerCrashedError(`exit code ${code}`));
      if (this.closed) return;
      this.log.error({ code, slices: lost.length }, 'record worker exited; starting another');
      // One that could not even start waits a second, so a broken setup does not spin.
      setTimeout(() => {
        const index = this.slots.indexOf(slot);
        if (!this.closed && index >= 0) this.slots[index] = this.spawn();
      }, ready ? 0 : 1_000).unref();
    });
    return slot;
  }
}

/** A worker's error as this thread's: a registry outage stays a retryable SerdeError. */
function revive(failure: WorkerFailure): Error {
  if (failure.name === 'SerdeError' && failure.code?.startsWith('SERDE_')) {
    return new SerdeError(failure.code as ConstructorParameters<typeof SerdeError>[0], failure.message, { retryable: failure.retryable });
  }
  return new RecordWorkerFailedError(failure);
}
