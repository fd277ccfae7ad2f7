import type { ChangelogRecord, StateTopic } from '../changelog.ts';
import type { ChangelogOffsets } from '../disk/disk-store.ts';

/**
 * A batch of restored changelog records on its way to the cold-restore worker, as one transferable
 * buffer: structured cloning 10,000 record objects would cost the main thread, which is the one
 * the restore waits for, more than writing their strings into bytes.
 *
 * Per record: topic (u8), key length (u32) and its UTF-8 bytes, value length (i32, -1 for a
 * tombstone) and its UTF-8 bytes. Positions travel as strings (bigints do not cross every port).
 */
export interface RestoreBatch {
  bytes: ArrayBuffer;
  count: number;
  positions: Array<[string, string]>;
}

const TOPICS: readonly StateTopic[] = ['identity', 'dedupe', 'journey'];
const TOPIC_CODE = new Map(TOPICS.map((t, i) => [t, i]));

export function encodeRestoreBatch(records: readonly ChangelogRecord[], positions: ChangelogOffsets): RestoreBatch {
  // UTF-8 takes at most 3 bytes per UTF-16 unit; one pass to size, one to write.
  let capacity = 0;
  for (const r of records) capacity += 9 + 3 * r.key.length + (r.value === null ? 0 : typeof r.value === 'string' ? 3 * r.value.length : r.value.length);
  const buf = Buffer.allocUnsafeSlow(capacity);
  let at = 0;
  for (const r of records) {
    buf[at] = TOPIC_CODE.get(r.topic)!;
    const keyBytes = buf.write(r.key, at + 5, 'utf8');
    buf.writeUInt32LE(keyBytes, at + 1);
    at += 5 + keyBytes;
    if (r.value === null) {
      buf.writeInt32LE(-1, at);
      at += 4;
      continue;
    }
    const valueBytes = typeof r.value === 'string' ? buf.write(r.value, at + 4, 'utf8') : r.value.copy(buf, at + 4);
    buf.writeInt32LE(valueBytes, at);
    at += 4 + valueBytes;
  }
  const bytes = buf.buffer.slice(0, at);
  return { bytes, count: records.length, positions: [...positions].map(([k, v]) => [k, v.toString()]) };
}

export function decodeRestoreBatch(batch: RestoreBatch): { records: ChangelogRecord[]; positions: ChangelogOffsets } {
  const buf = Buffer.from(batch.bytes);
  const records: ChangelogRecord[] = new Array(batch.count);
  let at = 0;
  for (let i = 0; i < batch.count; i++) {
    const topic = TOPICS[buf[at]!]!;
    const keyBytes = buf.readUInt32LE(at + 1);
    const key = buf.toString('utf8', at + 5, at + 5 + keyBytes);
    at += 5 + keyBytes;
    const valueBytes = buf.readInt32LE(at);
    at += 4;
    let value: string | null = null;
    if (valueBytes >= 0) {
      value = buf.toString('utf8', at, at + valueBytes);
      at += valueBytes;
    }
    records[i] = { topic, key, value };
  }
  if (at !== buf.length) throw new RangeError(`restore batch holds ${buf.length} bytes, its ${batch.count} records ${at}`);
  return { records, positions: new Map(batch.positions.map(([k, v]) => [k, BigInt(v)])) };
}
