import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

let collect: Collect | null = null;

/**
 * V8's own collector, taken once: the global `gc` when the process was started with --expose-gc.
 * Otherwise (Node has no API for a last-resort collection) the flag that exposes it is set for one
 * new context, where V8 reads it, and cleared again, so the service's globals stay as they were.
 */
function lastResortCollector(): Collect {
  if (collect !== null) return collect;
  const global = (globalThis as { gc?: Collect }).gc;
  if (typeof global === 'function') return (collect = global);
  setFlagsFromString('--expose-gc');
  try {
    collect = runInNewContext('gc') as Collect;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  return collect;
}

export interface HeapRelease {
  rssBeforeBytes: number;
  rssAfterBytes: number;
  ms: number;
}

/**
 * Returns to the OS the V8 heap pages a burst of work grew and no longer uses.
 *
 * V8 keeps the pages an ordinary collection frees in a pool for reuse, outside the heap it reports,
 * and its idle collections do not empty it. After a cold restore of 71M changelog records that pool
 * held about 490 MB of RSS beside 52 MB of live heap (docs/state-stores.md); only a last-resort
 * collection, the one V8 runs on a low-memory notification, unmaps it. That stops the event loop
 * for a few full collections (274 ms there), so call it once after a burst, not on a timer.
 */
export function releaseFreedHeap(): HeapRelease {
  const started = performance.now();
  const rssBeforeBytes = process.memoryUsage.rss();
  lastResortCollector()({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return { rssBeforeBytes, rssAfterBytes: process.memoryUsage.rss(), ms: performance.now() - started };
}

/**
 * The old generation's growth past its live size allowed while a start restores to disk. V8 picks
 * its own factor from how fast it collects, up to 4x, and a restore's garbage is all short-lived:
 * at 50M links its heap grew to about 470 MB around 100 MB live, and with the rest of the process
 * the RSS passed 1 GB. 20%: at 10M links the highest RSS 0.73x, the restore 0.93-0.95x the rate
 * (docs/state-stores.md).
 */
export const RESTORE_HEAP_GROWTH_PERCENT = 20;

/**
 * What the process was started with (`--heap-growing-percent=N`), 0 for V8's own factor. The
 * command line only: Node refuses the flag in NODE_OPTIONS.
 */
function startupGrowingPercent(): number {
  const flag = process.execArgv.map((a) => /^--heap[-_]growing[-_]percent=(\d+)$/.exec(a)).find((m) => m !== null);
  return flag ? Number(flag[1]) : 0;
}

/** Bursts running under withHeapGrowth: the flag is process-wide, so the last one to end resets it. */
let bursts = 0;
/** The percent the running bursts set (the latest asked for), 0 when none runs. */
let inEffect = 0;

/** The growth withHeapGrowth holds the old generation to now; 0 when no burst runs (the process's own factor). */
export function heapGrowthInEffect(): number {
  return inEffect;
}

/**
 * Runs `burst` with V8's old generation allowed to grow by only `percent` between major
 * collections, then gives back the factor the process started with. For a burst whose live heap
 * stays small (a restore to disk): more, smaller collections instead of garbage left to pile up.
 * Not for a burst that keeps what it allocates (a restore into memory): each collection would
 * mark all of it. V8 reads the flag whenever it sets the next limit, so it takes effect from the
 * next major collection on. The flag belongs to the process: bursts that overlap (two instances
 * restoring in one process) share it, the latest percent asked for, until the last one ends.
 * 0 runs `burst` as it is.
 */
export async function withHeapGrowth<T>(percent: number, burst: () => Promise<T>): Promise<T> {
  if (!Number.isSafeInteger(percent) || percent < 0) throw new RangeError(`heap growth percent must be a whole number >= 0, got ${percent}`);
  if (percent === 0) return burst();
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  inEffect = percent;
  bursts++;
  try {
    return await burst();
  } finally {
    if (--bursts === 0) {
      setFlagsFromString(`--heap-growing-percent=${startupGrowingPercent()}`);
      inEffect = 0;
    }
  }
}
