/**
 * Backfill from the source of truth: an orders export (JSON lines of Shopify orders as the Admin
 * API returns them) fed through the pipeline, so purchases that never reached Customer.io do, and
 * those already there are not sent again.
 *
 *   node services/normalizer/src/commands/backfill.ts --file orders.jsonl [--dry-run]
 *
 * Each order is judged with the normalizer's own stages (the same tracking plan), then looked up
 * in the dedupe changelog: known business keys are "already delivered" and are not written. New
 * orders go to raw.shopify as `orders/create` deliveries with the line's exact bytes, so they take
 * the normal path (and its dedupe, should a webhook race the backfill). Running it twice over one
 * export writes nothing the second time.
 *
 * Logs and progress (bytes of the file read) on stderr, the summary (one JSON line) on stdout.
 * Exit 0 done, 1 failure (Kafka, registry), 2 bad usage (unknown flag, no or unreadable --file).
 */
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  AvroSerde, ProgressBar, createKafka, formatBytes, createLogger, createRegistry, loadAvroSchema, readTopicToEnd, topicNames, valueSubject,
} from '@cio-pipeline/core';
import type { RawShopifyWebhook } from '@cio-pipeline/core/generated/avro-types';
import { EMPTY_PRODUCT_TABLE } from '../stages/enrich.ts';
import { get, parseJsonLossless } from '../stages/json.ts';
import { loadConfigOrExit } from '../service-config.ts';
import { createStatelessPipeline, pipelineOptionsFromConfig } from '../stages/stateless.ts';
import { loadTrackingPlan } from '@cio-pipeline/core';

export interface BackfillSummary {
  read: number;
  new: number;
  alreadyDelivered: number;
  invalid: number;
  invalidReasons: Record<string, number>;
}

const ORDER_TOPIC = 'orders/create';
const USAGE = `usage: backfill.ts --file orders.jsonl [--dry-run]
  --file      JSON lines of Shopify orders (Admin API shape), one order per line
  --dry-run   judge and count, write nothing`;

function usageError(problem: string): never {
  process.stderr.write(`backfill: ${problem} (--help for usage)\n`);
  process.exit(2);
}

