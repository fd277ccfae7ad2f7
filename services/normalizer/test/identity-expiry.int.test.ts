/**
 * Identity expiry through the real broker (issue #14): past the TTL, cart and checkout tokens and
 * never-identified anonymous ids are gone from the store and tombstoned in the identity changelog;
 * a person's links stay, and a restart restores them without the expired tokens.
 *
 * The processor's clock is injected, so the TTL passes by moving it, not by waiting. The sweep
 * that expires them has its transaction aborted once: the state rolls back, and the next sweep
 * redoes the work.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Producer, Transaction } from 'kafkajs';
import { topicNames, type Kafka, type Topics } from '@cio-pipeline/core';
import { startNormalizer, type NormalizerService } from '../src/app.ts';
import { loadServiceConfig, type ServiceConfig } from '../src/service-config.ts';
import { createStateConfig } from '../src/state/config.ts';
import { createStateStage, type StateStage } from '../src/state/state-stage.ts';
import { loadTrackingPlan } from '@cio-pipeline/core';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { appEnvelope, appKey, fixtureBytes, shopifyEnvelope } from '../../../test/support/raw-events.ts';
import { FUTURE_TOLERANCE_MS, PLAN_PATH, produceStream, waitForGroupDone } from './load-harness.ts';
import { eventually } from '../../../test/support/eventually.ts';
import type { SyntheticRecord } from './synthetic-stream.ts';

const DAY = 86_400_000;
const TTL_MS = 30 * DAY;
const CUS = 'cus_expiry_1';
const EMAIL = 'maya.lindqvist@example.com'; // the checkout fixture's email
const SHOPIFY_CUSTOMER = '7301928374650192837';
const CART = 'Z2NwLXVzLWVhc3QxOjAxSjk4';
const CHECKOUT = 'c0a8f3e2d1b4a5968778695a4b3c2d1e';
const ANON_PERSON = 'anon-expiry-person';
const ANON_NEVER = 'anon-expiry-never';

const kafka: Kafka = testKafka();
const prefix = `${uniqueName('idx')}.`;
const topics: Topics = topicNames(prefix);
const groupId = uniqueName('normalizer');
let clock = Date.now();
let service: NormalizerService | null = null;
let sweptAt = 0;

function config(): Readonly<ServiceConfig> {
  const { brokers, registryUrl } = stackInfo();
  return loadServiceConfig({
    KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, NORMALIZER_GROUP_ID: groupId,
    NORMALIZER_OPS_PORT: '0', NORMALIZER_TRACKING_PLAN: PLAN_PATH, NORMALIZER_FUTURE_TOLERANCE_MS: FUTURE_TOLERANCE_MS,
    NORMALIZER_SWEEP_INTERVAL_MS: '200', NORMALIZER_IDENTITY_TTL_MS: String(TTL_MS),
  });
}

/** Starts the service on a state stage the test can look into, with the test's clock. */
async function start(): Promise<StateStage> {
  const cfg = config();
  const stage = createStateStage(createStateConfig(loadTrackingPlan(PLAN_PATH), cfg.state));
  // The sweeps' times, so the test knows one ran after it moved the clock.
  const counted: StateStage = { ...stage, stores: stage.stores, expire: (now) => { sweptAt = Math.max(sweptAt, now); return stage.expire(now); } };
  service = await startNormalizer(cfg, quietLogger, { stateStage: counted, wrapProcessorOptions: (o) => ({ ...o, now: () => clock, kafka: abortingOnce(o.kafka) }) });
  return stage;
}

/** Armed, the next transaction commit aborts instead (its records stay invisible to read_committed). */
const abortArmed = { armed: false, struck: 0 };

function abortingOnce(real: Kafka): Kafka {
  const wrapTransaction = (tx: Transaction): Transaction => withOverrides(tx, {
    commit: async () => {
      if (!abortArmed.armed) return tx.commit();
      abortArmed.armed = false;
      abortArmed.struck++;
      await tx.abort();
      throw new Error('injected: the sweep\'s transaction was aborted instead of committed');
    },
  });
  return withOverrides(real, {
    producer: (config) => {
      const producer = real.producer(config);
      return withOverrides<Producer>(producer, { transaction: async () => wrapTransaction(await producer.transaction()) });
    },
  } as Partial<Kafka>);
}

function withOverrides<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      if (Object.hasOwn(overrides, prop)) return (overrides as Record<string | symbol, unknown>)[prop];
      const value = Reflect.get(t, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(t) : value;
    },
  });
}

async function deliver(records: SyntheticRecord[]): Promise<void> {
  await produceStream(kafka, stackInfo().registryUrl, topics, records);
  await waitForGroupDone(kafka, groupId, [topics.rawApp, topics.rawShopify, topics.rawSubscriptions], 30_000, () => '', 100);
}

