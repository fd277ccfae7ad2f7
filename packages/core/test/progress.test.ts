import { describe, expect, it } from 'vitest';
import { ProgressBar, formatBytes } from '../src/progress.ts';

function recorder(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (chunk: string) => writes.push(chunk) } };
}

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

describe('ProgressBar', () => {
  it('shows the share of the total done, not 100% from the start', () => {
    const { writes, stream } = recorder(false);
    const bar = new ProgressBar('backfill', 200, { stream, now: clock().now });
    bar.update(50);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain(' 50/200 25%');
    expect(writes[0]).toContain('[########......................]');
  });

  it('off a terminal writes at most one line per interval, however many updates arrive', () => {
    const { writes, stream } = recorder(false);
    const c = clock();
    const bar = new ProgressBar('backfill', 10_000, { stream, now: c.now, plainIntervalMs: 5_000 });
    for (let done = 1; done <= 10_000; done++) {
      bar.update(done);
      c.advance(1); // 10 s of updates in all
    }
    expect(writes.length).toBe(2); // t=0 and t=5 s
    for (const line of writes) expect(line.endsWith('\n')).toBe(true);
    bar.finish(10_000);
    expect(writes).toHaveLength(3);
    expect(writes[2]).toContain('10000/10000 100%');
  });

  it('on a terminal redraws in place and ends the line when finished', () => {
    const { writes, stream } = recorder(true);
    const c = clock();
    const bar = new ProgressBar('replay', 4, { stream, now: c.now });
    bar.update(1);
    c.advance(200);
    bar.update(2);
    bar.finish(4, 'matched 3');
    expect(writes.slice(0, 3).every((w) => w.startsWith('\r'))).toBe(true);
    expect(writes[2]).toContain('4/4 100%');
    expect(writes[2]).toContain('matched 3');
    expect(writes[3]).toBe('\n');
  });

  it('does not claim completion while the total is unknown', () => {
    const { writes, stream } = recorder(false);
    const bar = new ProgressBar('replay', 0, { stream, now: clock().now });
    bar.update(7);
    expect(writes[0]).toContain('7/0 ?%');
    expect(writes[0]).not.toContain('#');
  });

  it('formats byte counts for a file read', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.0 KiB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
    const { writes, stream } = recorder(false);
    new ProgressBar('backfill', 2 * 1024 * 1024, { stream, format: formatBytes, now: clock().now }).update(1024 * 1024);
    expect(writes[0]).toContain('1.0 MiB/2.0 MiB 50%');
  });
});
