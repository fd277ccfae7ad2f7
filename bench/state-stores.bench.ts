/**
 * Embedded stores for the normalizer's state, compared on its own workload (issue #14): keys like
 * `n:email:<address>` -> `customer_id:<id>` (identity links, 5 per person) and `d:<dedupe key>` ->
 * `<first seen ms>;<score>` (dedupe keys), 5:2 as in the target of 50M links + 20M dedupe keys.
 * Each engine runs in its own process, so RSS is its own, through the same phases:
 *  - load: the restore from a changelog, batches of 10,000 puts committed with the changelog offsets;
 *  - reads: random point reads, half hits (known identifiers) and half misses (new dedupe keys);
 *  - chunks: the processing loop, 500 events a chunk, each event reading a link and a dedupe key,
 *    staging two writes and reading one back (read-your-writes), the chunk committed atomically;
 *  - restart: close, reopen the existing store, read the offsets and one key;
 *  - RSS (anonymous and file-backed separately: LMDB maps its file) and the size on disk.
 * Reads are synchronous for every engine compared (the state stages decide synchronously). The last
 * variant is the chosen layer itself (DiskStore: LevelDB behind staging, offsets and the expiry
 * index). CPU seconds are reported per phase next to wall-clock rates: on a shared machine they are
 * the steadier figure.
 *
 *   node bench/state-stores.bench.ts                     # all engines, 2,000,000 keys
 *   BENCH_STATE_KEYS=5000000 node bench/state-stores.bench.ts
 *   BENCH_READ_CACHE=100000 ...                          # the DiskStore variant with its JS read cache
 *   node bench/state-stores.bench.ts worker 'lmdb (lmdb-js 3)' <empty dir>   # one engine, one RESULT line
 *
 * Writes its section of bench/results/normalizer.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { open, type Database, type RootDatabase } from 'lmdb';
import { createDiskStoreConfig } from '../services/normalizer/src/state/disk/config.ts';
import { DiskStore } from '../services/normalizer/src/state/disk/disk-store.ts';
import { writeResultSection } from './bench-stack.ts';
import { processMemoryMb } from './process-memory.ts';

// A script, not a service: its knobs come straight from the environment.
const KEYS = Number(process.env['BENCH_STATE_KEYS'] ?? 2_000_000);
const LOAD_BATCH = 10_000;
const READS = 300_000;
const CHUNK_EVENTS = 500;
const CHUNKS = 200;
/** Block/page cache each engine may use (LMDB has none: the OS page cache is its cache). */
const CACHE_BYTES = 64 * 1024 * 1024;

type Entry = [key: string, value: string | null];

/** What the normalizer needs from an engine: sync reads, atomic batches that carry offsets. */
interface Engine {
  open(dir: string): Promise<void>;
  commit(entries: readonly Entry[], offsets: Readonly<Record<string, string>>): Promise<void>;
  get(key: string): string | undefined;
  offsets(): Promise<Record<string, string>>;
  close(): Promise<void>;
}

class LmdbEngine implements Engine {
  /** remapChunks maps the file in chunks on demand and unmaps them again, bounding file-backed RSS. */
  private readonly remapChunks: boolean;
  constructor(remapChunks: boolean) {
    this.remapChunks = remapChunks;
  }
  private root!: RootDatabase<string, string>;
  private meta!: Database<string, string>;
  async open(dir: string): Promise<void> {
    this.root = open<string, string>({ path: join(dir, 'state.mdb'), encoding: 'string', maxDbs: 4, remapChunks: this.remapChunks });
    this.meta = this.root.openDB<string, string>({ name: 'meta', encoding: 'string' });
  }
  async commit(entries: readonly Entry[], offsets: Readonly<Record<string, string>>): Promise<void> {
    await this.root.transaction(() => {
      for (const [k, v] of entries) {
        if (v === null) void this.root.remove(k);
        else void this.root.put(k, v);
      }
      for (const [k, v] of Object.entries(offsets)) void this.meta.put(k, v);
    });
  }
  get(key: string): string | undefined {
    return this.root.get(key);
  }
  async offsets(): Promise<Record<string, string>> {
    return Object.fromEntries([...this.meta.getRange({})].map(({ key, value }) => [key, value]));
  }
  async close(): Promise<void> {
    await this.root.close();
  }
}

