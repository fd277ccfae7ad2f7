import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChangelogOffsets } from './disk-store.ts';
import { WrittenKeys } from './written-keys.ts';

/**
 * The written-keys filter saved beside the store at a clean close, so the next open has it at once
 * instead of scanning every key (130 s at 61M keys). The file names the store state it describes:
 * the time of the last commit and the changelog offsets. Every commit writes a new time, so once
 * anything commits after the save (this code, an older version, a crashed run) the file no longer
 * matches and is ignored; a filter missing keys on disk would answer "absent" for them.
 */
const FILE = 'written-keys.filter';
const MAGIC = 'cio-written-keys/1';
/** The header is one JSON line (about 60 bytes per changelog partition); this bounds it. */
const MAX_HEADER_BYTES = 256 * 1024;

export interface StoreStamp {
  committedAt: number;
  offsets: ChangelogOffsets;
}

interface Header {
  magic: string;
  committedAt: number;
  offsets: Array<[string, string]>;
  bytes: number;
}

/** Writes the filter (to a temporary file, synced, then renamed: a reader never sees half of it). */
export async function saveWrittenKeys(dir: string, filter: WrittenKeys, stamp: StoreStamp): Promise<void> {
  const header: Header = { magic: MAGIC, committedAt: stamp.committedAt, offsets: stampOffsets(stamp.offsets), bytes: filter.byteLength };
  const path = join(dir, FILE);
  const tmp = `${path}.tmp`;
  const file = await open(tmp, 'w');
  try {
    // writeFile writes all of it (write may stop short), each from where the last ended.
    await file.writeFile(`${JSON.stringify(header)}\n`);
    await file.writeFile(filter.bytes);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
}

/**
 * The filter saved for exactly this store state and size, or null (no file, another state, another
 * size, a torn or foreign file): the caller then scans the keys. The file is removed either way, so
 * only a clean close after the last commit leaves one: the stamp alone would trust a later commit
 * that happened to write the same millisecond (a clock set back).
 */
export async function takeWrittenKeys(dir: string, filterBytes: number, stamp: StoreStamp): Promise<WrittenKeys | null> {
  const path = join(dir, FILE);
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch {
    return null;
  }
  try {
    return await readMatching(file, filterBytes, stamp);
  } finally {
    await file.close();
    await rm(path, { force: true });
  }
}

async function readMatching(file: FileHandle, filterBytes: number, stamp: StoreStamp): Promise<WrittenKeys | null> {
  const head = Buffer.alloc(MAX_HEADER_BYTES);
  const { bytesRead } = await file.read(head, 0, head.byteLength, 0);
  const end = head.subarray(0, bytesRead).indexOf(0x0a);
  if (end < 0) return null;
  const header = parseHeader(head.subarray(0, end));
  const size = WrittenKeys.sizeFor(filterBytes);
  const matches = header !== null
    && header.committedAt === stamp.committedAt
    && JSON.stringify(header.offsets) === JSON.stringify(stampOffsets(stamp.offsets))
    && header.bytes === size
    && (await file.stat()).size === end + 1 + size;
  if (!matches) return null;
  // Read straight into the filter's memory: no second copy of tens of megabytes.
  const filter = new WrittenKeys(size);
  const read = await file.read(filter.bytes, 0, size, end + 1);
  return read.bytesRead === size ? filter : null;
}

function parseHeader(line: Buffer): Header | null {
  try {
    const header = JSON.parse(line.toString('utf8')) as Partial<Header>;
    return header.magic === MAGIC ? header as Header : null;
  } catch {
    return null;
  }
}

function stampOffsets(offsets: ChangelogOffsets): Array<[string, string]> {
  return [...offsets].map(([k, v]): [string, string] => [k, v.toString()]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
