/**
 * Issue #16, reconciliation: an order of the store's export that never reached Customer.io is
 * delivered once by `reconcile --backfill`, through the whole pipeline (the normalizer's backfill,
 * raw.shopify, normalizer, sink) into the emulator, however often --backfill runs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topicNames } from '@cio-pipeline/core';
import type { DayReport } from '../../services/monitor/src/reconcile/report.ts';
import { createTestTopics, stackInfo, testKafka, uniqueName } from '../support/kafka.ts';
import { startPipeline, type PipelineStack } from '../support/pipeline-stack.ts';
import { fixtureBytes } from '../support/raw-events.ts';

const exec = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const ORDER_ID = '5904832711894320001';
const EMAIL = 'maya.lindqvist@example.com';

describe('reconcile --backfill end to end', () => {
  const run = uniqueName('reconcilee2e').replace(/-/g, '');
  let stack: PipelineStack;
  let file: string;

  beforeAll(async () => {
    stack = await startPipeline(run, {});
    // Until the normalizer and sink write them, the audit and receipt topics exist empty.
    const topics = topicNames(stack.prefix);
    await createTestTopics(testKafka(), [{ topic: topics.audit }, { topic: topics.receipts }]);
    file = join(mkdtempSync(join(tmpdir(), 'reconcile-e2e-')), 'orders.jsonl');
    const line = fixtureBytes('shopify/orders-create.json').toString('utf8').replace('"id": 5904832711894301745', `"id": ${ORDER_ID}`).replace(/\n\s*/g, ' ');
    writeFileSync(file, `${line}\n`);
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
  });

  async function reconcile(...args: string[]): Promise<DayReport & { backfill_handed?: string[] }> {
    const { brokers, registryUrl } = stackInfo();
    const env = { ...process.env, KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: stack.prefix, LOG_LEVEL: 'warn' };
    const { stdout } = await exec(process.execPath, [join(ROOT, 'services/monitor/src/reconcile/cli.ts'), '--orders', file, '--json', ...args], { env, cwd: ROOT, timeout: 120_000 });
    const days = stdout.trim().split('\n').map((l) => JSON.parse(l) as DayReport);
    expect(days).toHaveLength(1);
    return days[0]!;
  }

  it('delivers the missing order once, over two --backfill runs', async () => {
    expect(await reconcile('--backfill')).toMatchObject({ orders: 1, missing_ids: [ORDER_ID], backfill_handed: [ORDER_ID] });
    expect(await reconcile('--backfill')).toMatchObject({ orders: 1, missing: 0, backfill_handed: [] });

    const purchases = (events: Array<{ name: string; data: Record<string, unknown> }>) =>
      events.filter((e) => e.name === 'order_completed' && String(e.data['order_id']) === ORDER_ID);
    const person = await stack.settled(EMAIL, (p) => purchases(p.events).length > 0);
    expect(purchases(person.events)).toHaveLength(1);
  }, 300_000);

  it('trace explains every raw record of the run, the backfilled order among them', async () => {
    await stack.explainedByTrace();
  }, 120_000);
});
