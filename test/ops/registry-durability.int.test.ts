/**
 * Durable schemas (issue 15): the local registry keeps its state in Kafka, so a schema version the
 * data team registered only through the registry's API survives a registry crash, every id still
 * names the same schema, and records written with those ids still decode. New subjects get
 * BACKWARD compatibility by default. Runs its own native stack, since it kills the registry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde, createKafka, createRegistry, ensureTopics, type Kafka } from '@cio-pipeline/core';
import { freePort, restartRegistry, startStack, stopRegistry, stopStack, wipeStack, type StackOptions } from '../../scripts/local-stack.ts';
import { runCli } from '../../services/schemas-tool/src/cli.ts';
import { quietLogger, uniqueName } from '../support/kafka.ts';

const probeV1 = { type: 'record', name: 'Probe', namespace: 'test.durability', fields: [{ name: 'id', type: 'string' }] };
const probeV2 = { ...probeV1, fields: [...probeV1.fields, { name: 'note', type: ['null', 'string'], default: null }] };
const probeBroken = { ...probeV1, fields: [{ name: 'id', type: 'int' }] };

let stack: StackOptions;
let registryUrl = '';
let kafka: Kafka;

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${registryUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) as unknown : null };
}

async function registerThroughApi(subject: string, schema: object): Promise<{ status: number; id?: number }> {
  const res = await api('POST', `/subjects/${encodeURIComponent(subject)}/versions`, { schema: JSON.stringify(schema) });
  return { status: res.status, ...(res.status === 200 ? { id: (res.body as { id: number }).id } : {}) };
}

async function snapshot(subject: string, ids: number[]): Promise<{ versions: unknown; byVersion: unknown[]; byId: unknown[] }> {
  const versions = (await api('GET', `/subjects/${encodeURIComponent(subject)}/versions`)).body as number[];
  const byVersion = await Promise.all(versions.map(async (v) => (await api('GET', `/subjects/${encodeURIComponent(subject)}/versions/${v}`)).body));
  const byId = await Promise.all(ids.map(async (id) => (await api('GET', `/schemas/ids/${id}`)).body));
  return { versions, byVersion, byId };
}

beforeAll(async () => {
  stack = { name: uniqueName('registry-durability'), kafkaPort: await freePort(), controllerPort: await freePort(), registryPort: await freePort(), detached: false };
  const running = await startStack(stack);
  registryUrl = running.registryUrl;
  kafka = createKafka({ brokers: [running.brokers], clientId: uniqueName('durability'), logger: quietLogger });
}, 300_000);

afterAll(async () => {
  if (stack !== undefined) {
    await stopStack(stack.name);
    wipeStack(stack.name);
  }
}, 60_000);

describe('the local registry keeps its schemas in Kafka', () => {
  it('gives a subject nobody configured BACKWARD compatibility', async () => {
    const subject = uniqueName('default-level');
    expect((await registerThroughApi(subject, probeV1)).status).toBe(200);
    expect((await registerThroughApi(subject, probeV2)).status).toBe(200);
    // `id` from string to int cannot read the old records: refused under BACKWARD, accepted under NONE.
    expect((await registerThroughApi(subject, probeBroken)).status).toBe(409);
  });

  it('`schemas register` stores BACKWARD as the default level of a registry that has none', async () => {
    // Apicurio reports NONE: its BACKWARD default above is a rule, not a stored level.
    expect((await api('GET', '/config')).body).toMatchObject({ compatibilityLevel: 'NONE' });
    const out: string[] = [];
    const code = await runCli(['register', '--registry', registryUrl, '--prefix', `${uniqueName('tool')}.`], {}, { out: (l) => out.push(l), err: (l) => out.push(l) });
    expect(code, out.join('\n')).toBe(0);
    expect(out).toContain("the registry's default level was NONE; set BACKWARD for subjects without their own");
    expect((await api('GET', '/config')).body).toMatchObject({ compatibilityLevel: 'BACKWARD' });
  }, 120_000);

  it('keeps every version and id across a registry crash, and records written with them still decode', async () => {
    const subject = `${uniqueName('durable')}-value`;
    const topic = subject.replace(/-value$/, '');
    const v1 = await registerThroughApi(subject, probeV1);
    const v2 = await registerThroughApi(subject, probeV2);
    expect([v1.status, v2.status]).toEqual([200, 200]);
    const ids = [v1.id!, v2.id!];

    // Records in the wire format, each naming the id it was written with.
    const writer = createRegistry(registryUrl);
    const records = [
      { id: ids[0]!, value: { id: 'written-with-v1' } },
      { id: ids[1]!, value: { id: 'written-with-v2', note: 'a note' } },
    ];
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic, partitions: 1 }]);
    await admin.disconnect();
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: await Promise.all(records.map(async (r) => ({ value: await writer.encode(r.id, r.value) }))) });
    await producer.disconnect();

    const before = await snapshot(subject, ids);
    expect(before.versions).toEqual([1, 2]);

    await stopRegistry(stack.name, 'SIGKILL');
    await restartRegistry(stack);

    expect(await snapshot(subject, ids)).toEqual(before);
    // A schema registered after the restart gets a new id, never one that already names another.
    const later = await registerThroughApi(`${uniqueName('after-restart')}-value`, { ...probeV1, name: 'Later' });
    expect(later.status).toBe(200);
    expect(ids).not.toContain(later.id);

    // A reader with no cache resolves each record's writer id against the restarted registry.
    const serde = new AvroSerde<{ id: string; note: string | null }>({ registry: createRegistry(registryUrl), registryUrl, subject, schema: probeV2 });
    const consumer = kafka.consumer({ groupId: uniqueName('durability-reader') });
    const decoded: Array<{ schemaId: number; value: unknown }> = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`decoded ${decoded.length} of ${records.length}`)), 60_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          const { schemaId, value } = await serde.decode(message.value!);
          decoded.push({ schemaId, value: { ...value } });
          if (decoded.length === records.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    expect(decoded).toEqual([
      { schemaId: ids[0], value: { id: 'written-with-v1', note: null } },
      { schemaId: ids[1], value: { id: 'written-with-v2', note: 'a note' } },
    ]);
  }, 300_000);
});
