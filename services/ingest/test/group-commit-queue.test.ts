/**
 * The group-commit queue with a fake send: batching, order, how a failure reaches every write it
 * concerns, one request in flight (writes wait for it), timeouts, and close. No broker.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GroupCommitQueue, type GroupCommitOptions } from '../src/group-commit-queue.ts';

/** A write is a list of message names; each message weighs 10 bytes unless its name starts with "big". */
type Write = string[];

class TimeoutError extends Error {}
class ClosedError extends Error {}

interface FakeSend {
  calls: string[][];
  /** Sends in flight at once, at the most. */
  maxConcurrent: number;
  /** Settles the oldest request still in flight. */
  ack(): void;
  fail(err: Error): void;
  inFlight(): number;
}

function fakeSend(): FakeSend & { send: (messages: string[]) => Promise<void> } {
  const waiting: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  let concurrent = 0;
  const fake = {
    calls: [] as string[][],
    maxConcurrent: 0,
    send(messages: string[]): Promise<void> {
      fake.calls.push(messages);
      concurrent++;
      fake.maxConcurrent = Math.max(fake.maxConcurrent, concurrent);
      return new Promise<void>((resolve, reject) => waiting.push({ resolve, reject })).finally(() => concurrent--);
    },
    ack: () => waiting.shift()!.resolve(),
    fail: (err: Error) => waiting.shift()!.reject(err),
    inFlight: () => waiting.length,
  };
  return fake;
}

function queueWith(fake: { send: (m: string[]) => Promise<void> }, overrides: Partial<GroupCommitOptions<Write, string>> = {}): GroupCommitQueue<Write, string> {
  return new GroupCommitQueue<Write, string>({
    prepare: async () => undefined,
    encode: (write) => {
      if (write.includes('unencodable')) throw new Error('unencodable');
      return { messages: write, bytes: write.reduce((n, m) => n + (m.startsWith('big') ? 1000 : 10), 0) };
    },
    send: fake.send,
    maxBatchBytes: 100,
    timeoutMs: 5_000,
    timeoutError: () => new TimeoutError('timed out'),
    closedError: () => new ClosedError('closed'),
    ...overrides,
  });
}

