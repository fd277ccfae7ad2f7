import { mkdir } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import { TraceIndexError } from '../errors.ts';
import { identifiersOf, indexForm, recordId, type IndexedRecord } from './indexed-record.ts';

/**
 * The trace index: LevelDB (classic-level, as the normalizer's disk store) with three key spaces,
 * `\x00` separating parts so a prefix scan never runs into a longer identifier:
 *   r\x00<record id>                 -> the record (JSON)
 *   i\x00<identifier>\x00<record id> -> ''   (one per identifier the record carries)
 *   o\x00<topic>\x00<partition>      -> the next offset to read
 * A batch of records and the offsets after them are one LevelDB batch: after a crash the index and
 * its offsets agree, and a restart reads only the tail of each topic.
 */
const SEP = '\x00';
const recordKey = (id: string): string => `r${SEP}${id}`;
const identifierPrefix = (value: string): string => `i${SEP}${value}${SEP}`;
const offsetKey = (topic: string, partition: number): string => `o${SEP}${topic}${SEP}${partition}`;

export interface TopicOffset {
  topic: string;
  partition: number;
  /** The next offset to read. */
  offset: string;
}

export interface TraceIndexOptions {
  /** LevelDB's block cache; lookups of one person touch few blocks. */
  cacheBytes?: number;
  writeBufferBytes?: number;
}

type Op = { type: 'put'; key: string; value: string };

export class TraceIndex {
  private readonly db: ClassicLevel<string, string>;

  private constructor(db: ClassicLevel<string, string>) {
    this.db = db;
  }

  /** Opens (creating) the index. LevelDB allows one process per directory: a second open fails TRACE_INDEX_LOCKED. */
  static async open(dir: string, opts: TraceIndexOptions & { create?: boolean } = {}): Promise<TraceIndex> {
    if (opts.create !== false) {
      try {
        await mkdir(dir, { recursive: true });
      } catch (err) {
        throw new TraceIndexError('TRACE_INDEX_OPEN_FAILED', `cannot create the trace index directory ${dir}: ${(err as Error).message}`, { cause: err });
      }
    }
    const db = new ClassicLevel<string, string>(dir, {
      keyEncoding: 'utf8', valueEncoding: 'utf8', createIfMissing: opts.create !== false,
      cacheSize: opts.cacheBytes ?? 8 * 1024 * 1024, writeBufferSize: opts.writeBufferBytes ?? 16 * 1024 * 1024,
    });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') throw new TraceIndexError('TRACE_INDEX_LOCKED', `the trace index ${dir} is open in another process (the monitor?): ask it with --monitor-url instead`, { cause: err });
      throw new TraceIndexError('TRACE_INDEX_OPEN_FAILED', `cannot open the trace index ${dir}: ${(err as Error).message}`, { cause: err });
    }
    return new TraceIndex(db);
  }

  /** Adds records and moves the offsets past them, atomically. */
  async add(records: readonly IndexedRecord[], offsets: readonly TopicOffset[]): Promise<void> {
    const ops: Op[] = [];
    for (const r of records) {
      const id = recordId(r);
      ops.push({ type: 'put', key: recordKey(id), value: JSON.stringify(r) });
      const seen = new Set<string>();
      for (const ref of identifiersOf(r)) {
        const form = indexForm(ref.value, ref.type);
        if (seen.has(form)) continue;
        seen.add(form);
        ops.push({ type: 'put', key: `${identifierPrefix(form)}${id}`, value: '' });
      }
    }
    for (const o of offsets) ops.push({ type: 'put', key: offsetKey(o.topic, o.partition), value: o.offset });
    if (ops.length === 0) return;
    // No fsync: the topics are the source of truth, and the offsets are in the same batch, so a
    // batch lost to a power cut is simply read again.
    await this.db.batch(ops, { sync: false });
  }

  /** The stored next offset of each partition of `topic`. */
  async offsets(topic: string): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    const prefix = `o${SEP}${topic}${SEP}`;
    for await (const [key, value] of this.db.iterator({ gte: prefix, lt: `${prefix}\xff` })) {
      out.set(Number(key.slice(prefix.length)), value);
    }
    return out;
  }

  /** Ids of the records carrying this identifier (exactly, in its index form), at most `limit`. */
  async recordIdsOf(identifier: string, limit = 10_000): Promise<string[]> {
    const prefix = identifierPrefix(identifier);
    const ids: string[] = [];
    for await (const key of this.db.keys({ gte: prefix, lt: `${prefix}\xff`, limit })) ids.push(key.slice(prefix.length));
    return ids;
  }

  async records(ids: readonly string[]): Promise<IndexedRecord[]> {
    if (ids.length === 0) return [];
    const values = await this.db.getMany(ids.map(recordKey));
    return values.filter((v): v is string => v !== undefined).map((v) => JSON.parse(v) as IndexedRecord);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
