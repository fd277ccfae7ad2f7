import { readFileSync } from 'node:fs';

/**
 * This process's memory in MB: RSS split as Linux reports it (/proc/self/status: anonymous memory,
 * that is heaps and malloc, and mapped file pages such as LevelDB's tables, which the kernel can
 * drop), beside V8's heap and external memory. The split is absent where /proc is not there.
 */
export function processMemoryMb(): { rssMb: number; rssAnonMb?: number; rssFileMb?: number; heapUsedMb: number; heapTotalMb: number; externalMb: number } {
  const usage = process.memoryUsage();
  const mb = (bytes: number): number => Math.round(bytes / 1024 / 1024);
  const out = { rssMb: mb(usage.rss), heapUsedMb: mb(usage.heapUsed), heapTotalMb: mb(usage.heapTotal), externalMb: mb(usage.external) };
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return out;
  }
  const kb = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  };
  return { ...out, rssAnonMb: kb('RssAnon'), rssFileMb: kb('RssFile') };
}
