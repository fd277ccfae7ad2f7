/**
 * AvroSerde's own parts, against an in-memory registry: the wire format (magic byte, schema id,
 * body), reading an older writer schema, and each SerdeError code. No registry server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { AvroSerde, SerdeError, avroType, createRegistry, isRetryable } from '../src/index.ts';

const V1 = { type: 'record', name: 'Thing', fields: [{ name: 'id', type: 'string' }] };
const V2 = { type: 'record', name: 'Thing', fields: [{ name: 'id', type: 'string' }, { name: 'n', type: 'int', default: 7 }] };
const INCOMPATIBLE = { type: 'record', name: 'Thing', fields: [{ name: 'id', type: 'int' }] };

/** The calls AvroSerde makes, answered from a map of id -> schema. */
function memoryRegistry(schemas: Record<number, object>, opts: { down?: boolean } = {}): SchemaRegistry {
  const registry = {
    getRegistryIdBySchema: async (_subject: string, schema: { schema: string }) => {
      if (opts.down) throw new Error('ECONNREFUSED');
      const found = Object.entries(schemas).find(([, s]) => JSON.stringify(s) === schema.schema);
      if (!found) throw new Error('not registered');
      return Number(found[0]);
    },
    getSchema: async (id: number) => {
      const schema = schemas[id];
      if (schema === undefined) throw Object.assign(new Error('Schema not found'), { status: 404 });
      return avroType(schema);
    },
  };
  return registry as unknown as SchemaRegistry;
}

// Nothing listens on port 1: the version lookup fails fast and reads as version 0.
const URL_NONE = 'http://127.0.0.1:1';

function serde(schema: object, registry: SchemaRegistry): AvroSerde<Record<string, unknown>> {
  return new AvroSerde({ registry, registryUrl: URL_NONE, subject: 'things-value', schema });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(SerdeError);
  return (err as SerdeError).code;
}

