import { describe, expect, it } from 'vitest';
import type { ChangelogRecord } from '../../src/state/changelog.ts';
import { OverlappedCommits } from '../../src/state/overlapped-commits.ts';

/** A state stage whose writes finish when the test says so; `log` says what happened in which order. */
function fakeState() {
  const log: string[] = [];
  const writes: Array<{ done: () => void; fail: (err: Error) => void }> = [];
  return {
    log,
    writes,
    state: {
      restore(records: Iterable<ChangelogRecord>) {
        for (const r of records) log.push(`restore ${r.key}`);
      },
      commit() {
        const n = writes.length + 1;
        log.push(`write ${n} started`);
        return new Promise<void>((resolve, reject) => {
          writes.push({ done: () => { log.push(`write ${n} done`); resolve(); }, fail: reject });
        });
      },
    },
  };
}

const batch = (key: string): ChangelogRecord[] => [{ topic: 'identity', key, value: 'customer_id:cus_1' }];
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('OverlappedCommits', () => {
  it('applies the next batch while the previous one is written, and starts its write once that one ended', async () => {
    const { state, log, writes } = fakeState();
    const commits = new OverlappedCommits(state);
    await commits.apply(batch('n:a'));
    // The first write is still running: the caller already has its promise back.
    expect(log).toEqual(['restore n:a', 'write 1 started']);
    const second = commits.apply(batch('n:b'));
    let secondResolved = false;
    void second.then(() => { secondResolved = true; });
    await tick();
    // Applied at once; its write, and the caller, wait for the first write.
    expect(log).toEqual(['restore n:a', 'write 1 started', 'restore n:b']);
    expect(secondResolved).toBe(false);
    writes[0]!.done();
    await second;
    await tick();
    expect(log).toEqual(['restore n:a', 'write 1 started', 'restore n:b', 'write 1 done', 'write 2 started']);
  });

  it('flushes every batch handed over, also one still waiting for the previous write', async () => {
    const { state, log, writes } = fakeState();
    const commits = new OverlappedCommits(state);
    void commits.apply(batch('n:a'));
    void commits.apply(batch('n:b'));
    let flushed = false;
    const flush = commits.flush().then(() => { flushed = true; });
    await tick();
    writes[0]!.done();
    await tick();
    expect(flushed).toBe(false);
    writes[1]!.done();
    await flush;
    expect(log.at(-1)).toBe('write 2 done');
  });

  it('fails the next batch and the flush when a write fails, and never writes after the failure', async () => {
    const { state, log, writes } = fakeState();
    const commits = new OverlappedCommits(state);
    await commits.apply(batch('n:a'));
    const second = commits.apply(batch('n:b'));
    writes[0]!.fail(new Error('EIO'));
    await expect(second).rejects.toThrow('EIO');
    await expect(commits.flush()).rejects.toThrow('EIO');
    expect(log).not.toContain('write 2 started');
  });
});
