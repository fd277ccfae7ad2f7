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