class LevelEngine implements Engine {
  private db!: ClassicLevel<string, string>;
  async open(dir: string): Promise<void> {
    this.db = new ClassicLevel<string, string>(dir, { valueEncoding: 'utf8', cacheSize: CACHE_BYTES });
    await this.db.open();
  }
  async commit(entries: readonly Entry[], offsets: Readonly<Record<string, string>>): Promise<void> {
    const ops: Array<{ type: 'put'; key: string; value: string } | { type: 'del'; key: string }> = [];
    for (const [k, v] of entries) ops.push(v === null ? { type: 'del', key: k } : { type: 'put', key: k, value: v });
    for (const [k, v] of Object.entries(offsets)) ops.push({ type: 'put', key: `\u0000meta:${k}`, value: v });
    await this.db.batch(ops);
  }
  get(key: string): string | undefined {
    return this.db.getSync(key);
  }
  async offsets(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for await (const [k, v] of this.db.iterator({ gte: '\u0000meta:', lt: '\u0000meta;' })) out[k.slice(6)] = v;
    return out;
  }
  async close(): Promise<void> {
    await this.db.close();
  }
}

class SqliteEngine implements Engine {
  private db!: DatabaseSync;
  private getStmt!: StatementSync;
  private putStmt!: StatementSync;
  private delStmt!: StatementSync;
  private metaStmt!: StatementSync;
  async open(dir: string): Promise<void> {
    this.db = new DatabaseSync(join(dir, 'state.db'));
    // WAL with synchronous=NORMAL: a process crash loses nothing committed (the changelog would
    // replay it anyway); cache_size bounds memory.
    this.db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-${CACHE_BYTES / 1024};
      CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;`);
    this.getStmt = this.db.prepare('SELECT v FROM kv WHERE k = ?');
    this.putStmt = this.db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
    this.delStmt = this.db.prepare('DELETE FROM kv WHERE k = ?');
    this.metaStmt = this.db.prepare('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)');
  }
  async commit(entries: readonly Entry[], offsets: Readonly<Record<string, string>>): Promise<void> {
    this.db.exec('BEGIN');
    for (const [k, v] of entries) {
      if (v === null) this.delStmt.run(k);
      else this.putStmt.run(k, v);
    }
    for (const [k, v] of Object.entries(offsets)) this.metaStmt.run(k, v);
    this.db.exec('COMMIT');
  }
  get(key: string): string | undefined {
    const row = this.getStmt.get(key) as { v: string } | undefined;
    return row?.v;
  }
  async offsets(): Promise<Record<string, string>> {
    const rows = this.db.prepare('SELECT k, v FROM meta').all() as Array<{ k: string; v: string }>;
    return Object.fromEntries(rows.map((r) => [r.k, r.v]));
  }
  async close(): Promise<void> {
    this.db.close();
  }
}

/** The chosen engine behind the normalizer's layer: staging, offsets, expiry index, read cache. */
class DiskStoreEngine implements Engine {
  private store!: DiskStore;
  async open(dir: string): Promise<void> {
    this.store = await DiskStore.open(createDiskStoreConfig({ dir, blockCacheBytes: CACHE_BYTES, readCacheEntries: Number(process.env['BENCH_READ_CACHE'] ?? 0) }));
  }
  async commit(entries: readonly Entry[], offsets: Readonly<Record<string, string>>): Promise<void> {
    for (const [k, v] of entries) {
      if (v === null) this.store.delete(k);
      else this.store.put(k, v);
    }
    await this.store.commit(new Map(Object.entries(offsets).map(([k, v]) => [k, BigInt(v)])));
  }
  get(key: string): string | undefined {
    return this.store.get(key) ?? undefined;
  }
  async offsets(): Promise<Record<string, string>> {
    return Object.fromEntries([...this.store.offsets()].map(([k, v]) => [k, v.toString()]));
  }
  async close(): Promise<void> {
    await this.store.close();
  }
}

const ENGINES = {
  'lmdb (lmdb-js 3)': () => new LmdbEngine(false),
  // remapChunks (maps the file in chunks on demand) is a one-off: node bench/state-stores.bench.ts worker 'lmdb, remapChunks' <dir>
  'LevelDB (classic-level 3)': () => new LevelEngine(),
  'SQLite (node:sqlite)': () => new SqliteEngine(),
  'DiskStore (LevelDB layer)': () => new DiskStoreEngine(),
} satisfies Record<string, () => Engine>;
const EXTRA_ENGINES = { 'lmdb, remapChunks': () => new LmdbEngine(true) } satisfies Record<string, () => Engine>;
type EngineName = keyof typeof ENGINES | keyof typeof EXTRA_ENGINES;
const engineFactory = (name: EngineName): Engine => ({ ...ENGINES, ...EXTRA_ENGINES })[name]();

/** Record i of the changelog: 5 identity links per person, then 2 dedupe keys. */
function entryOf(i: number): Entry {
  const p = Math.floor(i / 7);
  const slot = i % 7;
  const cluster = `customer_id:cus_${p}`;
  switch (slot) {
    case 0: return [`n:${cluster}`, cluster];
    case 1: return [`n:email:shopper${p}@example.com`, cluster];
    case 2: return [`n:shopify_customer_id:73019283${String(p).padStart(11, '0')}`, cluster];
    case 3: return [`n:anonymous_id:anon-${p.toString(36)}-${(p * 7919).toString(36)}`, cluster];
    case 4: return [`n:cart_token:Z2NwLXVzLWVhc3Qx${p.toString(36).padStart(10, '0')}`, cluster];
    default: return [`d:order_completed:shopify:${(p * 2 + slot - 5) * 2654435761 % 4294967296}`, `${1_733_000_000_000 + p};105`];
  }
}

/** A deterministic pseudo-random sequence, the same for every engine. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function duMb(dir: string): number {
  let bytes = 0;
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    // Allocated blocks, not apparent size: LMDB's file is sparse up to its map size.
    if (f.isFile()) bytes += statSync(join(f.parentPath, f.name)).blocks * 512;
  }
  return Math.round(bytes / 1024 / 1024);
}

interface EngineResult {
  variant: string;
  records: number;
  loadSeconds: number;
  loadRecordsPerSecond: number;
  hitReadsPerSecond: number;
  missReadsPerSecond: number;
  chunkEventsPerSecond: number;
  restartMs: number;
  /** CPU of every thread of the process (write threads, compactions) per phase: the machine is shared. */
  loadCpuSeconds: number;
  readCpuMicrosPerGet: number;
  chunkCpuMicrosPerEvent: number;
  rssAfterMb: number;
  rssAnonMb: number;
  rssFileMb: number;
  diskMb: number;
}

async function worker(name: EngineName, dir: string): Promise<EngineResult> {
  let engine: Engine = engineFactory(name);
  await engine.open(dir);

  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  let batch: Entry[] = [];
  for (let i = 0; i < KEYS; i++) {
    batch.push(entryOf(i));
    if (batch.length === LOAD_BATCH || i === KEYS - 1) {
      await engine.commit(batch, { 'identity:0': String(i + 1) });
      batch = [];
    }
  }
  const loadSeconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds();

  const random = rng(42);
  const t1 = performance.now();
  for (let n = 0; n < READS; n++) {
    const [key, value] = entryOf(Math.floor(random() * KEYS));
    if (engine.get(key) !== value) throw new Error(`${name}: wrong value for ${key}`);
  }
  const hitSeconds = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  for (let n = 0; n < READS; n++) {
    if (engine.get(`d:never-seen:${n}`) !== undefined) throw new Error(`${name}: phantom key`);
  }
  const missSeconds = (performance.now() - t2) / 1000;
  const cpu2 = cpuSeconds();

  // The processing loop: staged writes live in a Map until the chunk commits (read-your-writes).
  const t3 = performance.now();
  let offset = KEYS;
  for (let c = 0; c < CHUNKS; c++) {
    const staged = new Map<string, string | null>();
    const read = (k: string): string | undefined => (staged.has(k) ? staged.get(k) ?? undefined : engine.get(k));
    for (let e = 0; e < CHUNK_EVENTS; e++) {
      const [email, cluster] = entryOf(Math.floor(random() * Math.floor(KEYS / 7)) * 7 + 1);
      if (read(email) !== cluster) throw new Error(`${name}: lost link ${email}`);
      const dedupe = `d:app:evt-${c}-${e}`;
      if (read(dedupe) !== undefined) throw new Error(`${name}: phantom dedupe key`);
      staged.set(dedupe, `${Date.now()};0`);
      staged.set(`n:anonymous_id:new-${c}-${e}`, cluster!);
      if (read(dedupe) === undefined) throw new Error(`${name}: staged write not visible`);
    }
    offset += staged.size;
    await engine.commit([...staged], { 'identity:0': String(offset) });
  }
  const chunkSeconds = (performance.now() - t3) / 1000;
  const cpu3 = cpuSeconds();
  const mem = processMemoryMb();

  await engine.close();
  const diskMb = duMb(dir);
  const t4 = performance.now();
  engine = engineFactory(name);
  await engine.open(dir);
  if ((await engine.offsets())['identity:0'] !== String(offset)) throw new Error(`${name}: offsets not restored`);
  if (engine.get(entryOf(KEYS - 1)[0]) === undefined) throw new Error(`${name}: data not restored`);
  const restartMs = performance.now() - t4;
  await engine.close();

  return {
    variant: name, records: KEYS, loadSeconds, loadRecordsPerSecond: Math.round(KEYS / loadSeconds),
    hitReadsPerSecond: Math.round(READS / hitSeconds), missReadsPerSecond: Math.round(READS / missSeconds),
    chunkEventsPerSecond: Math.round((CHUNKS * CHUNK_EVENTS) / chunkSeconds), restartMs: Math.round(restartMs),
    loadCpuSeconds: Number((cpu1 - cpu0).toFixed(1)), readCpuMicrosPerGet: Number((((cpu2 - cpu1) * 1e6) / (2 * READS)).toFixed(2)),
    chunkCpuMicrosPerEvent: Number((((cpu3 - cpu2) * 1e6) / (CHUNKS * CHUNK_EVENTS)).toFixed(2)),
    rssAfterMb: mem.rssMb, rssAnonMb: mem.rssAnonMb ?? NaN, rssFileMb: mem.rssFileMb ?? NaN, diskMb,
  };
}

function runWorker(name: EngineName): Promise<EngineResult> {
  const dir = mkdtempSync(join(os.tmpdir(), 'state-stores-bench-'));
  return new Promise<EngineResult>((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'worker', name, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
    child.once('exit', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT));
      if (code === 0 && line !== undefined) resolve(JSON.parse(line.slice(RESULT.length)) as EngineResult);
      else reject(new Error(`worker ${name} failed (exit ${code}): ${stdout.slice(-2000)}`));
    });
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
}

async function main(): Promise<void> {
  const loadBefore = os.loadavg().map((l) => l.toFixed(1)).join(' / ');
  const results: EngineResult[] = [];
  for (const name of Object.keys(ENGINES) as EngineName[]) {
    const r = await runWorker(name);
    console.log(`${RESULT}${JSON.stringify(r)}`);
    results.push(r);
  }
  const base = results[0]!;
  const rows = results.map((r) => `| ${r.variant} | ${r.loadRecordsPerSecond} | ${r.hitReadsPerSecond} | ${r.missReadsPerSecond} | ${r.chunkEventsPerSecond} | ${r.restartMs} | ${r.loadCpuSeconds} | ${r.readCpuMicrosPerGet} | ${r.chunkCpuMicrosPerEvent} | ${r.rssAfterMb} | ${r.rssAnonMb} | ${r.rssFileMb} | ${r.diskMb} | ${(r.loadRecordsPerSecond / base.loadRecordsPerSecond).toFixed(2)} | ${(r.hitReadsPerSecond / base.hitReadsPerSecond).toFixed(2)} |`);
  const md = [
    `Run ${new Date().toISOString()} on Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}); load average before the run ${loadBefore}.`,
    '',
    `${KEYS} keys (5 identity links : 2 dedupe keys), loaded in committed batches of ${LOAD_BATCH} with their changelog offsets; ${READS} random reads of known keys and ${READS} of unknown ones; ${CHUNKS} chunks of ${CHUNK_EVENTS} events (2 reads, 2 staged writes, 1 read-your-write each, one atomic commit per chunk); restart = reopen + read offsets + one key. Cache: ${CACHE_BYTES / 1024 / 1024} MB for LevelDB and SQLite; LMDB reads its memory map (file-backed RSS, reclaimable by the OS). Ratios against ${base.variant}.`,
    '',
    '| engine | load records/s | hit reads/s | miss reads/s | chunk events/s | restart ms | load CPU s | CPU µs/read | CPU µs/event | RSS MB | anon MB | file MB | disk MB | load ratio | read ratio |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
  await writeResultSection('normalizer.md', 'state-stores', `## Embedded state stores: ${KEYS.toLocaleString('en')} keys`, md);
  console.log(md);
}

// Workers print one result line.
const RESULT = 'RESULT ';
if (process.argv[2] === 'worker') console.log(`${RESULT}${JSON.stringify(await worker(process.argv[3] as EngineName, process.argv[4]!))}`);
else await main();
