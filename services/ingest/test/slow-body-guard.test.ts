import { describe, expect, it } from 'vitest';
import { SlowBodyGuard } from '../src/slow-body-guard.ts';

describe('SlowBodyGuard', () => {
  it('cuts a body below the average rate only after the grace period, once', () => {
    let now = 0;
    const guard = new SlowBodyGuard({ minBytesPerS: 1000, graceMs: 2000, now: () => now });
    const cut: string[] = [];
    const slow = guard.watch(() => cut.push('slow'));
    const fast = guard.watch(() => cut.push('fast'));
    slow.add(1);
    fast.add(1500);
    now = 1500;
    guard.check();
    expect(cut).toEqual([]); // within the grace period nothing is judged
    now = 2000;
    fast.add(600);
    guard.check();
    expect(cut).toEqual(['slow']); // 1 byte in 2 s; the other has 2,100 bytes in 2 s
    now = 10_000;
    guard.check();
    expect(cut).toEqual(['slow', 'fast']); // 2,100 bytes in 10 s is below 1,000/s; slow is not cut twice
    expect(guard.watching).toBe(0);
  });

  it('forgets a finished body and stops its timer when nothing is watched', () => {
    let now = 0;
    const guard = new SlowBodyGuard({ minBytesPerS: 1000, graceMs: 100, now: () => now });
    const cut: number[] = [];
    const body = guard.watch(() => cut.push(1));
    body.done();
    now = 10_000;
    guard.check();
    expect(cut).toEqual([]);
    expect(guard.watching).toBe(0);
  });
});