function parseCommandLine(): { file: string; fileBytes: number; dryRun: boolean } {
  let values;
  try {
    ({ values } = parseArgs({ options: { file: { type: 'string' }, 'dry-run': { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } }));
  } catch (err) {
    usageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (!values.file) usageError('--file is required');
  let fileBytes: number;
  try {
    const stat = statSync(values.file);
    if (!stat.isFile()) usageError(`--file ${values.file} is not a file`);
    fileBytes = stat.size;
  } catch (err) {
    usageError(`cannot read --file ${values.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { file: values.file, fileBytes, dryRun: values['dry-run'] };
}

async function main(): Promise<void> {
  const values = parseCommandLine();
  const config = loadConfigOrExit(process.env);
  const logger = createLogger('backfill', config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr);
  const topics = topicNames(config.topicPrefix);
  const kafka = createKafka({ brokers: config.brokers, clientId: 'backfill', logger });
  const plan = loadTrackingPlan(config.stages.trackingPlanPath);
  const stateless = createStatelessPipeline({ plan, options: pipelineOptionsFromConfig({ ...config.stages, orderTopics: [ORDER_TOPIC] }, EMPTY_PRODUCT_TABLE) });

  // What already went out: the normalizer's dedupe keys (compacted, so one record per live key).
  const delivered = new Set<string>();
  await readTopicToEnd(kafka, topics.dedupeChangelog, (m) => {
    if (m.key === null) return;
    const key = m.key.toString();
    if (m.value === null) delivered.delete(key.slice(2));
    else delivered.add(key.slice(2));
  });

  const registry = createRegistry(config.registryUrl);
  const serde = new AvroSerde<RawShopifyWebhook>({ registry, registryUrl: config.registryUrl, subject: valueSubject(topics.rawShopify), schema: loadAvroSchema('raw-shopify') });
  await serde.init(config.autoRegisterSchemas ? { register: true, compatibility: 'BACKWARD_TRANSITIVE' } : { register: false });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  const summary: BackfillSummary = { read: 0, new: 0, alreadyDelivered: 0, invalid: 0, invalidReasons: {} };
  // The share of the file read: known up front, unlike the number of lines.
  const bar = new ProgressBar('backfill', values.fileBytes, { format: formatBytes });
  let bytesRead = 0;
  let pending: Array<{ key: string | null; value: Buffer }> = [];
  const flush = async () => {
    if (pending.length === 0 || values.dryRun) return void (pending = []);
    await producer.send({ topic: topics.rawShopify, acks: -1, messages: pending });
    pending = [];
  };
  const lines = createInterface({ input: createReadStream(values.file), crlfDelay: Infinity });
  for await (const line of lines) {
    bytesRead += Buffer.byteLength(line, 'utf8') + 1; // the line and its newline
    if (line.trim() === '') continue;
    summary.read++;
    const body = Buffer.from(line, 'utf8');
    const verdict = judge(body);
    if (verdict.kind === 'invalid') {
      summary.invalid++;
      for (const code of verdict.codes) summary.invalidReasons[code] = (summary.invalidReasons[code] ?? 0) + 1;
    } else if (delivered.has(verdict.dedupeKey)) {
      summary.alreadyDelivered++;
    } else {
      summary.new++;
      delivered.add(verdict.dedupeKey); // the same order twice in one export is written once
      pending.push({ key: verdict.customerKey, value: serde.encode(envelope(body, verdict.orderId)) });
      if (pending.length >= 500) await flush();
    }
    bar.update(Math.min(bytesRead, values.fileBytes), `new ${summary.new} delivered ${summary.alreadyDelivered} invalid ${summary.invalid}`);
  }
  await flush();
  bar.finish(values.fileBytes, `new ${summary.new} delivered ${summary.alreadyDelivered} invalid ${summary.invalid}`);
  await producer.disconnect();
  process.stdout.write(`${JSON.stringify(summary)}\n`);

  function judge(bytes: Buffer): { kind: 'invalid'; codes: string[] } | { kind: 'valid'; dedupeKey: string; orderId: string; customerKey: string | null } {
    let orderId = 'unknown';
    let customerKey: string | null = null;
    try {
      const parsed = parseJsonLossless(bytes);
      orderId = String(get(parsed, 'id') ?? 'unknown');
      const customer = get(parsed, 'customer', 'id');
      customerKey = customer === undefined || customer === null ? null : String(customer);
    } catch {
      return { kind: 'invalid', codes: ['unparseable_body'] };
    }
    const now = Date.now();
    const result = stateless.process({
      source: 'shopify', envelope: envelope(bytes, orderId), schemaVersion: 0,
      coordinates: { topic: values.file, partition: 0, offset: String(summary.read), key: null }, receivedAt: now,
    });
    if (result.quarantine) return { kind: 'invalid', codes: result.quarantine.reasons.map((r) => r.code) };
    const order = result.candidates.find((c) => c.event.name === 'order_completed');
    if (!order) return { kind: 'invalid', codes: ['not_an_order'] };
    return { kind: 'valid', dedupeKey: order.dedupeKey, orderId, customerKey };
  }
}

function envelope(body: Buffer, orderId: string): RawShopifyWebhook {
  return {
    ingest_id: `backfill:${orderId}`,
    received_at: Date.now(),
    topic: ORDER_TOPIC,
    shop_domain: null,
    // A stable delivery id: the same order backfilled twice is one delivery.
    webhook_id: `backfill:${orderId}`,
    event_id: null,
    triggered_at: null,
    api_version: null,
    body,
  };
}

if (import.meta.main) {
  main().catch((err: Error) => {
    process.stderr.write(`backfill failed: ${err.message}\n`);
    process.exit(1);
  });
}