describe('AvroSerde', () => {
  it('writes the registry wire format and reads it back', async () => {
    const s = serde(V2, memoryRegistry({ 5: V1, 9: V2 }));
    expect(await s.init({ register: false })).toBe(9);
    const buf = s.encode({ id: 'a', n: 3 });
    expect(buf[0]).toBe(0);
    expect(buf.readInt32BE(1)).toBe(9);
    const decoded = await s.decode(buf);
    expect(decoded).toMatchObject({ value: { id: 'a', n: 3 }, schemaId: 9 });
  });

  it('writes the exact bytes for records of every size, small after large', async () => {
    const s = serde(V2, memoryRegistry({ 9: V2 }));
    await s.init({ register: false });
    const type = avroType(V2);
    // Around the scratch buffer's first size (16 KB), past its bound (1 MB), then small again.
    for (const length of [0, 1, 100, 16 * 1024 - 20, 16 * 1024, 100_000, 1_500_000, 3, 40_000, 2]) {
      const value = { id: 'é'.repeat(length), n: length };
      const buf = s.encode(value);
      const expected = Buffer.concat([Buffer.from([0, 0, 0, 0, 9]), type.toBuffer(value)]);
      expect(buf.equals(expected), `id of ${length} characters`).toBe(true);
      expect((await s.decode(buf)).value).toEqual(value);
    }
  });

  it('reads a record written with an older schema, filling defaults', async () => {
    const registry = memoryRegistry({ 5: V1, 9: V2 });
    const writer = serde(V1, registry);
    await writer.init({ register: false });
    const decoded = await serde(V2, registry).decode(writer.encode({ id: 'old' }));
    expect(decoded).toMatchObject({ value: { id: 'old', n: 7 }, schemaId: 5 });
  });

  it('refuses to encode before init (SERDE_NOT_INITIALISED)', () => {
    expect(() => serde(V1, memoryRegistry({})).encode({ id: 'x' })).toThrow(expect.objectContaining({ code: 'SERDE_NOT_INITIALISED' }));
  });

  it('reports an unreachable registry as retryable (SERDE_SCHEMA_UNAVAILABLE)', async () => {
    const err = await serde(V1, memoryRegistry({}, { down: true })).init({ register: false }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SERDE_SCHEMA_UNAVAILABLE', retryable: true });
  });

  it('tells a record not in the wire format, an unknown id, an unreadable writer and a corrupt body apart', async () => {
    const registry = memoryRegistry({ 5: V1, 6: INCOMPATIBLE });
    const s = serde(V1, registry);
    expect(await codeOf(s.decode(Buffer.from('{"id":"json"}')))).toBe('SERDE_CORRUPT');
    expect(await codeOf(s.decode(Buffer.from([0, 0, 0])))).toBe('SERDE_CORRUPT');
    const header = (id: number): Buffer => {
      const b = Buffer.alloc(5);
      b.writeInt32BE(id, 1);
      return b;
    };
    expect(await codeOf(s.decode(Buffer.concat([header(404), Buffer.from([2, 0x61])])))).toBe('SERDE_UNKNOWN_SCHEMA');
    expect(await codeOf(s.decode(Buffer.concat([header(6), Buffer.from([2])])))).toBe('SERDE_INCOMPATIBLE');
    // A string length of 40 with one byte behind it.
    expect(await codeOf(s.decode(Buffer.concat([header(5), Buffer.from([80, 0x61])])))).toBe('SERDE_CORRUPT');
  });
});

/**
 * A schema id of another schemaType (JSON, Protobuf) or one the registry client cannot build: the
 * real client against a loopback stand-in for the registry's GET /schemas/ids/{id}. Such a record
 * is undecodable for good, so it must be a non-retryable SerdeError (quarantined), never a plain
 * TypeError or a retryable error that re-delivers it for ever.
 */
describe('AvroSerde with writer schemas that are not Avro', () => {
  const ids: Record<number, { schema: string; schemaType?: string }> = {
    5: { schema: JSON.stringify(V1) },
    20: { schema: JSON.stringify({ type: 'object', properties: { id: { type: 'string' } } }), schemaType: 'JSON' },
    // ajv's strict mode refuses an unknown format: the client fails while building the schema.
    21: { schema: JSON.stringify({ type: 'object', properties: { at: { type: 'string', format: 'date-time' } } }), schemaType: 'JSON' },
    22: { schema: 'syntax = "proto3";\npackage t;\nmessage Thing { string id = 1; }\n', schemaType: 'PROTOBUF' },
    23: { schema: '<thing/>', schemaType: 'XML' },
  };
  let server: Server;
  let url = '';

  beforeAll(async () => {
    server = createServer((req, res) => {
      const m = /^\/schemas\/ids\/(\d+)(\/versions)?$/.exec(req.url ?? '');
      const entry = m ? ids[Number(m[1])] : undefined;
      res.setHeader('content-type', 'application/vnd.schemaregistry.v1+json');
      if (!entry) {
        res.statusCode = 404;
        res.end(JSON.stringify({ error_code: 40403, message: 'Schema not found' }));
      } else {
        res.end(JSON.stringify(m![2] ? [{ subject: 'things-value', version: 1 }] : entry));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const record = (id: number): Buffer => {
    const b = Buffer.concat([Buffer.alloc(5), avroType(V1).toBuffer({ id: 'x' })]);
    b.writeInt32BE(id, 1);
    return b;
  };
  const fresh = () => new AvroSerde<Record<string, unknown>>({ registry: createRegistry(url), registryUrl: url, subject: 'things-value', schema: V1 });

  it('still decodes an Avro writer schema through the real client', async () => {
    expect(await fresh().decode(record(5))).toEqual({ value: { id: 'x' }, schemaId: 5, schemaVersion: 1 });
  });

  it.each([
    [20, 'JSON', /not an Avro schema/],
    [21, 'JSON that the client cannot build', /cannot build it/],
    [22, 'PROTOBUF', /not an Avro schema/],
    [23, 'an unknown schemaType', /cannot build it/],
  ])('schema id %i (%s) is a non-retryable SERDE_INCOMPATIBLE, every time', async (id, _kind, message) => {
    const s = fresh();
    for (let attempt = 0; attempt < 2; attempt++) {
      const err = await s.decode(record(id)).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(SerdeError);
      expect(err).toMatchObject({ name: 'SerdeError', code: 'SERDE_INCOMPATIBLE', retryable: false });
      expect((err as Error).message).toMatch(message);
      expect(isRetryable(err)).toBe(false);
    }
  });

  it('an unknown id stays SERDE_UNKNOWN_SCHEMA through the real client', async () => {
    expect(await codeOf(fresh().decode(record(99)))).toBe('SERDE_UNKNOWN_SCHEMA');
  });
});
