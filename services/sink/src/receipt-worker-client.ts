import { Worker } from 'node:worker_threads';
import type { Logger } from '@cio-pipeline/core';
import { ReceiptWriteError } from './errors.ts';

/** What the receipts worker needs (plain data: it crosses to the worker thread). */
export interface ReceiptWorkerSettings {
  brokers: string[];
  clientId: string;
  topic: string;
  retryMaxMs: number;
  logLevel: string;
}

/** `values`: Avro-encoded receipt batches, one Kafka record each (copied across, not transferred: small encodings share Node's buffer pool). */
export type ToWorker = { type: 'send'; id: number; values: Uint8Array[] } | { type: 'close' };
type FromWorker =
  | { type: 'ready' } | { type: 'closed' }
  | { type: 'start-failed'; message: string; retryable: boolean }
  | { type: 'sent'; id: number } | { type: 'failed'; id: number; message: string };

/** The sink's side of the receipts worker (receipt-worker.ts): batches in, acknowledgements out. */
export class ReceiptWorkerClient {
  private readonly worker: Worker;
  private readonly logger: Logger;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextId = 0;
  private gone: Error | null = null;
  private closed: (() => void) | null = null;

  private constructor(worker: Worker, logger: Logger) {
    this.worker = worker;
    this.logger = logger;
  }

  /** Starts the worker; resolves once its producer is connected. */
  static start(settings: ReceiptWorkerSettings, logger: Logger): Promise<ReceiptWorkerClient> {
    const worker = new Worker(new URL('./receipt-worker.ts', import.meta.url), { workerData: settings });
    const client = new ReceiptWorkerClient(worker, logger);
    return new Promise((resolve, reject) => {
      let started = false;
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          started = true;
          resolve(client);
        } else if (msg.type === 'start-failed') {
          void worker.terminate();
          reject(new ReceiptWriteError(`the receipts worker could not start: ${msg.message}`, msg.retryable));
        } else client.answer(msg);
      });
      worker.on('error', (err) => {
        if (!started) reject(err);
        client.fail(err);
      });
      worker.on('exit', (code) => {
        client.fail(new ReceiptWriteError(`the receipts worker exited (code ${code})`, false));
        client.closed?.();
      });
    });
  }

  /** Resolves once the broker acknowledged every record. */
  send(values: Buffer[]): Promise<void> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'send', id, values } satisfies ToWorker);
    });
  }

  /** Lets the worker finish what it was given, disconnect, and exit. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.gone) return;
    const exited = new Promise<void>((resolve) => (this.closed = resolve));
    this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    // A worker that does not exit (a client stuck reconnecting) must not hold the sink's stop.
    const timer = setTimeout(() => void this.worker.terminate(), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  private answer(msg: FromWorker): void {
    if (msg.type !== 'sent' && msg.type !== 'failed') return;
    const p = this.pending.get(msg.id);
    this.pending.delete(msg.id);
    if (msg.type === 'sent') p?.resolve();
    else p?.reject(new ReceiptWriteError(`receipt write failed: ${msg.message}`, true));
  }

  private fail(err: Error): void {
    if (this.gone) return;
    this.gone = err;
    if (this.closed === null) this.logger.error({ err }, 'the receipts worker stopped: receipts are no longer written, so offsets are no longer committed');
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
