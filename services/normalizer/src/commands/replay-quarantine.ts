/**
 * Replays quarantined events after a fix to the tracking plan (or to a source): re-submits the
 * original raw records to the topic they came from, so the normalizer judges them again.
 *
 *   node services/normalizer/src/commands/replay-quarantine.ts [--reason CODE] [--event NAME] [--source S]
 *        [--since ISO] [--until ISO] [--dry-run]
 *
 * `--since` is inclusive and `--until` exclusive (quarantined_at), as in the sink's DLQ replay.
 *
 * Records keep their original key and bytes. A replayed record that is still invalid is
 * quarantined again (with the new plan's version); one that now passes becomes canonical, and the
 * dedupe keys make a second replay of the same records harmless.
 *
 * Logs and progress on stderr, the summary (one JSON line) on stdout. Exit 0 done, 1 failure
 * (Kafka, registry), 2 bad usage (unknown flag, a reason not in QUARANTINE_REASON_CODES, a bad time).
 */
import { parseArgs } from 'node:util';
import {
  AvroSerde, ProgressBar, TIME_WINDOW_HELP, createKafka, createLogger, createRegistry, inTimeWindow, loadAvroSchema, parseTimeWindow,
  readTopicToEnd, topicNames, valueSubject, type TimeWindow,
} from '@cio-pipeline/core';
import type { QuarantineRecord } from '@cio-pipeline/core/generated/avro-types';
import { QUARANTINE_REASON_CODES, isQuarantineReasonCode } from '../quarantine-reasons.ts';
import { loadConfigOrExit } from '../service-config.ts';

export interface QuarantineFilter extends TimeWindow {
  reason?: string;
  event?: string;
  source?: string;
}

const USAGE = `usage: replay-quarantine.ts [--reason CODE] [--event NAME] [--source S] [--since ISO] [--until ISO] [--dry-run]
  ${TIME_WINDOW_HELP} (quarantined_at)
  --reason is one of: ${QUARANTINE_REASON_CODES.join(', ')}`;

function usageError(problem: string): never {
  process.stderr.write(`replay-quarantine: ${problem} (--help for usage)\n`);
  process.exit(2);
}

export function matches(record: QuarantineRecord, f: QuarantineFilter): boolean {
  if (f.reason && !record.reasons.some((r) => r.code === f.reason)) return false;
  if (f.event && record.event_name !== f.event) return false;
  if (f.source && record.source !== f.source) return false;
  return inTimeWindow(record.quarantined_at, f);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        reason: { type: 'string' }, event: { type: 'string' }, source: { type: 'string' },
        since: { type: 'string' }, until: { type: 'string' }, 'dry-run': { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    usageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const { window, problems } = parseTimeWindow(values);
  if (values.reason !== undefined && !isQuarantineReasonCode(values.reason)) {
    problems.push(`--reason "${values.reason}" is not a quarantine reason code (one of ${QUARANTINE_REASON_CODES.join(', ')})`);
  }
  if (problems.length > 0) usageError(problems.join('; '));
  const filter: QuarantineFilter = { ...window };
  for (const k of ['reason', 'event', 'source'] as const) if (values[k]) filter[k] = values[k];
  const config = loadConfigOrExit(process.env);
  const logger = createLogger('replay-quarantine', 'warn', process.stderr);
  const topics = topicNames(config.topicPrefix);
  const kafka = createKafka({ brokers: config.brokers, clientId: 'replay-quarantine', logger });
  const registry = createRegistry(config.registryUrl);
  const serde = new AvroSerde<QuarantineRecord>({ registry, registryUrl: config.registryUrl, subject: valueSubject(topics.quarantine), schema: loadAvroSchema('quarantine-record') });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  const summary = { read: 0, matched: 0, replayed: 0, undecodable: 0 };
  // Sent in batches (one round trip per 500 records, not per record), each acknowledged by all
  // replicas before it counts as replayed. Order per source partition is kept: one producer,
  // one request at a time.
  let pending: Array<{ topic: string; message: { key: Buffer | null; value: Buffer } }> = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const byTopic = new Map<string, Array<{ key: Buffer | null; value: Buffer }>>();
    for (const p of pending) {
      const list = byTopic.get(p.topic);
      if (list) list.push(p.message);
      else byTopic.set(p.topic, [p.message]);
    }
    await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    summary.replayed += pending.length;
    pending = [];
  };
  const bar = new ProgressBar('replay', 0);
  await readTopicToEnd(kafka, topics.quarantine, async (m) => {
    summary.read++;
    if (m.value === null) return;
    let record: QuarantineRecord;
    try {
      record = (await serde.decode(m.value)).value;
    } catch {
      summary.undecodable++;
      return;
    }
    if (!matches(record, filter)) return;
    summary.matched++;
    if (values['dry-run']) return;
    pending.push({ topic: record.source_topic, message: { key: record.source_key, value: record.original } });
    if (pending.length >= 500) await flush();
  }, {
    onProgress: (read, total) => {
      bar.setTotal(total);
      bar.update(read, `matched ${summary.matched}`);
    },
  });
  await flush();
  bar.finish(summary.read, `matched ${summary.matched}`);
  await producer.disconnect();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

if (import.meta.main) {
  main().catch((err: Error) => {
    process.stderr.write(`replay failed: ${err.message}\n`);
    process.exit(1);
  });
}
