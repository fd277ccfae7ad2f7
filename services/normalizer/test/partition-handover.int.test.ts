/**
 * Taking a raw partition over, through the real broker: the new owner claims the partition's
 * transactional ids as it joins. A transaction the last owner left open (it was killed mid-unit) is
 * aborted then, before the state catch-up waits for it, and not at its 60 s timeout.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { measureEnds, topicNames } from '@cio-pipeline/core';
import { startNormalizer, type NormalizerService } from '../src/app.ts';
import { loadServiceConfig } from '../src/service-config.ts';
import { eventually } from '../../../test/support/eventually.ts';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { FUTURE_TOLERANCE_MS, PLAN_PATH } from './load-harness.ts';

const kafka = testKafka();
const services: NormalizerService[] = [];
afterAll(async () => {
  for (const s of services) await s.stop();
});

/** The last stable offset of one partition. */
async function stableEnd(topic: string, partition: number): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await measureEnds(admin, [topic])).get(`${topic}:${partition}`)?.end ?? 0n;
  } finally {
    await admin.disconnect();
  }
}

describe('partition handover', () => {
  it('aborts, as it joins, a transaction the last owner of its partition left open', async () => {
    const prefix = `${uniqueName('handover')}.`;
    const topics = topicNames(prefix);
    const groupId = uniqueName('normalizer');
    const { brokers, registryUrl } = stackInfo();
    const config = loadServiceConfig({
      KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, NORMALIZER_GROUP_ID: groupId,
      NORMALIZER_OPS_PORT: '0', NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS,
    });
    // A first start creates the topics; then the group is empty.
    await (await startNormalizer(config, quietLogger)).stop();

    // The last owner of the first app partition, killed with its unit's transaction open. The id
    // is the one the normalizer gives that partition's first producer.
    const lastOwner = kafka.producer({ transactionalId: `${groupId}-${topics.rawApp}:0`, idempotent: true, maxInFlightRequests: 1 });
    await lastOwner.connect();
    try {
      const open = await lastOwner.transaction();
      await open.send({ topic: topics.canonical, acks: -1, messages: [{ key: 'cus_1', value: 'never decided', partition: 0 }] });
      const held = await stableEnd(topics.canonical, 0);

      // The new owner has no input at all, so no unit of work would ever claim the id.
      services.push(await startNormalizer(config, quietLogger));
      await eventually('the open transaction aborted', () => stableEnd(topics.canonical, 0), (end) => end > held, { timeoutMs: 20_000, intervalMs: 200 });
      await expect(open.commit()).rejects.toThrow(/fenc|epoch/i);
    } finally {
      await lastOwner.disconnect();
    }
  });
});
