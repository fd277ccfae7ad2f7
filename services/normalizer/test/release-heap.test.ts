import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('../src/release-heap.ts', import.meta.url));

/** Runs `body` in a fresh process (RSS is per process; vitest's own workers would blur it) and returns what it prints. */
function inFreshProcess(body: string, nodeOptions: string[] = []): Record<string, unknown> {
  const script = `import { releaseFreedHeap } from ${JSON.stringify(MODULE)};\nimport { runInNewContext } from 'node:vm';\n${body}`;
  const run = spawnSync(process.execPath, [...nodeOptions, '--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

describe('releaseFreedHeap', () => {
  it('returns the pages a burst of garbage grew to the OS, where an ordinary collection keeps them pooled', () => {
    // About 300 MB of short-lived objects, as a restore's decoded records are; then nothing holds them.
    const out = inFreshProcess(`
      let burst = [];
      for (let i = 0; i < 3_000_000; i++) burst.push({ i, key: 'n:email:shopper' + i + '@example.com' });
      burst = null;
      const first = releaseFreedHeap();
      const second = releaseFreedHeap();
      console.log(JSON.stringify({ first, second, gcInMainContext: typeof globalThis.gc }));
    `);
    const first = out['first'] as { rssBeforeBytes: number; rssAfterBytes: number };
    const MB = 1024 * 1024;
    expect(first.rssBeforeBytes - first.rssAfterBytes).toBeGreaterThan(150 * MB);
    // Once released, a second call has nothing left to give back.
    const second = out['second'] as { rssBeforeBytes: number; rssAfterBytes: number };
    expect(Math.abs(second.rssBeforeBytes - second.rssAfterBytes)).toBeLessThan(50 * MB);
    // The collector is taken from a context of its own: the service's globals are unchanged.
    expect(out['gcInMainContext']).toBe('undefined');
  });

  it('uses the gc a process started with --expose-gc has, and leaves that flag set for later contexts', () => {
    const out = inFreshProcess(`
      let burst = [];
      for (let i = 0; i < 3_000_000; i++) burst.push({ i, key: 'n:email:shopper' + i + '@example.com' });
      burst = null;
      const released = releaseFreedHeap();
      console.log(JSON.stringify({ released, gcInNewContext: runInNewContext('typeof gc') }));
    `, ['--expose-gc']);
    const released = out['released'] as { rssBeforeBytes: number; rssAfterBytes: number };
    expect(released.rssBeforeBytes - released.rssAfterBytes).toBeGreaterThan(150 * 1024 * 1024);
    expect(out['gcInNewContext']).toBe('function');
  });
});