/** Every committed record of a topic, in offset order per partition, tombstones included. */
class ChangelogReader {
  readonly records: Array<{ key: string; value: string | null }> = [];
  private readonly consumer = kafka.consumer({ groupId: uniqueName('changelog-reader'), readUncommitted: false, maxWaitTimeInMs: 100 });

  async start(topic: string): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic, fromBeginning: true });
    void this.consumer.run({
      eachMessage: async ({ message }) => {
        this.records.push({ key: message.key?.toString('utf8') ?? '', value: message.value?.toString('utf8') ?? null });
      },
    });
  }

  tombstoned(): Set<string> {
    return new Set(this.records.filter((r) => r.value === null).map((r) => r.key));
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}

const reader = new ChangelogReader();

afterAll(async () => {
  await service?.stop();
  await reader.stop();
});

describe('identity expiry through the real broker', () => {
  const at = clock - 60_000;
  const identify: SyntheticRecord = (() => {
    const value = appEnvelope({ type: 'identify', messageId: 'x-1', userId: CUS, anonymousId: ANON_PERSON, timestamp: new Date(at).toISOString(), traits: { email: EMAIL } });
    return { source: 'app', key: appKey(value), value };
  })();
  const strangerPage: SyntheticRecord = (() => {
    const value = appEnvelope({ type: 'page', messageId: 'x-2', anonymousId: ANON_NEVER, timestamp: new Date(at + 1000).toISOString(), name: 'Home' });
    return { source: 'app', key: appKey(value), value };
  })();
  // Links Maya's Shopify id, email, checkout token and cart token.
  const checkout: SyntheticRecord = { source: 'shopify', key: SHOPIFY_CUSTOMER, value: shopifyEnvelope('checkouts/create', fixtureBytes('shopify/checkouts-create.json')) };

  it('tombstones tokens and a stranger\'s anonymous id past the TTL, keeps the person, and a restart restores only what is left', async () => {
    let stage = await start();
    await deliver([identify, checkout, strangerPage]);
    const identity = (): StateStage['stores']['identity'] => stage.stores.identity;
    for (const node of [`cart_token:${CART}`, `checkout_token:${CHECKOUT}`, `anonymous_id:${ANON_NEVER}`]) expect(identity().clusterOf(node)).toBeDefined();
    expect(identity().resolve({ cart_token: CART }).canonical).toBe(CUS);

    // A day short of the TTL: the sweeps run, nothing goes.
    clock += TTL_MS - DAY;
    await reader.start(topics.identityChangelog);
    await eventually('the identity changelog read', () => reader.records.length > 0, { timeoutMs: 10_000 });
    const swept = clock;
    await eventually('a sweep at the new time', () => sweptAt >= swept, { timeoutMs: 10_000 });
    expect(identity().clusterOf(`cart_token:${CART}`)).toBeDefined();

    // The sweep that expires them fails at its commit once: the retried sweep must find the same work.
    abortArmed.armed = true;
    clock += 2 * DAY;
    const expired = [`cart_token:${CART}`, `checkout_token:${CHECKOUT}`, `anonymous_id:${ANON_NEVER}`];
    await eventually('the expired nodes to leave the store', () => expired.filter((n) => identity().clusterOf(n) !== undefined), (left) => left.length === 0, { timeoutMs: 15_000 });
    const wanted = [...expired.flatMap((n) => [`n:${n}`, `t:${n}`]), `fa:anonymous_id:${ANON_NEVER}`];
    await eventually('a tombstone for every expired key', () => wanted.filter((k) => !reader.tombstoned().has(k)), (missing) => missing.length === 0, { timeoutMs: 15_000 });
    expect(abortArmed.struck).toBe(1);
    // Read committed: each tombstone once, from the retried sweep (the aborted one's are invisible).
    for (const k of wanted) expect(reader.records.filter((r) => r.key === k && r.value === null)).toHaveLength(1);
    const people = [`n:customer_id:${CUS}`, `n:email:${EMAIL}`, `n:shopify_customer_id:${SHOPIFY_CUSTOMER}`, `n:anonymous_id:${ANON_PERSON}`];
    expect(people.filter((k) => reader.tombstoned().has(k))).toEqual([]);
    for (const ids of [{ email: EMAIL }, { shopify_customer_id: SHOPIFY_CUSTOMER }, { anonymous_id: ANON_PERSON }]) expect(identity().resolve(ids).canonical).toBe(CUS);

    // A restart reads the changelog to its end: the person's links are there, the tokens are not.
    await service!.stop();
    service = null;
    stage = await start();
    expect(service!.restored.records).toBeGreaterThan(0);
    for (const ids of [{ email: EMAIL }, { shopify_customer_id: SHOPIFY_CUSTOMER }, { anonymous_id: ANON_PERSON }]) expect(identity().resolve(ids).canonical).toBe(CUS);
    for (const node of expired) expect(identity().clusterOf(node)).toBeUndefined();
    expect(identity().resolve({ cart_token: CART }).canonical).toBeNull();
    expect(stage.stores.identityExpiry.tracked).toBe(0);
  });
});
