/**
 * The operator commands through the real broker: a backfill from an orders export that sends only
 * what is missing (twice over the same export changes nothing), and a quarantine replay after a
 * fix to the tracking plan.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { AvroSerde, createRegistry, formatBytes, loadAvroSchema, topicNames, valueSubject, type Kafka } from '@cio-pipeline/core';
import type { CanonicalEvent, QuarantineRecord, RawAppMessage } from '@cio-pipeline/core/generated/avro-types';
import { startNormalizer, type NormalizerService } from '../src/app.ts';
import { loadServiceConfig } from '../src/service-config.ts';
import { quietLogger, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { appEnvelope, fixtureBytes } from '../../../test/support/raw-events.ts';
import { readTopic } from '../../../test/support/read-topic.ts';

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;
const PLAN = join(ROOT, 'schemas/tracking-plan.yaml');

function env(prefix: string, group: string, plan = PLAN): Record<string, string> {
  const { brokers, registryUrl } = stackInfo();
  return {
    KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, NORMALIZER_GROUP_ID: group,
    NORMALIZER_OPS_PORT: '0', NORMALIZER_TRACKING_PLAN: plan, NORMALIZER_FUTURE_TOLERANCE_MS: String(10 * 365 * 86_400_000),
    NORMALIZER_COMPLETENESS_HOLD_MS: '0', LOG_LEVEL: 'warn',
  };
}

/** Runs a command; its stdout must be the summary alone (logs and progress go to stderr). */
async function command(script: string, args: string[], vars: Record<string, string>, onStderr?: (stderr: string) => void): Promise<Record<string, unknown>> {
  const { stdout, stderr } = await run(process.execPath, [join(ROOT, script), ...args], { env: { ...process.env, ...vars }, cwd: ROOT, timeout: 90_000 });
  const lines = stdout.trim().split('\n');
  expect(lines, stdout).toHaveLength(1);
  onStderr?.(stderr);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

describe('operator commands', () => {
  const services: NormalizerService[] = [];
  afterEach(async () => {
    while (services.length > 0) await services.pop()!.stop();
  });

  async function canonicalSerde(prefix: string): Promise<AvroSerde<CanonicalEvent>> {
    const { registryUrl } = stackInfo();
    return new AvroSerde({ registry: createRegistry(registryUrl), registryUrl, subject: valueSubject(topicNames(prefix).canonical), schema: loadAvroSchema('canonical-event') });
  }

  it('backfills missing purchases from an orders export, and a second run sends nothing', async () => {
    const prefix = `${uniqueName('backfill')}.`;
    const group = uniqueName('normalizer');
    services.push(await startNormalizer(loadServiceConfig(env(prefix, group)), quietLogger));

    const order = fixtureBytes('shopify/orders-create.json').toString('utf8');
    const lines = ['5904832711894301001', '5904832711894301002', '5904832711894301003'].map((id) =>
      order.replace('"id": 5904832711894301745', `"id": ${id}`).replace(/\n\s*/g, ' '));
    lines.push(lines[0]!); // the same order twice in one export
    lines.push(order.replace('"id": 5904832711894301745', '"id": 77').replace('"currency": "usd"', '"currency": "XYZ"').replace(/\n\s*/g, ' '));
    const dir = mkdtempSync(join(tmpdir(), 'backfill-'));
    const file = join(dir, 'orders.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);

    let progress = '';
    const first = await command('services/normalizer/src/commands/backfill.ts', ['--file', file], env(prefix, group), (stderr) => { progress = stderr; });
    // The bar counts the file's bytes: off a terminal, a first line and the final one, not one per order.
    const bars = progress.split('\n').filter((l) => l.startsWith('backfill ['));
    expect(bars.length).toBeLessThanOrEqual(2);
    const size = formatBytes(statSync(file).size);
    expect(bars.at(-1)).toContain(`${size}/${size} 100%`);
    expect(first).toMatchObject({ read: 5, new: 3, alreadyDelivered: 1, invalid: 1 });

    const kafka: Kafka = testKafka();
    const serde = await canonicalSerde(prefix);
    const orders = (all: Array<{ value: CanonicalEvent }>) => all.filter((e) => e.value.name === 'order_completed');
    const events = await readTopic(kafka, topicNames(prefix).canonical, serde, { until: (all) => orders(all).length >= 3, settleMs: 1500 });
    expect(orders(events).map((e) => e.value.commerce?.order_id).sort()).toEqual(['5904832711894301001', '5904832711894301002', '5904832711894301003']);

    // Wait until the normalizer has recorded the dedupe keys, then run the same export again.
    const second = await command('services/normalizer/src/commands/backfill.ts', ['--file', file], env(prefix, group));
    expect(second).toMatchObject({ read: 5, new: 0, alreadyDelivered: 4, invalid: 1 });
    const after = await readTopic(kafka, topicNames(prefix).canonical, serde, { until: (all) => all.length >= events.length, settleMs: 2000 });
    expect(orders(after)).toHaveLength(3);
    expect(after).toHaveLength(events.length);
  });

  it('replays quarantined events once the tracking plan is fixed', async () => {
    const prefix = `${uniqueName('replay')}.`;
    const group = uniqueName('normalizer');
    const dir = mkdtempSync(join(tmpdir(), 'plan-'));
    // Before the fix: unplanned events are blocked, so "Wishlist Added" is quarantined.
    const blocking = join(dir, 'blocking.yaml');
    writeFileSync(blocking, readFileSync(PLAN, 'utf8').replace(/^unplanned_events: flag$/m, 'unplanned_events: block'));
    expect(readFileSync(blocking, 'utf8')).toMatch(/^unplanned_events: block$/m);
    const service = await startNormalizer(loadServiceConfig(env(prefix, group, blocking)), quietLogger);

    const kafka = testKafka();
    const { registryUrl } = stackInfo();
    const rawSerde = new AvroSerde<RawAppMessage>({ registry: createRegistry(registryUrl), registryUrl, subject: valueSubject(topicNames(prefix).rawApp), schema: loadAvroSchema('raw-app') });
    await rawSerde.init({ register: true, compatibility: 'BACKWARD_TRANSITIVE' });
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const message = { type: 'track', userId: 'cus_1', messageId: 'wish-1', event: 'Wishlist Added', properties: { sku: 'TEA-1' }, timestamp: '2026-11-20T10:00:00Z' };
    await producer.send({ topic: topicNames(prefix).rawApp, acks: -1, messages: [{ key: 'cus_1', value: rawSerde.encode(appEnvelope(message)) }] });
    await producer.disconnect();

    const quarantineSerde = new AvroSerde<QuarantineRecord>({ registry: createRegistry(registryUrl), registryUrl, subject: valueSubject(topicNames(prefix).quarantine), schema: loadAvroSchema('quarantine-record') });
    const quarantined = await readTopic(kafka, topicNames(prefix).quarantine, quarantineSerde, { until: (all) => all.length >= 1 });
    expect(quarantined[0]!.value.reasons.map((r) => r.code)).toContain('unknown_event_blocked');
    await service.stop();

    // The fix: the data team adds the event to the plan. The normalizer restarts with it.
    const fixed = join(dir, 'fixed.yaml');
    writeFileSync(fixed, readFileSync(blocking, 'utf8').replace(/^events:\n/m, 'events:\n  wishlist_added:\n    description: A product went on the wishlist.\n    tier: 2\n    anonymous: forward\n    required: [sku]\n    properties:\n      sku: string\n\n'));
    services.push(await startNormalizer(loadServiceConfig(env(prefix, group, fixed)), quietLogger));

    const dry = await command('services/normalizer/src/commands/replay-quarantine.ts', ['--reason', 'unknown_event_blocked', '--dry-run'], env(prefix, group, fixed));
    expect(dry).toMatchObject({ matched: 1, replayed: 0 });
    const none = await command('services/normalizer/src/commands/replay-quarantine.ts', ['--reason', 'unparseable_body'], env(prefix, group, fixed));
    expect(none).toMatchObject({ matched: 0, replayed: 0 });
    const replay = await command('services/normalizer/src/commands/replay-quarantine.ts', ['--reason', 'unknown_event_blocked'], env(prefix, group, fixed));
    expect(replay).toMatchObject({ read: 1, matched: 1, replayed: 1 });

    const serde = await canonicalSerde(prefix);
    const events = await readTopic(kafka, topicNames(prefix).canonical, serde, { until: (all) => all.some((e) => e.value.name === 'wishlist_added') });
    const wish = events.find((e) => e.value.name === 'wishlist_added')!.value;
    expect(wish.customer_id).toBe('cus_1');
    expect(wish.properties['sku'] ?? wish.commerce?.sku).toBe('TEA-1');
  });
});
