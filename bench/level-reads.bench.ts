/**
 * What one LevelDB point read costs the normalizer, by the shape of the store (issue #14: a learn
 * of a known person makes two, its node and its cluster). Keys shaped like the disk index's, an
 * `n:` key and a `~m:` member list per person, loaded in batches of 10,000 in changelog (random)
 * order as a restore writes them, with the disk store's defaults (block cache, write buffer,
 * compression). Then the same random reads of known nodes, timed:
 *  - loaded: right after the last batch (level 0 and the memtable full, compactions behind);
 *  - settled: after BENCH_SETTLE_SECONDS idle (LevelDB's compactions caught up, data over levels);
 *  - memtable flushed: the same, the memtable written to a table (LevelDB does it before any
 *    manual compaction; this one's range is empty);
 *  - compacted: after a full manual compaction (everything in one level): the baseline, same run.
 * The ratios say how much of a read is the store's shape rather than the lookup itself.
 *
 *   node bench/level-reads.bench.ts                   # 1,000,000 people (2M keys), about 30 s
 *   BENCH_PEOPLE=200000 BENCH_BLOCK_SIZE=1024 node bench/level-reads.bench.ts
 *
 * Prints `RESULT {json}` lines and writes its table to bench/results/level-reads.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { DISK_STORE_DEFAULTS } from '../services/normalizer/src/state/disk/config.ts';

// A script, not a service: its knobs come straight from the environment.
const PEOPLE = Number(process.env['BENCH_PEOPLE'] ?? 1_000_000);
const READS = Number(process.env['BENCH_READS'] ?? 200_000);
const SETTLE_SECONDS = Number(process.env['BENCH_SETTLE_SECONDS'] ?? 5);
const BLOCK_SIZE = Number(process.env['BENCH_BLOCK_SIZE'] ?? 4096);
for (const [name, v, min] of [['BENCH_PEOPLE', PEOPLE, 1], ['BENCH_READS', READS, 1], ['BENCH_SETTLE_SECONDS', SETTLE_SECONDS, 0], ['BENCH_BLOCK_SIZE', BLOCK_SIZE, 256]] as const) {
  if (!Number.isSafeInteger(v) || v < min) throw new Error(`${name} must be a whole number >= ${min}, got ${v}`);
}
// The read and load orders are permutations only when the steps share no factor with the count.
if (PEOPLE % 7_919 === 0 || PEOPLE % 104_729 === 0) throw new Error('BENCH_PEOPLE must not be a multiple of 7,919 or 104,729');
const LOAD_BATCH = 10_000;

/** A permutation of 0..n-1 (both steps are primes, and n no multiple of them): changelog order is random in key space. */
function scattered(i: number, n: number, step: number): number {
  return (i * step + 13) % n;
}

/** Reads of known nodes in a random order; µs per read. */
function timeReads(db: ClassicLevel<string, string>): number {
  let found = 0;
  const t0 = performance.now();
  for (let i = 0; i < READS; i++) {
    if (db.getSync(`n:customer_id:cus_${scattered(i, PEOPLE, 104_729)}`) !== undefined) found++;
  }
  const us = ((performance.now() - t0) * 1000) / READS;
  if (found !== READS) throw new Error(`read ${found} of ${READS} known keys`);
  return us;
}

/** Table files per level, from LevelDB's own stats. */
function filesPerLevel(db: ClassicLevel<string, string>): string {
  const rows = db.getProperty('leveldb.stats').split('\n').map((l) => /^\s+(\d+)\s+(\d+)\s/.exec(l)).filter((m) => m !== null);
  return rows.map((m) => `L${m[1]}:${m[2]}`).join(' ');
}

const dir = mkdtempSync(join(os.tmpdir(), 'level-reads-'));
const db = new ClassicLevel<string, string>(dir, {
  keyEncoding: 'utf8', valueEncoding: 'utf8', blockSize: BLOCK_SIZE,
  cacheSize: DISK_STORE_DEFAULTS.blockCacheBytes, writeBufferSize: DISK_STORE_DEFAULTS.writeBufferBytes,
  maxOpenFiles: DISK_STORE_DEFAULTS.maxOpenFiles, compression: DISK_STORE_DEFAULTS.compression,
});
try {
  await db.open();
  for (let start = 0; start < PEOPLE; start += LOAD_BATCH) {
    const batch = db.batch();
    for (let i = start; i < Math.min(start + LOAD_BATCH, PEOPLE); i++) {
      const p = scattered(i, PEOPLE, 7_919);
      batch.put(`n:customer_id:cus_${p}`, `customer_id:cus_${p}`);
      // About a real cluster's value: flag count, customer ids, five length-prefixed members.
      batch.put(`~m:customer_id:cus_${p}`, `0|${String(p).length + 4}|cus_${p}20:customer_id:cus_${p}26:email:p${p}@example.com17:shopify:70000${p}36:anonymous_id:0f8fad5b-d9cb-469f-a165-70867728950e`);
    }
    await batch.write();
  }
  const phases: Array<{ phase: string; usPerRead: number; files: string }> = [];
  const measure = (phase: string): void => {
    timeReads(db); // warms the block cache with this shape's index and filter blocks
    phases.push({ phase, usPerRead: timeReads(db), files: filesPerLevel(db) });
  };
  measure('loaded');
  await new Promise((resolve) => setTimeout(resolve, SETTLE_SECONDS * 1000));
  measure('settled');
  // LevelDB flushes the memtable before any manual compaction; this range holds no key.
  await db.compactRange('\u0000~', '\u0000~');
  measure('memtable flushed');
  await db.compactRange('\u0000', '\uffff');
  measure('compacted');
  const base = phases.at(-1)!.usPerRead;
  const table = [
    '# What a LevelDB point read costs, by the shape of the store',
    '',
    `Run ${new Date().toISOString()} on Node ${process.version}, ${os.cpus().length} CPUs; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')}. ${PEOPLE} people (${2 * PEOPLE} keys: an \`n:\` key and a member list each) loaded in batches of ${LOAD_BATCH} in random key order with the disk store's defaults, block size ${BLOCK_SIZE}; then ${READS} random reads of known nodes per row, after one warming pass. Baseline: the same store fully compacted, same run.`,
    '',
    '| store | table files per level | µs per read | against compacted |',
    '|---|---|---:|---:|',
    ...phases.map((r) => `| ${r.phase} | ${r.files} | ${r.usPerRead.toFixed(2)} | ${(r.usPerRead / base).toFixed(2)} |`),
    '',
  ].join('\n');
  process.stdout.write(`${table}\n`);
  writeFileSync(fileURLToPath(new URL('./results/level-reads.md', import.meta.url)), table);
  for (const r of phases) console.log(`RESULT ${JSON.stringify({ people: PEOPLE, blockSize: BLOCK_SIZE, ...r, againstCompacted: r.usPerRead / base })}`);
} finally {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}
