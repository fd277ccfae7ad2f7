/**
 * Fixes to KafkaJS 2.2.4's produce path, applied to node_modules after every install (package.json
 * `postinstall`). KafkaJS is no longer released, and these cost the normalizer's main thread about
 * 40% of its KafkaJS time (docs/benchmarks.md, "KafkaJS's produce path"):
 * - groupMessagesPerPartition copied a partition's array for every message it added (quadratic in
 *   the messages of one send; upstream pull request #1576 describes it);
 * - every varint of every record was written through a temporary Buffer, and every varlong through
 *   `Long` objects, and each record's encoder zero-filled 512 bytes it then overwrote;
 * - murmur2 (the default partitioner's key hash) ran on `Long` objects, and the partitioner filtered
 *   the partition list for every message, even keyed ones;
 * - an uncompressed batch went through an encoder per record and three more copies of every byte,
 *   and CRC-32C took one byte per step;
 * - the fetch decoder added every record's offset and timestamp delta through BigInt, read each
 *   record through a slice and a Decoder of its own and its timestamp delta through Long objects,
 *   and built its headers with a new object per header;
 * - read_committed let records of an aborted transaction through when the broker listed it after
 *   another aborted transaction that began later (a correctness fix, not a speed one);
 * - an admin could only read last stable offsets, never high watermarks (`readUncommitted`, which
 *   the state catch-up needs to wait out transactions still open);
 * - a consumer had to decode every record it fetched, even whole batches it then drops unread
 *   (`skipBatches`: the changelog tail skips this instance's own writes, most of what it reads);
 * - every fetched batch parsed each message's offset into a `Long` and copied its messages twice,
 *   to leave out what almost never is there (records below the fetched offset, control records).
 * Each fix writes the same bytes as before: the Java client's murmur2 test vectors, the varint
 * encodings, produce requests built both ways and CRC-32C are checked in test/kafkajs-patches.test.ts.
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
  {
    file: 'src/protocol/requests/produce/v3/request.js',
    find: `  const records = messages.map((message, i) =>
    Record({`,
    replace: `  ${MARK}: an uncompressed batch is written in one pass, into one buffer.
  if (compression === Types.None && messages.length > 0) {
    return encodeUncompressedPartition({ partition, messages, dateNow, firstTimestamp, maxTimestamp, producerId, producerEpoch, firstSequence, transactional: !!transactionalId })
  }

  const records = messages.map((message, i) =>
    Record({`,
  },
  {
    file: 'src/protocol/requests/produce/v3/request.js',
    find: `const { RecordBatch } = require('../../../recordBatch/v0')
`,
    replace: `const { RecordBatch } = require('../../../recordBatch/v0')
const crc32C = require('../../../recordBatch/crc32C')

/**
 * ${MARK}.
 * The partition's entry (partition, size, record batch) with the bytes Record (recordBatch/record/v0)
 * and RecordBatch (recordBatch/v0) write for an uncompressed batch. Upstream built an encoder per
 * record and copied every byte three more times (into the batch body, the batch, the entry); here
 * each record is written once, and the batch's length and CRC are filled in at the end.
 */
