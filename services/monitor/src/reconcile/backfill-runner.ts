/**
 * `reconcile --backfill`: the missing orders' own lines of the export go to the normalizer's
 * backfill command (the normal path: raw.shopify, then the normalizer's stages and dedupe), and
 * each order it actually wrote goes to reconcile's ledger. The next reconcile reports those as
 * backfilled, not missing, until the pipeline's outcome arrives, and a second --backfill does not
 * hand them over again, whether or not the pipeline has caught up. An order backfill did not
 * write (invalid, or already known to the normalizer) stays missing.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Partitioners } from 'kafkajs';
import { ensureTopics, type Kafka, type Logger, type Topics } from '@cio-pipeline/core';
import { ReconcileError } from '../errors.ts';
import { backfilledSince, offsetsNow } from './backfill-writes.ts';
import { exportLines, parseOrderLine } from './orders-export.ts';
import type { LedgerEntry } from './read-outcomes.ts';

/** The normalizer's backfill entry, run as its own process with its own configuration. */
export const BACKFILL_ENTRY = fileURLToPath(new URL('../../../normalizer/src/commands/backfill.ts', import.meta.url));

/** What backfill printed on stdout (services/normalizer/src/commands/backfill.ts's BackfillSummary). */
export interface BackfillSummary {
  read: number;
  new: number;
  alreadyDelivered: number;
  invalid: number;
  invalidReasons: Record<string, number>;
}

export interface BackfillRun {
  /** Orders handed to backfill. */
  handed: string[];
  /** Of those, the ones it wrote to raw.shopify (and reconcile recorded in its ledger). */
  written: string[];
  summary: BackfillSummary | null;
}

export interface BackfillDeps {
  kafka: Kafka;
  topics: Topics;
  registryUrl: string;
  logger: Logger;
  /** The environment backfill runs with (brokers, registry, prefix, the normalizer's settings). */
  env: Readonly<Record<string, string | undefined>>;
}

/** Each missing order's first line in the export, in file order. */
async function missingLines(file: string, missing: ReadonlySet<string>): Promise<Map<string, string>> {
  const lines = new Map<string, string>();
  for await (const line of exportLines(file)) {
    if (line.trim() === '') continue;
    const order = parseOrderLine(line);
    if (!('why' in order) && missing.has(order.orderId) && !lines.has(order.orderId)) lines.set(order.orderId, line);
  }
  return lines;
}

export async function backfillMissing(file: string, missing: ReadonlySet<string>, deps: BackfillDeps): Promise<BackfillRun> {
  if (missing.size === 0) return { handed: [], written: [], summary: null };
  const lines = await missingLines(file, missing);
  const dir = mkdtempSync(join(tmpdir(), 'reconcile-'));
  const subset = join(dir, 'missing-orders.jsonl');
  let summary: BackfillSummary;
  const before = await offsetsNow(deps.kafka, deps.topics.rawShopify);
  try {
    writeFileSync(subset, `${[...lines.values()].join('\n')}\n`);
    deps.logger.info({ orders: lines.size }, 'handing the missing orders to backfill');
    summary = await runBackfill(subset, deps.env);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const handed = [...lines.keys()];
  const wrote = summary.new === 0 ? new Set<string>() : await backfilledSince(deps.kafka, deps.registryUrl, deps.topics.rawShopify, before);
  const written = handed.filter((id) => wrote.has(id));
  if (written.length > 0) await recordInLedger(written, deps);
  return { handed, written, summary };
}

function runBackfill(file: string, env: BackfillDeps['env']): Promise<BackfillSummary> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BACKFILL_ENTRY, '--file', file], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.on('error', (err) => reject(new ReconcileError('RECONCILE_BACKFILL_FAILED', `backfill did not start: ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => {
      if (code !== 0) {
        reject(new ReconcileError('RECONCILE_BACKFILL_FAILED', `backfill exited ${code ?? signal}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as BackfillSummary);
      } catch {
        reject(new ReconcileError('RECONCILE_BACKFILL_FAILED', `backfill succeeded but its summary is not JSON: ${stdout.slice(0, 200)}`));
      }
    });
  });
}

async function recordInLedger(orderIds: readonly string[], deps: BackfillDeps): Promise<void> {
  const admin = deps.kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [{ topic: deps.topics.reconcileBackfills, compacted: true }]);
  } finally {
    await admin.disconnect();
  }
  const producer = deps.kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    const sentAt = Date.now();
    const value = JSON.stringify({ sent_at: sentAt } satisfies LedgerEntry);
    await producer.send({ topic: deps.topics.reconcileBackfills, acks: -1, messages: orderIds.map((id) => ({ key: id, value })) });
  } finally {
    await producer.disconnect();
  }
}
