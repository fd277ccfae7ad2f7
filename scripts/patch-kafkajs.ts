/**
 * Fixes to KafkaJS 2.2.4's produce path, applied to node_modules after every install (package.json
 * `postinstall`). KafkaJS is no longer released, and these cost the normalizer's main thread about
 * 40% of its KafkaJS time (docs/benchmarks.md, "KafkaJS's produce path"):
 * - groupMessagesPerPartition copied a partition's array for every message it added (quadratic in
 *   the messages of one send; upstream pull request #1576 describes it);
 * - every varint of every record was written through a temporary Buffer, and every varlong through
 *   `Long` objects, and each record's encoder zero-filled 512 bytes it then overwrote;
 * - murmur2 (the default partitioner's key hash) ran on `Long` objects, and the partitioner filtered
 *   the partition list for every message, even keyed ones.
 * Each fix writes the same bytes as before: the Java client's murmur2 test vectors and the varint
 * encodings are checked in test/kafkajs-patches.test.ts.
 *
 *   node scripts/patch-kafkajs.ts           # apply (idempotent)
 *   node scripts/patch-kafkajs.ts --check   # exit 1 unless every fix is in place
 *
 * A KafkaJS version other than the one these were written against stops the install: read the new
 * version's code and redo or drop each fix.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const KAFKAJS_VERSION = '2.2.4';
/** In every patched file, so a reader of node_modules sees it is not upstream's. */
const MARK = '// patched by cio-pipeline scripts/patch-kafkajs.ts';

interface Fix {
  file: string;
  find: string;
  replace: string;
}

const FIXES: Fix[] = [
  {
    file: 'src/producer/groupMessagesPerPartition.js',
    find: `  return messages.reduce((result, message) => {
    const partition = partitioner({ topic, partitionMetadata, message })
    const current = result[partition] || []
    return Object.assign(result, { [partition]: [...current, message] })
  }, {})`,
    replace: `  ${MARK}: one array per partition, appended to (the reduce copied it per message).
  const result = {}
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message })
    const current = result[partition]
    if (current === undefined) result[partition] = [message]
    else current.push(message)
  }
  return result`,
  },
  {
    file: 'src/protocol/encoder.js',
    find: `  static sizeOfVarLong(value) {
    let longValue`,
    replace: `  static sizeOfVarLong(value) {
    ${MARK}: plain numbers whose zigzag stays exact skip Long.
    if (isSmallInteger(value)) {
      let zigzag = value >= 0 ? value * 2 : -value * 2 - 1
      let bytes = 1
      while (zigzag >= 128) {
        bytes += 1
        zigzag = Math.floor(zigzag / 128)
      }
      return bytes
    }
    let longValue`,
  },
  {
    file: 'src/protocol/encoder.js',
    find: `module.exports = class Encoder {`,
    replace: `${MARK}: |value| < 2^52, so its zigzag (2|value| or 2|value| - 1) is below 2^53 and exact.
const isSmallInteger = value => typeof value === 'number' && Number.isSafeInteger(value) && value > -0x10000000000000 && value < 0x10000000000000

module.exports = class Encoder {`,
  },
  {
    file: 'src/protocol/encoder.js',
    find: `    this.buf = Buffer.alloc(Encoder.nextPowerOfTwo(initialSize))`,
    replace: `    ${MARK}: only bytes below offset are ever read, so no zero fill.
    this.buf = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(initialSize))`,
  },
  {
    file: 'src/protocol/encoder.js',
    find: `      const newBuffer = Buffer.alloc(newLength)`,
    replace: `      const newBuffer = Buffer.allocUnsafe(newLength) ${MARK}`,
  },
  {
    file: 'src/protocol/encoder.js',
    find: `  writeUVarInt(value) {
    const byteArray = []
    while ((value & UNSIGNED_INT32_MAX_NUMBER) !== 0) {
      byteArray.push((value & OTHER_BITS) | MOST_SIGNIFICANT_BIT)
      value >>>= 7
    }
    byteArray.push(value & OTHER_BITS)
    this.writeBufferInternal(Buffer.from(byteArray))
    return this
  }

  writeVarLong(value) {
`,
    replace: `  writeUVarInt(value) {
    ${MARK}: written in place, not through a temporary Buffer.
    this.ensureAvailable(5)
    const buf = this.buf
    while ((value & UNSIGNED_INT32_MAX_NUMBER) !== 0) {
      buf[this.offset++] = (value & OTHER_BITS) | MOST_SIGNIFICANT_BIT
      value >>>= 7
    }
    buf[this.offset++] = value & OTHER_BITS
    return this
  }

  writeVarLong(value) {
    ${MARK}: plain numbers whose zigzag stays exact skip Long and the temporary Buffer.
    if (isSmallInteger(value)) {
      let zigzag = value >= 0 ? value * 2 : -value * 2 - 1
      this.ensureAvailable(8)
      const buf = this.buf
      while (zigzag >= 128) {
        buf[this.offset++] = (zigzag % 128) | MOST_SIGNIFICANT_BIT
        zigzag = Math.floor(zigzag / 128)
      }
      buf[this.offset++] = zigzag
      return this
    }
`,
  },
  {
    file: 'src/producer/partitioners/default/murmur2.js',
    find: `module.exports = key => {
  const data = Buffer.isBuffer(key) ? key : Buffer.from(String(key))
  const length = data.length

  // Initialize the hash to a random value
  let h = Long.fromValue(SEED.xor(length))`,
    replace: `${MARK}: the same hash in int32 arithmetic (Math.imul), without Long objects.
const murmur2Int32 = data => {
  const length = data.length
  let h = 0x9747b28c ^ length
  const length4 = length >>> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
    k = Math.imul(k, 0x5bd1e995)
    k ^= k >>> 24
    h = Math.imul(h, 0x5bd1e995) ^ Math.imul(k, 0x5bd1e995)
  }
  const tail = length & ~3
  switch (length & 3) {
    case 3:
      h ^= data[tail + 2] << 16
    case 2:
      h ^= data[tail + 1] << 8
    case 1:
      h ^= data[tail]
      h = Math.imul(h, 0x5bd1e995)
  }
  h ^= h >>> 13
  h = Math.imul(h, 0x5bd1e995)
  return h ^ (h >>> 15)
}

module.exports = key => murmur2Int32(Buffer.isBuffer(key) ? key : Buffer.from(String(key)))

// Upstream's version, no longer exported.
const murmur2Long = key => {
  const data = Buffer.isBuffer(key) ? key : Buffer.from(String(key))
  const length = data.length

  // Initialize the hash to a random value
  let h = Long.fromValue(SEED.xor(length))`,
  },
  {
    file: 'src/producer/partitioners/legacy/partitioner.js',
    find: `    const numPartitions = partitionMetadata.length
    const availablePartitions = partitionMetadata.filter(p => p.leader >= 0)
    const numAvailablePartitions = availablePartitions.length

    if (message.partition !== null && message.partition !== undefined) {
      return message.partition
    }

    if (message.key !== null && message.key !== undefined) {
      return toPositive(murmur2(message.key)) % numPartitions
    }
`,
    replace: `    const numPartitions = partitionMetadata.length

    if (message.partition !== null && message.partition !== undefined) {
      return message.partition
    }

    if (message.key !== null && message.key !== undefined) {
      return toPositive(murmur2(message.key)) % numPartitions
    }

    ${MARK}: the partition list is filtered only for unkeyed messages.
    const availablePartitions = partitionMetadata.filter(p => p.leader >= 0)
    const numAvailablePartitions = availablePartitions.length
`,
  },
];