const encodeUncompressedPartition = ({ partition, messages, dateNow, firstTimestamp, maxTimestamp, producerId, producerEpoch, firstSequence, transactional }) => {
  let estimate = 81
  for (const message of messages) estimate += 24 + approximateSize(message.key) + approximateSize(message.value)
  const encoder = new Encoder(estimate)
  encoder.writeInt32(partition).writeInt32(0) // the entry's size, below
  const batchStart = encoder.offset
  encoder.writeInt64(Long.fromInt(0)).writeInt32(0) // first offset; the batch's length, below
  encoder.writeInt32(0).writeInt8(2).writeUInt32(0) // partition leader epoch, magic byte, CRC (below)
  const crcStart = encoder.offset
  encoder
    .writeInt16(transactional ? 16 : 0)
    .writeInt32(messages.length - 1)
    .writeInt64(firstTimestamp)
    .writeInt64(maxTimestamp)
    .writeInt64(producerId)
    .writeInt16(producerEpoch)
    .writeInt32(firstSequence)
    .writeInt32(messages.length)
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]
    const timestampDelta = (message.timestamp || dateNow) - firstTimestamp
    const headers = headerList(message.headers === undefined ? {} : message.headers)
    const sizeOfBody =
      1 +
      Encoder.sizeOfVarLong(timestampDelta) +
      Encoder.sizeOfVarInt(i) +
      Encoder.sizeOfVarIntBytes(message.key) +
      Encoder.sizeOfVarIntBytes(message.value) +
      sizeOfHeaderList(headers)
    encoder
      .writeVarInt(sizeOfBody)
      .writeInt8(0)
      .writeVarLong(timestampDelta)
      .writeVarInt(i)
      .writeVarIntBytes(message.key)
      .writeVarIntBytes(message.value)
      .writeVarInt(headers.length)
    for (const header of headers) encoder.writeVarIntString(header.key).writeVarIntBytes(header.value)
  }
  const buf = encoder.buf
  buf.writeInt32BE(encoder.offset - batchStart, batchStart - 4)
  buf.writeInt32BE(encoder.offset - batchStart - 12, batchStart + 8)
  buf.writeUInt32BE(crc32C(buf.subarray(crcStart, encoder.offset)), crcStart - 4)
  return encoder
}

const approximateSize = value => (value == null ? 0 : value.length || 0)

/** A record's headers as Record lists them: one entry per value, arrays spread in order. */
const headerList = headers => {
  const list = []
  for (const key of Object.keys(headers)) {
    const value = headers[key]
    if (Array.isArray(value)) for (const item of value) list.push({ key, value: item })
    else list.push({ key, value })
  }
  return list
}

const sizeOfHeaderList = headers => {
  let size = Encoder.sizeOfVarInt(headers.length)
  for (const { key, value } of headers) {
    const keySize = Buffer.byteLength(key)
    const valueSize = Buffer.byteLength(value)
    size += Encoder.sizeOfVarInt(keySize) + keySize
    size += value === null ? Encoder.sizeOfVarInt(-1) : Encoder.sizeOfVarInt(valueSize) + valueSize
  }
  return size
}
`,
  },
  {
    file: 'src/protocol/recordBatch/crc32C/crc32C.js',
    find: `const crc32C = buffer => {
  let crc = 0 ^ -1
  for (let i = 0; i < buffer.length; i++) {`,
    replace: `${MARK}: eight bytes per step (slicing-by-8), from eight tables derived from T.
let T8
const tables = () => {
  const t = new Int32Array(8 * 256)
  t.set(T)
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const previous = t[(k - 1) * 256 + n]
      t[k * 256 + n] = (previous >>> 8) ^ T[previous & 0xff]
    }
  }
  return t
}

