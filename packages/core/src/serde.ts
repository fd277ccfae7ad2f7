import avro from 'avsc';
import type { Type } from 'avsc';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { PipelineError, type CoreErrorCode } from './errors.ts';

const MAGIC_BYTE = 0;

/** Bytes before the Avro body in the registry's wire format: a magic byte, then the 4-byte schema id. */
export const WIRE_HEADER_BYTES = 5;

/** Where every serde of this thread encodes before copying out; at most twice the largest record below the bound. */
let scratch = Buffer.allocUnsafe(16 * 1024);
const SCRATCH_MAX_BYTES = 1024 * 1024;

/** Writes the wire format's header (magic byte, schema id) at the start of `out`. */
export function writeWireHeader(out: Buffer, schemaId: number): void {
  out[0] = MAGIC_BYTE;
  out.writeInt32BE(schemaId, 1);
}

export type SerdeErrorCode = Extract<CoreErrorCode, `SERDE_${string}`>;

export class SerdeError extends PipelineError {
  declare readonly code: SerdeErrorCode;
  constructor(code: SerdeErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(code, message, opts);
  }
}

export type CompatibilityLevel = keyof typeof COMPATIBILITY;

/** Decoded value plus what the writer schema was: consumers stamp `schema_version` from it. */
export interface Decoded<T> {
  value: T;
  schemaId: number;
}

export function createRegistry(url: string): SchemaRegistry {
  return new SchemaRegistry({ host: url.replace(/\/+$/, '') });
}

export function avroType(schema: object): Type {
  return avro.Type.forSchema(schema as avro.Schema);
}

/**
 * Avro in the Confluent wire format (magic byte, 4-byte schema id, body), with the writer's schema
 * fetched from the registry and resolved to the reader schema this code was built with.
 * Resolvers are cached per writer id: building one per message would dominate the hot path.
 */
export class AvroSerde<T> {
  private readonly registry: SchemaRegistry;
  private readonly registryUrl: string;
  private readonly subject: string;
  private readonly reader: Type;
  private readonly readerSchema: object;
  private writerId: number | null = null;
  private readonly resolvers = new Map<number, Promise<{ resolver: avro.Resolver | null; version: number }>>();

  constructor(opts: { registry: SchemaRegistry; registryUrl: string; subject: string; schema: object }) {
    this.registry = opts.registry;
    this.registryUrl = opts.registryUrl.replace(/\/+$/, '');
    this.subject = opts.subject;
    this.readerSchema = opts.schema;
    this.reader = avroType(opts.schema);
  }

  /** Looks up (or registers) this code's schema under the subject; needed before `encode`. */
  async init(opts: { register: false } | { register: true; compatibility: CompatibilityLevel }): Promise<number> {
    const schema = { type: SchemaType.AVRO as const, schema: JSON.stringify(this.readerSchema) };
    try {
      // The library refuses to register unless the subject's level equals the one it is given,
      // so registering always states the level the subject must have.
      this.writerId = opts.register
        ? (await this.registry.register(schema, { subject: this.subject, compatibility: COMPATIBILITY[opts.compatibility] })).id
        : await this.registry.getRegistryIdBySchema(this.subject, schema);
    } catch (err) {
      throw new SerdeError('SERDE_SCHEMA_UNAVAILABLE', `schema for ${this.subject} is not registered or the registry is unreachable: ${(err as Error).message}`, { retryable: true, cause: err });
    }
    return this.writerId;
  }

  get schemaId(): number {
    if (this.writerId === null) throw new SerdeError('SERDE_NOT_INITIALISED', `call init() before encoding ${this.subject}`);
    return this.writerId;
  }

  encode(value: T): Buffer {
    const id = this.schemaId;
    // Written once into the scratch buffer, then copied out at its exact size (avsc's toBuffer
    // zero-fills a fresh buffer per record, which this then copied again behind the header).
    let end = this.reader.encode(value, scratch, WIRE_HEADER_BYTES);
    if (end < 0) {
      const needed = scratch.length - end;
      if (needed > SCRATCH_MAX_BYTES) return this.encodeLarge(id, value);
      scratch = Buffer.allocUnsafe(needed * 2);
      end = this.reader.encode(value, scratch, WIRE_HEADER_BYTES);
    }
    const out = Buffer.allocUnsafe(end);
    scratch.copy(out, 0, 0, end);
    writeWireHeader(out, id);
    return out;
  }

