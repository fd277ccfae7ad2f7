import { describe, expect, it } from 'vitest';
import type { ChangelogRecord } from '../../src/state/changelog.ts';
import type { ChangelogOffsets } from '../../src/state/disk/disk-store.ts';
import { OverlappedCommits } from '../../src/state/overlapped-commits.ts';

/** A state stage whose writes finish when the test says so; `log` says what happened in which order. */
function fakeState() {
  const log: string[] = [];
  const writes: Array<{ positions: ChangelogOffsets | undefined; done: () => void; fail: (err: Error) => void }> = [];
  return {
    log,
    writes,
    state: {
      restore(records: Iterable<ChangelogRecord>) {
        for (const r of records) log.push(`restore ${r.key}`);
      },
      commit(positions?: ChangelogOffsets) {
        const n = writes.length + 1;
        log.push(`write ${n} started`);
        return new Promise<void>((resolve, reject) => {
          writes.push({ positions, done: () => { log.push(`write ${n} done`); resolve(); }, fail: reject });
        });
      },
    },
  };
}

/** One fetched batch of `partition` (`identity:<n>`) holding `key`, which brings it to `offset`. */
const batch = (key: string): ChangelogRecord[] => [{ topic: 'identity', key, value: 'customer_id:cus_1' }];
const at = (partition: number, offset: bigint): ChangelogOffsets => new Map([[`identity:${partition}`, offset]]);
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('OverlappedCommits', () => {
  it('writes one fetch at a time: the batches of different partitions together, each partition at its last position', async () => {
    const { state, log, writes } = fakeState();
    const commits = new OverlappedCommits(state);
    await commits.apply(batch('n:a'), at(0, 10n));
    await commits.apply(batch('n:b'), at(1, 7n));
    await commits.apply(batch('n:c'), at(2, 3n));
    expect(log).toEqual(['restore n:a', 'restore n:b', 'restore n:c']);
    // Partition 0 again: the next fetch. The three batches go in one write, then this one is applied.
    await commits.apply(batch('n:d'), at(0, 20n));
    expect(log).toEqual(['restore n:a', 'restore n:b', 'restore n:c', 'write 1 started', 'restore n:d']);
    expect(writes[0]!.positions).toEqual(new Map([['identity:0', 10n], ['identity:1', 7n], ['identity:2', 3n]]));
  });

  it('applies the next fetch while the previous one is written, and starts its write once that one ended', async () => {
    const { state, log, writes } = fakeState();
    const commits = new OverlappedCommits(state);
    await commits.apply(batch('n:a'), at(0, 1n));
    await commits.apply(batch('n:b'), at(0, 2n));
    // The first write is still running: the caller already has its promise back.
    expect(log).toEqual(['restore n:a', 'write 1 started', 'restore n:b']);
    const third = commits.apply(batch('n:c'), at(0, 3n));
    let thirdResolved = false;
    void third.then(() => { thirdResolved = true; });
    await tick();
    // The second write, the third batch and the caller wait for the first write.
    expect(log).toEqual(['restore n:a', 'write 1 started', 'restore n:b']);
    expect(thirdResolved).toBe(false);
    writes[0]!.done();
    await third;
    expect(log).toEqual(['restore n:a', 'write 1 started', 'restore n:b', 'write 1 done', 'write 2 started', 'restore n:c']);
    expect(writes.map((w) => w.positions)).toEqual([at(0, 1n), at(0, 2n)]);
  });

  it('flushes every batch handed over: those gathered, and a write still waiting for the previous one', async () => {
    const { state, log, writes } = fakeState();
    const commits = new OverlappedCommits(state);
    void commits.apply(batch('n:a'), at(0, 1n));
    void commits.apply(batch('n:b'), at(0, 2n));
    void commits.apply(batch('n:c'), at(1, 5n));
    let flushed = false;
    const flush = commits.flush().then(() => { flushed = true; });
    await tick();
    writes[0]!.done();
    await tick();
    expect(flushed).toBe(false);
    writes[1]!.done();
    await flush;
    expect(log.at(-1)).toBe('write 2 done');
    expect(writes[1]!.positions).toEqual(new Map([['identity:0', 2n], ['identity:1', 5n]]));
  });

  it('fails the next batch and the flush when a write fails, and never writes after the failure', async () => {
    const { state, log, writes } = fakeState();
    const commits = new OverlappedCommits(state);
    await commits.apply(batch('n:a'), at(0, 1n));
    await commits.apply(batch('n:b'), at(0, 2n));
    writes[0]!.fail(new Error('EIO'));
    await tick();
    await expect(commits.apply(batch('n:c'), at(1, 1n))).rejects.toThrow('EIO');
    await expect(commits.flush()).rejects.toThrow('EIO');
    expect(log).not.toContain('write 2 started');
    expect(log).not.toContain('restore n:c');
  });
});