const crc32C = buffer => {
  const t = T8 || (T8 = tables())
  let crc = 0 ^ -1
  let i = 0
  for (const end = buffer.length - 8; i <= end; i += 8) {
    const low = crc ^ (buffer[i] | (buffer[i + 1] << 8) | (buffer[i + 2] << 16) | (buffer[i + 3] << 24))
    crc =
      t[1792 + (low & 0xff)] ^
      t[1536 + ((low >>> 8) & 0xff)] ^
      t[1280 + ((low >>> 16) & 0xff)] ^
      t[1024 + (low >>> 24)] ^
      t[768 + buffer[i + 4]] ^
      t[512 + buffer[i + 5]] ^
      t[256 + buffer[i + 6]] ^
      t[buffer[i + 7]]
  }
  for (; i < buffer.length; i++) {`,
  },
  {
    file: 'src/protocol/recordBatch/record/v0/decoder.js',
    find: `      : Long.fromValue(firstTimestamp)
          .add(timestampDelta)
          .toString()

  const offsetDelta = decoder.readVarInt()
  const offset = Long.fromValue(firstOffset)
    .add(offsetDelta)
    .toString()`,
    replace: `      : addDelta(firstTimestamp, timestampDelta)

  const offsetDelta = decoder.readVarInt()
  const offset = addDelta(firstOffset, offsetDelta)`,
  },
  {
    file: 'src/protocol/recordBatch/record/v0/decoder.js',
    find: `module.exports = (decoder, batchContext = {}) => {`,
    replace: `${MARK}: a base below 10^15 plus a delta below 2^52 stays below 2^53,
// so the sum is exact as a number and skips BigInt; anything larger goes through Long as before.
const addDelta = (base, delta) => {
  if (typeof base === 'string' && base.length < 16) {
    const d = typeof delta === 'number' ? delta : Long.isLong(delta) ? Number(delta.value) : NaN
    if (d > -0x10000000000000 && d < 0x10000000000000) return String(Number(base) + d)
  }
  return Long.fromValue(base)
    .add(delta)
    .toString()
}

module.exports = (decoder, batchContext = {}) => {`,
  },
  {
    file: 'src/consumer/filterAbortedMessages.js',
    find: `  const remainingAbortedTransactions = [...abortedTransactions]

  return messages.filter(message => {
    // If the message offset is GTE the first offset of the next aborted transaction
    // then we have stepped into an aborted transaction.
    if (
      remainingAbortedTransactions.length &&
      Long.fromValue(message.offset).gte(remainingAbortedTransactions[0].firstOffset)
    ) {
      const { producerId } = remainingAbortedTransactions.shift()
      currentAbortedTransactions.set(producerId, true)
    }`,
    replace: `  ${MARK}: the broker lists aborted transactions in the order they ended, not the order they
  // began (the Java client keeps them in a priority queue by first offset), and a message may be past
  // the start of several. Taking one per message, in the broker's order, let the records of a
  // transaction aborted after another producer's, but begun before it, through to read_committed.
  const remainingAbortedTransactions = [...abortedTransactions].sort((a, b) =>
    Long.fromValue(a.firstOffset).compare(Long.fromValue(b.firstOffset))
  )

  return messages.filter(message => {
    // Every aborted transaction begun at or before this message is entered.
    while (
      remainingAbortedTransactions.length &&
      Long.fromValue(message.offset).gte(remainingAbortedTransactions[0].firstOffset)
    ) {
      const { producerId } = remainingAbortedTransactions.shift()
      currentAbortedTransactions.set(producerId, true)
    }`,
  },
  {
    file: 'src/index.js',
    find: `  admin({ retry } = {}) {
    const instrumentationEmitter = new InstrumentationEventEmitter()
    const cluster = this[PRIVATE.CREATE_CLUSTER]({
      allowAutoTopicCreation: false,
      instrumentationEmitter,
    })`,
    replace: `  ${MARK}: an admin with readUncommitted answers fetchTopicOffsets with the high watermark
  // (everything written, open transactions included) instead of the last stable offset.
  admin({ retry, readUncommitted = false } = {}) {
    const instrumentationEmitter = new InstrumentationEventEmitter()
    const cluster = this[PRIVATE.CREATE_CLUSTER]({
      allowAutoTopicCreation: false,
      instrumentationEmitter,
      isolationLevel: readUncommitted ? ISOLATION_LEVEL.READ_UNCOMMITTED : undefined,
    })`,
  },
  // Decoding a fetched record: no Long or BigInt for the timestamp delta, one headers object, and no
  // Buffer and Decoder per record to read it from.
  {
    file: 'src/protocol/recordBatch/record/v0/decoder.js',
    find: `const TimestampTypes = require('../../../timestampTypes')
`,
    replace: `const TimestampTypes = require('../../../timestampTypes')

${MARK}: a varlong of up to 7 bytes (49 bits) is exact as a number, so
// it is read without Long objects (each step of readVarLong allocated two); longer ones as before.
const readVarLongNumber = decoder => {
  const { buffer } = decoder
  let offset = decoder.offset
  let result = 0
  let multiplier = 1
  for (let i = 0; i < 7; i++) {
    const byte = buffer[offset++]
    result += (byte & 0x7f) * multiplier
    if (byte < 0x80) {
      decoder.offset = offset
      return result % 2 === 0 ? result / 2 : -(result + 1) / 2 // zigzag
    }
    multiplier *= 0x80
  }
  return decoder.readVarLong()
}

${MARK}: the headers into one object as they are read (the reduce
// built a new object per header); a repeated key still collects its values into an array. Only own
// properties count as earlier values (the reduce took an inherited \`constructor\` for one), and a
// \`__proto__\` header is an own property, as the reduce's spread made it.
const readHeaders = decoder => {
  const count = decoder.readVarInt()
  const headers = {}
  for (let i = 0; i < count; i++) {
    const { key, value } = HeaderDecoder(decoder)
    const prior = Object.hasOwn(headers, key) ? headers[key] : undefined
    const next = prior === undefined ? value : Array.isArray(prior) ? prior.concat([value]) : [prior, value]
    if (key === '__proto__') Object.defineProperty(headers, key, { value: next, enumerable: true, writable: true, configurable: true })
    else headers[key] = next
  }
  return headers
}
`,
  },
  {
    file: 'src/protocol/recordBatch/record/v0/decoder.js',
    find: `  const timestampDelta = decoder.readVarLong()`,
    replace: `  const timestampDelta = readVarLongNumber(decoder) ${MARK}`,
  },
  {
    file: 'src/protocol/recordBatch/record/v0/decoder.js',
    find: `  const headers = decoder.readVarIntArray(HeaderDecoder).reduce(
    (obj, { key, value }) => ({
      ...obj,
      [key]:
        obj[key] === undefined
          ? value
          : Array.isArray(obj[key])
          ? obj[key].concat([value])
          : [obj[key], value],
    }),
    {}
  )`,
    replace: `  const headers = readHeaders(decoder) ${MARK}`,
  },
  {
    file: 'src/protocol/recordBatch/v0/decoder.js',
    find: `const decodeRecord = (decoder, recordContext) => {
  const recordBuffer = decoder.readVarIntBytes()
  return RecordDecoder(new Decoder(recordBuffer), recordContext)
}`,
    replace: `${MARK}: read in place; the next record starts where the length says.
// A record that reads past its length is refused, as its own slice refused it before: read in
// place, it would otherwise take the next record's bytes for its own. Not a partial-message error:
// decodeMessages takes those for a batch cut short by maxBytes and stops reading, without a word.
const { KafkaJSNonRetriableError } = require('../../../errors')
const decodeRecord = (decoder, recordContext) => {
  const length = decoder.readVarInt()
  const end = decoder.offset + length
  const record = RecordDecoder(decoder, recordContext)
  if (decoder.offset > end) throw new KafkaJSNonRetriableError(\`record at offset \${record.offset} reads \${decoder.offset - end} bytes past its length\`)
  decoder.offset = end
  return record
}`,
  },
  // Skipping a consumer's own batches (ChangelogTables' tail): five files carry one consumer option,
  // `skipBatches`, from kafka.consumer() down to the record-batch decoder.
  {
    file: 'src/index.js',
    find: `    readUncommitted = false,
    rackId = '',
  } = {}) {
    const isolationLevel = readUncommitted`,
    replace: `    readUncommitted = false,
    rackId = '',
    skipBatches, ${MARK}: see src/protocol/recordBatch/v0/decoder.js
  } = {}) {
    const isolationLevel = readUncommitted`,
  },
  {
    file: 'src/index.js',
    find: `      isolationLevel,
      instrumentationEmitter,
      rackId,
      metadataMaxAge,
    })`,
    replace: `      isolationLevel,
      instrumentationEmitter,
      rackId,
      metadataMaxAge,
      skipBatches, ${MARK}
    })`,
  },
  {
    file: 'src/consumer/index.js',
    find: `  rackId = '',
  instrumentationEmitter: rootInstrumentationEmitter,`,
    replace: `  rackId = '',
  skipBatches, ${MARK}
  instrumentationEmitter: rootInstrumentationEmitter,`,
  },
  {
    file: 'src/consumer/index.js',
    find: `        isolationLevel,
        rackId,
        metadataMaxAge,
        autoCommit,`,
    replace: `        isolationLevel,
        rackId,
        skipBatches, ${MARK}
        metadataMaxAge,
        autoCommit,`,
  },
  {
    file: 'src/consumer/consumerGroup.js',
    find: `    rackId,
    metadataMaxAge,
  }) {`,
    replace: `    rackId,
    skipBatches, ${MARK}
    metadataMaxAge,
  }) {`,
  },
  {
    file: 'src/consumer/consumerGroup.js',
    find: `    this.rackId = rackId
`,
    replace: `    this.rackId = rackId
    this.skipBatches = skipBatches ${MARK}
`,
  },
  {
    file: 'src/consumer/consumerGroup.js',
    find: `        topics: requests,
        rackId: this.rackId,
      })`,
    replace: `        topics: requests,
        rackId: this.rackId,
        skipBatches: this.skipBatches, ${MARK}
      })`,
  },
  {
    file: 'src/broker/index.js',
    find: `    rackId = '',
  }) {
    // TODO: validate topics not null/empty
    const fetch = this.lookupRequest(apiKeys.Fetch, requests.Fetch)`,
    replace: `    rackId = '',
    skipBatches, ${MARK}
  }) {
    // TODO: validate topics not null/empty
    const lookedUp = this.lookupRequest(apiKeys.Fetch, requests.Fetch)
    ${MARK}: the response's bytes carry this request's skipBatches to
    // decodeMessages (every Fetch version from 4 decodes them there), so no other consumer's fetch sees it.
    const fetch = !skipBatches
      ? lookedUp
      : args => {
          const request = lookedUp(args)
          const { decode } = request.response
          const response = {
            ...request.response,
            decode: rawData => {
              rawData[Symbol.for('cio-pipeline.kafkajs.skipBatches')] = skipBatches
              return decode(rawData)
            },
          }
          return { ...request, response }
        }`,
  },
  {
    file: 'src/protocol/requests/fetch/v4/decodeMessages.js',
    find: `        const recordBatch = await RecordBatchDecoder(messagesDecoder)`,
    replace: `        ${MARK}: the consumer's skipBatches, if its fetch set one (broker/index.js).
        const recordBatch = await RecordBatchDecoder(
          messagesDecoder,
          decoder.buffer[Symbol.for('cio-pipeline.kafkajs.skipBatches')]
        )`,
  },
  {
    file: 'src/protocol/recordBatch/v0/decoder.js',
    find: `module.exports = async fetchDecoder => {`,
    replace: `${MARK}: \`skipBatches\` ({ header, value: Buffer, active }), a consumer option.
// While active, a data batch whose first record carries header = value is not decoded past that
// record: it comes out as one stand-in record (key, value null, headers empty, \`skippedRecords\`) at
// the batch's last offset, so the consumer's position still moves past the whole batch. A batch
// holds one producer's records of one send, so the first record speaks for all of them.
const Long = require('../../../utils/long')

module.exports = async (fetchDecoder, skipBatches) => {`,
  },
  {
    file: 'src/protocol/recordBatch/v0/decoder.js',
    find: `  const records = await decodeRecords(codec, decoder, { ...recordContext, magicByte })`,
    replace: `  const skip = !isControlBatch && skipBatches && skipBatches.active ? skipBatches : null ${MARK}
  const records = await decodeRecords(codec, decoder, { ...recordContext, magicByte }, skip)`,
  },
  {
    file: 'src/protocol/recordBatch/v0/decoder.js',
    find: `const decodeRecords = async (codec, recordsDecoder, recordContext) => {
  if (!codec) {
    return recordsDecoder.readArray(decoder => decodeRecord(decoder, recordContext))
  }`,
    replace: `const decodeRecords = async (codec, recordsDecoder, recordContext, skip) => {
  if (!codec) {
    if (skip) return decodeOrSkip(recordsDecoder, recordsDecoder.readInt32(), recordContext, skip) ${MARK}
    return recordsDecoder.readArray(decoder => decodeRecord(decoder, recordContext))
  }`,
  },
  {
    file: 'src/protocol/recordBatch/v0/decoder.js',
    find: `  const decompressedRecordDecoder = new Decoder(decompressedRecordBuffer)
  const records = new Array(length)`,
    replace: `  const decompressedRecordDecoder = new Decoder(decompressedRecordBuffer)
  if (skip) return decodeOrSkip(decompressedRecordDecoder, length, recordContext, skip) ${MARK}
  const records = new Array(length)`,
  },
  {
    file: 'src/protocol/recordBatch/v0/decoder.js',
    find: `  const record = RecordDecoder(decoder, recordContext)
  if (decoder.offset > end) throw new KafkaJSNonRetriableError(\`record at offset \${record.offset} reads \${decoder.offset - end} bytes past its length\`)
  decoder.offset = end
  return record
}`,
    replace: `  const record = RecordDecoder(decoder, recordContext)
  if (decoder.offset > end) throw new KafkaJSNonRetriableError(\`record at offset \${record.offset} reads \${decoder.offset - end} bytes past its length\`)
  decoder.offset = end
  return record
}

${MARK}: see skipBatches above.
const decodeOrSkip = (decoder, length, recordContext, skip) => {
  if (length <= 0) return []
  const first = decodeRecord(decoder, recordContext)
  const mark = first.headers[skip.header]
  if (Buffer.isBuffer(mark) && mark.equals(skip.value)) {
    const offset = Long.fromValue(recordContext.firstOffset)
      .add(recordContext.lastOffsetDelta)
      .toString()
    return [{ ...first, offset, key: null, value: null, headers: {}, skippedRecords: length }]
  }
  const records = new Array(length)
  records[0] = first
  for (let i = 1; i < length; i++) records[i] = decodeRecord(decoder, recordContext)
  return records
}`,
  },
  {
    file: 'src/consumer/batch.js',
    find: `    this.messagesWithinOffset = this.rawMessages.filter(message =>
      Long.fromValue(message.offset).gte(longFetchedOffset)
    )

    // 1. Don't expose aborted messages
    // 2. Don't expose control records
    // @see https://kafka.apache.org/documentation/#controlbatch
    this.messages = filterAbortedMessages({
      messages: this.messagesWithinOffset,
      abortedTransactions,
    }).filter(message => !message.isControlRecord)`,
    replace: `    ${MARK}: every message's offset was parsed into a
    // BigInt-backed Long, and two arrays copied per batch even when nothing was left out (almost
    // always). Offsets are non-negative decimal strings: compared by length, then by digits; an
    // array is kept as it is when nothing goes.
    const fetched = longFetchedOffset.toString()
    const withinOffset = message => {
      const offset = String(message.offset)
      return offset.length !== fetched.length ? offset.length > fetched.length : offset >= fetched
    }
    this.messagesWithinOffset = this.rawMessages.every(withinOffset)
      ? this.rawMessages
      : this.rawMessages.filter(withinOffset)

    // 1. Don't expose aborted messages
    // 2. Don't expose control records
    // @see https://kafka.apache.org/documentation/#controlbatch
    const notAborted = filterAbortedMessages({
      messages: this.messagesWithinOffset,
      abortedTransactions,
    })
    this.messages = notAborted.some(message => message.isControlRecord)
      ? notAborted.filter(message => !message.isControlRecord)
      : notAborted`,
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
    if (text.indexOf(fix.find) !== text.lastIndexOf(fix.find)) throw new KafkajsPatchError(`${fix.file}: the text to replace is there more than once`);
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