  /** A record larger than the scratch buffer may grow to: encoded on its own. */
  private encodeLarge(id: number, value: T): Buffer {
    const body = this.reader.toBuffer(value);
    const out = Buffer.allocUnsafe(WIRE_HEADER_BYTES + body.length);
    writeWireHeader(out, id);
    body.copy(out, WIRE_HEADER_BYTES);
    return out;
  }

  /** Throws SerdeError with code SERDE_CORRUPT or SERDE_UNKNOWN_SCHEMA (not retryable) for bad input. */
  async decode(buf: Buffer): Promise<Decoded<T> & { schemaVersion: number }> {
    if (buf.length < WIRE_HEADER_BYTES || buf[0] !== MAGIC_BYTE) {
      throw new SerdeError('SERDE_CORRUPT', 'record is not in the schema-registry wire format (magic byte or length)');
    }
    const schemaId = buf.readInt32BE(1);
    const { resolver, version } = await this.resolverFor(schemaId);
    try {
      const value = (resolver ? this.reader.fromBuffer(buf.subarray(WIRE_HEADER_BYTES), resolver) : this.reader.fromBuffer(buf.subarray(WIRE_HEADER_BYTES))) as T;
      return { value, schemaId, schemaVersion: version };
    } catch (err) {
      throw new SerdeError('SERDE_CORRUPT', `record body does not decode with writer schema ${schemaId}: ${(err as Error).message}`, { cause: err });
    }
  }

  private resolverFor(schemaId: number): Promise<{ resolver: avro.Resolver | null; version: number }> {
    let entry = this.resolvers.get(schemaId);
    if (!entry) {
      entry = this.loadResolver(schemaId);
      this.resolvers.set(schemaId, entry);
      // A transient registry failure must not be cached forever.
      entry.catch(() => this.resolvers.delete(schemaId));
    }
    return entry;
  }

  private async loadResolver(schemaId: number): Promise<{ resolver: avro.Resolver | null; version: number }> {
    let fetched: unknown;
    try {
      fetched = await this.registry.getSchema(schemaId);
    } catch (err) {
      // The registry client's ResponseError carries the HTTP status; 404 is the registry's "no such id".
      const notFound = (err as { status?: number }).status === 404;
      // The client could fetch the schema but not build it (a schemaType it does not know, a JSON
      // schema ajv refuses, an unparsable .proto): a schema id's text never changes, so retrying
      // would stall the partition on this record for ever.
      if (!notFound && (err as Error | undefined)?.name === 'ConfluentSchemaRegistryArgumentError') {
        throw new SerdeError('SERDE_INCOMPATIBLE', `writer schema ${schemaId} cannot be read as ${this.subject}: the registry client cannot build it: ${(err as Error).message}`, { cause: err });
      }
      throw new SerdeError(notFound ? 'SERDE_UNKNOWN_SCHEMA' : 'SERDE_SCHEMA_UNAVAILABLE',
        `writer schema ${schemaId} ${notFound ? 'is unknown to the registry' : 'could not be fetched'}: ${(err as Error).message}`,
        { retryable: !notFound, cause: err });
    }
    // An id of a JSON or Protobuf schema (schemaType in the registry) yields the client's JsonSchema
    // or ProtoSchema, not an avsc Type: such a record is undecodable here, not worth a retry.
    if (!avro.Type.isType(fetched)) {
      const kind = (fetched as { constructor?: { name?: string } } | null | undefined)?.constructor?.name ?? typeof fetched;
      throw new SerdeError('SERDE_INCOMPATIBLE', `writer schema ${schemaId} cannot be read as ${this.subject}: it is not an Avro schema (${kind})`);
    }
    const writer = fetched as Type;
    let resolver: avro.Resolver | null = null;
    try {
      if (!writer.equals(this.reader)) resolver = this.reader.createResolver(writer);
    } catch (err) {
      throw new SerdeError('SERDE_INCOMPATIBLE', `writer schema ${schemaId} cannot be read as ${this.subject}: ${(err as Error).message}`, { cause: err });
    }
    return { resolver, version: await this.versionOf(schemaId) };
  }

  /** The subject version of a schema id (what `schema_version` means on canonical events). */
  private async versionOf(schemaId: number): Promise<number> {
    try {
      const res = await fetch(`${this.registryUrl}/schemas/ids/${schemaId}/versions`, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) return 0;
      const versions = (await res.json()) as Array<{ subject: string; version: number }>;
      return versions.find((v) => v.subject === this.subject)?.version ?? versions[0]?.version ?? 0;
    } catch {
      return 0;
    }
  }
}
