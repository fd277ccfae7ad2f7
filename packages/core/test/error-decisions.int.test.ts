/**
 * The decisions that used to match on error-message text now read the error's type or status:
 * a racing topic creation, and a writer schema id the real registry does not know.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AvroSerde, SerdeError, createRegistry, ensureTopics } from '@cio-pipeline/core';
import { stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';

describe('decisions on error codes, against the real broker and registry', () => {
  let cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup) await c();
    cleanup = [];
  });

  it('ensureTopics from several clients at once on the same new topic: all succeed, the topic exists once', async () => {
    const kafka = testKafka();
    const topic = uniqueName('ensure-race');
    const admins = [kafka.admin(), kafka.admin(), kafka.admin()];
    await Promise.all(admins.map((a) => a.connect()));
    cleanup.push(async () => {
      await admins[0]!.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await Promise.all(admins.map((a) => a.disconnect()));
    });

    await Promise.all(admins.map((a) => ensureTopics(a, [{ topic, partitions: 2 }])));

    const { topics } = await admins[0]!.fetchTopicMetadata({ topics: [topic] });
    expect(topics.map((t) => [t.name, t.partitions.length])).toEqual([[topic, 2]]);
  });

  it('a record naming a schema id the registry does not know fails SERDE_UNKNOWN_SCHEMA, not retryable', async () => {
    const { registryUrl } = stackInfo();
    const serde = new AvroSerde({
      registry: createRegistry(registryUrl),
      registryUrl,
      subject: uniqueName('unknown-id-value'),
      schema: { type: 'record', name: 'Probe', fields: [{ name: 'a', type: 'string' }] },
    });
    // Wire format: magic byte 0, a 4-byte schema id no registry of this test run has issued, a body.
    const record = Buffer.concat([Buffer.from([0]), Buffer.from([0x7f, 0xff, 0xff, 0xf0]), Buffer.from([2, 0x61])]);

    const err = await serde.decode(record).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(SerdeError);
    expect({ code: (err as SerdeError).code, retryable: (err as SerdeError).retryable }).toEqual({ code: 'SERDE_UNKNOWN_SCHEMA', retryable: false });
  });
});