/** Lets the queue's promise chains run. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Records how each write settled, in the order they settled. */
function track(promises: Record<string, Promise<void>>, settled: Array<[string, string]> = []): Array<[string, string]> {
  for (const [name, p] of Object.entries(promises)) {
    p.then(() => settled.push([name, 'ok']), (err: Error) => settled.push([name, err.message]));
  }
  return settled;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('GroupCommitQueue', () => {
  it('sends the first write at once and the writes that arrive meanwhile together, in arrival order', async () => {
    const fake = fakeSend();
    const q = queueWith(fake);
    const first = track({ a: q.submit(['a1']) });
    await tick();
    const settled = track({ b: q.submit(['b1', 'b2']), c: q.submit(['c1']) });
    await tick();
    expect(fake.calls).toEqual([['a1']]);
    expect(q.queued).toBe(2);
    fake.ack();
    await tick();
    expect(fake.calls).toEqual([['a1'], ['b1', 'b2', 'c1']]);
    expect(first).toEqual([['a', 'ok']]);
    expect(settled).toEqual([]);
    fake.ack();
    await tick();
    expect(settled).toEqual([['b', 'ok'], ['c', 'ok']]);
    expect(q.idle).toBe(true);
    expect(fake.maxConcurrent).toBe(1);
  });

  it('sends writes submitted in the same turn, before the first request starts, as one request', async () => {
    const fake = fakeSend();
    const q = queueWith(fake);
    const all = [q.submit(['a']), q.submit(['b']), q.submit(['c'])];
    await tick();
    fake.ack();
    await Promise.all(all);
    expect(fake.calls).toEqual([['a', 'b', 'c']]);
  });

  it('keeps one request in flight however many writes wait: they queue (backpressure) until it settles', async () => {
    const fake = fakeSend();
    const q = queueWith(fake);
    const writes = [q.submit(['m0'])];
    await tick();
    for (let i = 1; i < 50; i++) writes.push(q.submit([`m${i}`]));
    await tick();
    expect(fake.inFlight()).toBe(1);
    expect(q.queued).toBe(49);
    while (fake.inFlight() > 0) {
      fake.ack();
      await tick();
    }
    await Promise.all(writes);
    expect(fake.maxConcurrent).toBe(1);
    // 10 bytes each, 100 a request: the first alone, then the 49 waiting in batches of ten.
    expect(fake.calls.map((c) => c.length)).toEqual([1, 10, 10, 10, 10, 9]);
    expect(fake.calls.flat()).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
  });

  it('splits a backlog at maxBatchBytes, and sends a write larger than that alone', async () => {
    const fake = fakeSend();
    const q = queueWith(fake);
    const all = [q.submit(['first'])];
    await tick();
    all.push(q.submit(['a']), q.submit(['big-one']), q.submit(['b']), q.submit(['c']));
    for (let i = 0; i < 4; i++) {
      await tick();
      fake.ack();
    }
    await Promise.all(all);
    expect(fake.calls).toEqual([['first'], ['a'], ['big-one'], ['b', 'c']]);
  });

  it('fails every write of a failed request with its error, and goes on with the next', async () => {
    const fake = fakeSend();
    const q = queueWith(fake);
    const settled = track({ a: q.submit(['a']) });
    await tick();
    const more = track({ b: q.submit(['b']), c: q.submit(['c']) });
    fake.ack();
    await tick();
    fake.fail(new Error('broker gone'));
    await tick();
    expect(more).toEqual([['b', 'broker gone'], ['c', 'broker gone']]);
    const after = track({ d: q.submit(['d']) });
    await tick();
    fake.ack();
    await tick();
    expect(settled).toEqual([['a', 'ok']]);
    expect(after).toEqual([['d', 'ok']]);
    expect(fake.calls).toEqual([['a'], ['b', 'c'], ['d']]);
  });

  it('fails every queued write when prepare fails, and tries prepare again for the next write', async () => {
    const fake = fakeSend();
    let up = false;
    const q = queueWith(fake, { prepare: async () => { if (!up) throw new Error('unreachable'); } });
    const settled = track({ a: q.submit(['a']), b: q.submit(['b']) });
    await tick();
    expect(settled).toEqual([['a', 'unreachable'], ['b', 'unreachable']]);
    expect(fake.calls).toEqual([]);
    up = true;
    const later = q.submit(['c']);
    await tick();
    fake.ack();
    await expect(later).resolves.toBeUndefined();
  });

  it('fails a write that does not encode alone, without holding up the others', async () => {
    const fake = fakeSend();
    const q = queueWith(fake);
    const first = q.submit(['first']);
    await tick();
    const settled = track({ a: q.submit(['a']), bad: q.submit(['unencodable']), b: q.submit(['b']) });
    fake.ack();
    await tick();
    expect(settled).toEqual([['bad', 'unencodable']]);
    fake.ack();
    await first;
    await tick();
    expect(settled).toEqual([['bad', 'unencodable'], ['a', 'ok'], ['b', 'ok']]);
    expect(fake.calls).toEqual([['first'], ['a', 'b']]);
  });

  it('times a write out; one still queued is dropped and never sent', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const fake = fakeSend();
    const q = queueWith(fake, { timeoutMs: 1_000 });
    const settled = track({ sent: q.submit(['sent']) });
    await tick();
    track({ waiting: q.submit(['waiting']) }, settled);
    await tick();
    vi.advanceTimersByTime(1_000);
    await tick();
    expect(settled).toEqual([['sent', 'timed out'], ['waiting', 'timed out']]);
    expect(q.queued).toBe(0);
    // The request in flight may still land; its answer changes nothing for a write already settled.
    fake.ack();
    await tick();
    expect(fake.calls).toEqual([['sent']]);
    expect(settled).toHaveLength(2);
    expect(q.idle).toBe(true);
  });

  it('on close refuses new writes and waits for those queued and in flight', async () => {
    const fake = fakeSend();
    const q = queueWith(fake);
    const settled = track({ a: q.submit(['a']) });
    await tick();
    track({ b: q.submit(['b']) }, settled);
    let closed = false;
    const closing = q.close().then(() => (closed = true));
    await expect(q.submit(['late'])).rejects.toBeInstanceOf(ClosedError);
    fake.ack();
    await tick();
    expect(closed).toBe(false);
    fake.ack();
    await closing;
    expect(settled).toEqual([['a', 'ok'], ['b', 'ok']]);
    expect(fake.calls).toEqual([['a'], ['b']]);
  });
});