export class KafkajsPatchError extends Error {
  readonly code = 'KAFKAJS_PATCH_FAILED';
}

/** The installed kafkajs, resolved as the services resolve it. */
export function kafkajsRoot(from = import.meta.url): string {
  return dirname(createRequire(from).resolve('kafkajs/package.json'));
}

/** Applies every fix not yet in place; returns how many it applied. `check` only reports. */
export function patchKafkajs(root = kafkajsRoot(), check = false): { applied: number; missing: string[] } {
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  if (version !== KAFKAJS_VERSION) {
    throw new KafkajsPatchError(`kafkajs ${version} installed, the fixes in scripts/patch-kafkajs.ts are for ${KAFKAJS_VERSION}: review them against the new code`);
  }
  let applied = 0;
  const missing: string[] = [];
  for (const fix of FIXES) {
    const path = join(root, fix.file);
    const text = readFileSync(path, 'utf8');
    if (text.includes(fix.replace)) continue;
    if (!text.includes(fix.find)) throw new KafkajsPatchError(`${fix.file}: neither the original nor the patched text is there; the file changed`);
    if (check) {
      missing.push(fix.file);
      continue;
    }
    writeFileSync(path, text.replace(fix.find, fix.replace));
    applied++;
  }
  return { applied, missing };
}

if (import.meta.main) {
  const check = process.argv.includes('--check');
  const { applied, missing } = patchKafkajs(kafkajsRoot(), check);
  if (check && missing.length > 0) {
    console.error(`kafkajs fixes missing in: ${[...new Set(missing)].join(', ')} (run node scripts/patch-kafkajs.ts)`);
    process.exit(1);
  }
  if (!check && applied > 0) console.log(`kafkajs: ${applied} fixes applied (scripts/patch-kafkajs.ts)`);
}
