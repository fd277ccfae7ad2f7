/**
 * The server-side SDKs stores run, unmodified, against the whole pipeline (ingest -> normalizer ->
 * sink -> Customer.io emulator): what each person looks like in the emulator is asserted field by
 * field, and the message ingest judged invalid is in the quarantine with its reason.
 */
import { Analytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde, createRegistry, loadAvroSchema, topicNames, valueSubject } from '@cio-pipeline/core';
import type { QuarantineRecord, RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { stackInfo, testKafka, uniqueName } from '../support/kafka.ts';
import { startPipeline, type CioPerson, type PipelineStack } from '../support/pipeline-stack.ts';
import { readTopic } from '../support/read-topic.ts';

const WRITE_KEY = 'wk-node-clients';
const run = uniqueName('clients').replace(/-/g, '');
let stack: PipelineStack;

beforeAll(async () => {
  // A small identifier limit, so one person of the Segment case reaches it (the others have two).
  stack = await startPipeline(run, { APP_WRITE_KEYS: `server:${WRITE_KEY}` }, { normalizer: { NORMALIZER_MAX_IDENTIFIERS_PER_PERSON: '4' } });
});
afterAll(async () => {
  await stack?.stop();
});

const names = (p: CioPerson): string[] => p.events.map((e) => e.name);
const event = (p: CioPerson, name: string) => p.events.find((e) => e.name === name)!;
/** Segment's SDK as a store runs it against ingest, batching, no retries; the errors it reports. */
function segmentClient(): { analytics: Analytics; errors: unknown[] } {
  const errors: unknown[] = [];
  const analytics = new Analytics({ writeKey: WRITE_KEY, host: stack.ingestUrl, flushAt: 10, flushInterval: 60_000, maxRetries: 0 });
  analytics.on('error', (err) => errors.push(err));
  return { analytics, errors };
}

/** An hour ago, at half past a second: a few ms of skew correction cannot move it to another second. */
const hourAgo = (): number => Math.floor(Date.now() / 1000) * 1000 - 3600_000 + 500;

describe('@segment/analytics-node 3.x', () => {
  it('a batch with one invalid message: the valid events reach Customer.io, the invalid one is quarantined with its reason', async () => {
    const userId = `an-${run}`;
    const { analytics, errors } = segmentClient();
    const t0 = hourAgo();
    analytics.identify({ userId, traits: { email: `Ada.${run}@Example.com`, first_name: 'Ada', plan: 'gold' }, timestamp: new Date(t0) });
    analytics.track({ userId, event: 'Product Viewed', properties: { sku: 'TEA-SENCHA-100', price: 12.5, currency: 'usd' }, timestamp: new Date(t0 + 1000) });
    // analytics-node's size check counts escapes and the letter "i", not bytes: it lets this 40 KB
    // message through, and Segment's 32 KB limit per message makes it invalid.
    analytics.track({ userId, event: 'Added To Cart', messageId: `too-big-${run}`, properties: { sku: 'TEA-BIG', quantity: 1, note: 'x'.repeat(40_000) }, timestamp: new Date(t0 + 2000) });
    analytics.track({ userId, event: 'Added To Cart', properties: { sku: 'TEA-GENMAICHA-50', quantity: 2, price: 9.75, currency: 'USD' }, timestamp: new Date(t0 + 3000) });
    await analytics.closeAndFlush({ timeout: 20_000 });
    // One batch, answered 200: the SDK reports no delivery failure.
    expect(errors).toEqual([]);

    const p = await stack.settled(userId, (x) => names(x).includes('added_to_cart') && x.attributes['first_name'] !== undefined);
    expect(p.id).toBe(userId);
    expect(p.email).toBe(`ada.${run}@example.com`);
    expect(p.anonymous_ids).toEqual([]);
    expect(p.attributes).toEqual({ first_name: 'Ada', plan: 'gold' });
    expect(names(p)).toEqual(['product_viewed', 'added_to_cart']);
    expect(event(p, 'product_viewed').timestamp).toBe(Math.floor((t0 + 1000) / 1000));
    expect(event(p, 'product_viewed').data).toEqual({ sku: 'TEA-SENCHA-100', price: 12.5, currency: 'USD' });
    expect(event(p, 'added_to_cart').timestamp).toBe(Math.floor((t0 + 3000) / 1000));
    expect(event(p, 'added_to_cart').data).toEqual({ sku: 'TEA-GENMAICHA-50', quantity: 2, price: 9.75, currency: 'USD' });
    expect(JSON.stringify(p.events)).not.toContain('TEA-BIG');

    const { registryUrl } = stackInfo();
    const registry = createRegistry(registryUrl);
    const topics = topicNames(stack.prefix);
    const quarantineSerde = new AvroSerde<QuarantineRecord>({ registry, registryUrl, subject: valueSubject(topics.quarantine), schema: loadAvroSchema('quarantine-record') });
    const rawSerde = new AvroSerde<RawAppMessage>({ registry, registryUrl, subject: valueSubject(topics.rawApp), schema: loadAvroSchema('raw-app') });
    const quarantined = await readTopic(testKafka(), topics.quarantine, quarantineSerde, {
      until: (rs) => rs.some((r) => r.value.reasons.some((x) => x.code === 'message_too_large')),
    });
    const record = quarantined.find((r) => r.value.reasons.some((x) => x.code === 'message_too_large'))!.value;
    expect(record.source).toBe('app');
    expect(record.source_topic).toBe(topics.rawApp);
    expect(record.reasons).toHaveLength(1);
    expect(record.reasons[0]!.field).toBeNull();
    expect(record.reasons[0]!.message).toMatch(/^batch\[2\] is 4\d{4} bytes; the limit per message is 32768$/);
    // The original is replayable: the raw record as ingest wrote it.
    const original = (await rawSerde.decode(Buffer.from(record.original))).value;
    expect(original).toMatchObject({ message_id: `too-big-${run}`, type: 'track', write_key_id: 'server', rejection: record.reasons[0] });
    expect(JSON.parse(original.body.toString())).toMatchObject({ event: 'Added To Cart', userId, properties: { sku: 'TEA-BIG' } });
  });
});

describe('@segment/analytics-node 3.x, one user id with a new anonymous id per identify', () => {
  it('past the identifier limit: every call lands, and each link not made is on the conflicts topic', async () => {
    const userId = `cap-${run}`;
    const { analytics, errors } = segmentClient();
    const t0 = hourAgo();
    for (let i = 1; i <= 6; i++) {
      analytics.identify({ userId, anonymousId: `anon-${i}-${run}`, traits: { ...(i === 1 ? { email: `cap.${run}@example.com` } : {}), visit: i }, timestamp: new Date(t0 + i * 1000) });
    }
    analytics.track({ userId, event: 'Product Viewed', properties: { sku: 'TEA-SENCHA-100' }, timestamp: new Date(t0 + 10_000) });
    await analytics.closeAndFlush({ timeout: 20_000 });
    expect(errors).toEqual([]);

    // Every identify and the track reached Customer.io under the user id.
    const p = await stack.settled(userId, (x) => names(x).includes('product_viewed') && x.attributes['visit'] === 6);
    expect(p.email).toBe(`cap.${run}@example.com`);
    expect(names(p)).toEqual(['product_viewed']);
    // user id, email and two anonymous ids make four: the other four anonymous ids were not linked.
    const conflicts = await readTopic(testKafka(), topicNames(stack.prefix).conflicts, { decode: async (v: Buffer) => ({ value: JSON.parse(v.toString('utf8')) as Record<string, unknown> }) }, {
      until: (rs) => rs.filter((r) => r.value['claimed_customer_id'] === userId).length >= 4,
    });
    const refused = conflicts.map((r) => r.value).filter((c) => c['claimed_customer_id'] === userId);
    expect(refused.map((c) => c['identifier']).sort()).toEqual([3, 4, 5, 6].map((i) => `anon-${i}-${run}`));
    expect(refused.every((c) => c['rule'] === 'identifier_limit' && c['resolution'] === 'not_linked' && c['limit'] === 4)).toBe(true);
  });
});

describe('@rudderstack/rudder-sdk-node 3.x', () => {
  it('with its default gzip compression, every event lands', async () => {
    const userId = `rs-${run}`;
    const client = new RudderAnalytics(WRITE_KEY, { dataPlaneUrl: stack.ingestUrl, flushAt: 10, flushInterval: 60_000, retryCount: 0 });
    // The default is what stores run; fail loudly if a new version changes it under this test.
    expect((client as unknown as { gzip: boolean }).gzip).toBe(true);
    const t0 = hourAgo();
    client.identify({ userId, traits: { email: `rudy.${run}@example.com`, first_name: 'Rudy', last_name: 'Stack' }, timestamp: new Date(t0) });
    client.track({ userId, event: 'Product Viewed', properties: { sku: 'TEA-OOLONG-75', price: 15 }, timestamp: new Date(t0 + 1000) });
    client.track({ userId, event: 'Added To Cart', properties: { sku: 'TEA-OOLONG-75', quantity: 3, cart_id: `cart-${run}` }, timestamp: new Date(t0 + 2000) });
    await new Promise<void>((resolve, reject) => {
      void client.flush((err?: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
    });

    const p = await stack.settled(userId, (x) => names(x).includes('added_to_cart') && x.attributes['first_name'] !== undefined);
    expect(p.id).toBe(userId);
    expect(p.email).toBe(`rudy.${run}@example.com`);
    expect(p.anonymous_ids).toEqual([]);
    expect(p.attributes).toEqual({ first_name: 'Rudy', last_name: 'Stack' });
    expect(names(p)).toEqual(['product_viewed', 'added_to_cart']);
    expect(event(p, 'product_viewed').timestamp).toBe(Math.floor((t0 + 1000) / 1000));
    expect(event(p, 'product_viewed').data).toEqual({ sku: 'TEA-OOLONG-75', price: 15 });
    expect(event(p, 'added_to_cart').timestamp).toBe(Math.floor((t0 + 2000) / 1000));
    expect(event(p, 'added_to_cart').data).toEqual({ sku: 'TEA-OOLONG-75', quantity: 3, cart_id: `cart-${run}` });
  });

  it('with its default batching, a batch past Segment\'s 500 KB (20 calls near 32 KB each) lands whole', async () => {
    const userId = `rs-big-${run}`;
    // flushAt left at its default (20): the SDK flushes up to 20 calls whatever their size, and
    // does not retry a 413, so a limit below what it sends loses the whole batch.
    const client = new RudderAnalytics(WRITE_KEY, { dataPlaneUrl: stack.ingestUrl, flushInterval: 60_000, retryCount: 0 });
    const t0 = hourAgo();
    const note = 'n'.repeat(28 * 1024);
    for (let i = 0; i < 20; i++) {
      client.track({ userId, event: 'Product Viewed', properties: { sku: `TEA-${i}`, note }, timestamp: new Date(t0 + i * 1000) });
    }
    await new Promise<void>((resolve, reject) => {
      void client.flush((err?: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
    });

    const p = await stack.settled(userId, (x) => x.events.length >= 20);
    expect(p.events.map((e) => e.data['sku'])).toEqual(Array.from({ length: 20 }, (_, i) => `TEA-${i}`));
    expect(p.events.every((e) => e.data['note'] === note)).toBe(true);
  });
});

describe('trace', () => {
  it('explains every raw record of these journeys: each with its verdict, each event sent with Customer.io\'s answer', async () => {
    await stack.explainedByTrace();
  }, 120_000);
});
