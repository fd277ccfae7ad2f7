/**
 * Group commit: one request in flight; writes that arrive meanwhile wait and go together as the next
 * request, oldest first, so the order of messages sent is the order of `submit` calls. Each write
 * still settles on its own: resolved when the request holding it succeeded, rejected with what failed.
 *
 * Knows nothing of Kafka: the writer gives it `prepare`, `encode` and `send`, and the unit tests a
 * fake of each (test/group-commit-queue.test.ts).
 */
export interface GroupCommitOptions<W, M> {
  /** Runs before each request (connect, look up schemas); a failure rejects every queued write with what it threw. */
  prepare: () => Promise<void>;
  /** A write's messages and their size in bytes; a throw fails that write alone, with what it threw. */
  encode: (write: W) => { messages: M[]; bytes: number };
  /** Sends one request; a rejection fails every write in it with what it threw. */
  send: (messages: M[]) => Promise<void>;
  /** Bytes merged into one request; a single larger write goes alone. */
  maxBatchBytes: number;
  /** A write not settled by then fails with `timeoutError()`; one still queued is dropped, never sent. */
  timeoutMs: number;
  timeoutError: () => Error;
  /** What a write submitted after `close` fails with. */
  closedError: () => Error;
}

interface Pending<W> {
  write: W;
  state: 'queued' | 'sending' | 'settled';
  resolve(): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

export class GroupCommitQueue<W, M> {
  private readonly o: GroupCommitOptions<W, M>;
  private readonly queue: Array<Pending<W>> = [];
  private pumping: Promise<void> | null = null;
  private closing = false;

  constructor(opts: GroupCommitOptions<W, M>) {
    this.o = opts;
  }

  /** Nothing queued or in flight, including a write whose caller already gave up. */
  get idle(): boolean {
    return this.pumping === null && this.queue.length === 0;
  }

  /** Writes waiting for the next request (not the ones in flight). */
  get queued(): number {
    return this.queue.length;
  }

  submit(write: W): Promise<void> {
    if (this.closing) return Promise.reject(this.o.closedError());
    return new Promise<void>((resolve, reject) => {
      const settle = (then: () => void): void => {
        if (entry.state === 'settled') return;
        entry.state = 'settled';
        clearTimeout(entry.timer);
        then();
      };
      const entry: Pending<W> = {
        write,
        state: 'queued',
        resolve: () => settle(resolve),
        reject: (err) => settle(() => reject(err)),
        timer: setTimeout(() => {
          // Never sent: dropped, so that a 503 for it cannot be followed by the record landing anyway.
          const at = entry.state === 'queued' ? this.queue.indexOf(entry) : -1;
          if (at >= 0) this.queue.splice(at, 1);
          entry.reject(this.o.timeoutError());
        }, this.o.timeoutMs),
      };
      this.queue.push(entry);
      this.pump();
    });
  }

  /** Refuses new writes and waits until the queued and in-flight ones have settled (each bounded by the timeout). */
  async close(): Promise<void> {
    this.closing = true;
    while (this.pumping !== null) await this.pumping;
  }

  private pump(): void {
    if (this.pumping !== null) return;
    this.pumping = this.drain().finally(() => {
      this.pumping = null;
      if (this.queue.length > 0) this.pump();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      try {
        await this.o.prepare();
      } catch (err) {
        for (const entry of this.queue.splice(0)) entry.reject(err);
        return;
      }
      const batch = this.takeBatch();
      if (batch.entries.length === 0) continue;
      try {
        await this.o.send(batch.messages);
        for (const entry of batch.entries) entry.resolve();
      } catch (err) {
        for (const entry of batch.entries) entry.reject(err);
      }
    }
  }

  /** Queued writes, oldest first, up to maxBatchBytes (or one write, whatever its size). */
  private takeBatch(): { entries: Array<Pending<W>>; messages: M[] } {
    const entries: Array<Pending<W>> = [];
    const messages: M[] = [];
    let bytes = 0;
    while (this.queue.length > 0) {
      const entry = this.queue[0] as Pending<W>;
      let encoded: { messages: M[]; bytes: number };
      try {
        encoded = this.o.encode(entry.write);
      } catch (err) {
        this.queue.shift();
        entry.reject(err);
        continue;
      }
      if (entries.length > 0 && bytes + encoded.bytes > this.o.maxBatchBytes) break;
      this.queue.shift();
      entry.state = 'sending';
      entries.push(entry);
      messages.push(...encoded.messages);
      bytes += encoded.bytes;
    }
    return { entries, messages };
  }
}
