/**
 * The trace through the real broker and registry: audit records and receipt batches produced with
 * the Avro serde as the normalizer and the sink write them (and one single receipt in the legacy
 * sink.receipts, as an older sink wrote it), the monitor (its own process) indexing them, and
 * `npm run trace -- <identifier> --json` telling one shopper's story: held then released, canonical,
 * a duplicate dropped, a quarantined order, delivered and rejected by Customer.io. A restart reads
 * only the tail; with the monitor stopped, --index-dir reads the same index.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvroSerde, createRegistry, loadAvroSchema, topicNames, valueSubject, type Kafka, type Topics } from '@cio-pipeline/core';
import type { AuditRecord, DeliveryReceipt, DeliveryReceiptBatch } from '@cio-pipeline/core/generated/avro-types';
import { eventually } from '../../../test/support/eventually.ts';
import { createTestTopics, stackInfo, testKafka, uniqueName } from '../../../test/support/kafka.ts';
import { startService, type RunningService } from '../../../test/support/processes.ts';
import { runCli } from '../../../test/support/run-cli.ts';
import type { StoryLine } from '../src/trace/story.ts';
import { audit, inBatches, journey, journeyStory, receipt, stranger } from './trace-fixtures.ts';

const runTrace = (args: string[]) => runCli('services/monitor/src/trace/cli.ts', args);

const parse = (stdout: string): StoryLine[] => stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as StoryLine);

describe('trace', () => {
  const { brokers, registryUrl } = stackInfo();
  let kafka: Kafka;
  let topics: Topics;
  let prefix: string;
  let dir: string;
  let cleanup: () => Promise<void>;
  let auditSerde: AvroSerde<AuditRecord>;
  let batchSerde: AvroSerde<DeliveryReceiptBatch>;
  let legacySerde: AvroSerde<DeliveryReceipt>;
  let monitor: RunningService | undefined;
  let url = '';

  /** Batches as the sink writes them (null keys); `legacy` one receipt per record, as older sinks did. */
  async function produce(audits: AuditRecord[], batches: DeliveryReceiptBatch[], legacy: DeliveryReceipt[] = []): Promise<void> {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      if (audits.length > 0) await producer.send({ topic: topics.audit, acks: -1, messages: audits.map((a) => ({ key: `${a.source_topic}/${a.source_partition}/${a.source_offset}`, value: auditSerde.encode(a) })) });
      if (batches.length > 0) await producer.send({ topic: topics.receipts, acks: -1, messages: batches.map((b) => ({ key: null, value: batchSerde.encode(b) })) });
      if (legacy.length > 0) await producer.send({ topic: topics.legacyReceipts, acks: -1, messages: legacy.map((r) => ({ key: r.customer_key, value: legacySerde.encode(r) })) });
    } finally {
      await producer.disconnect();
    }
  }

  async function startMonitor(): Promise<void> {
    let port: number | undefined;
    monitor = startService('monitor', 'services/monitor/src/main.ts', {
      KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix, MONITOR_GROUP_ID: uniqueName('monitor'),
      MONITOR_OPS_PORT: '0', MONITOR_TRACE_DIR: dir, LOG_LEVEL: 'info',
    }, (line) => {
      const m = /"opsPort":(\d+)/.exec(line);
      if (m) port = Number(m[1]);
    });
    await eventually('monitor listening', () => port !== undefined, { timeoutMs: 60_000, context: () => monitor!.output() });
    url = `http://127.0.0.1:${port}`;
  }

  /** A counter's total, over every topic or for one. */
  async function counted(metric: string, topic?: string): Promise<number> {
    const text = await (await fetch(`${url}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith(`${metric}{`) && (topic === undefined || l.includes(`topic="${topic}"`)))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  }

  beforeAll(async () => {
    kafka = testKafka();
    prefix = `${uniqueName('trace')}.`;
    topics = topicNames(prefix);
    dir = await mkdtemp(join(tmpdir(), 'trace-int-'));
    // The legacy topic before the monitor starts, as after an upgrade: the indexer reads it only if it exists.
    cleanup = await createTestTopics(kafka, [topics.audit, topics.receipts, topics.legacyReceipts].map((topic) => ({ topic, config: { 'cleanup.policy': 'delete' } })));
    const registry = createRegistry(registryUrl);
    auditSerde = new AvroSerde({ registry, registryUrl, subject: valueSubject(topics.audit), schema: loadAvroSchema('audit-record') });
    batchSerde = new AvroSerde({ registry, registryUrl, subject: valueSubject(topics.receipts), schema: loadAvroSchema('delivery-receipt-batch') });
    legacySerde = new AvroSerde({ registry, registryUrl, subject: valueSubject(topics.legacyReceipts), schema: loadAvroSchema('delivery-receipt') });
    for (const s of [auditSerde, batchSerde, legacySerde]) await s.init({ register: true, compatibility: 'FULL_TRANSITIVE' });
  });

  afterAll(async () => {
    await monitor?.stop();
    await cleanup?.();
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topics.canonical, topics.quarantine, topics.dlq] }).catch(() => undefined);
    await admin.disconnect();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const ivy = journey('ivy');
  // Her first receipt an older sink wrote to sink.receipts, the rest the new sink in batches. A
  // batch written twice (the sink crashed between the write and the commit) is told once.
  const ivyLegacy = ivy.receipts.slice(0, 1);
  const ivyBatches = inBatches(ivy.receipts.slice(1), 2);
  ivyBatches.push(ivyBatches[0]!);

  it('tells every record of the shopper, from any of her identifiers, and nothing of anyone else', async () => {
    const j = ivy;
    await produce([...j.audits, stranger('ivy')], ivyBatches, ivyLegacy);
    await startMonitor();

    const expectedLines = 17;
    const run = await eventually('the whole story indexed', () => runTrace([j.email, '--json', '--monitor-url', url]),
      (r) => r.code === 0 && parse(r.stdout).length >= expectedLines, { timeoutMs: 90_000, intervalMs: 500, context: () => monitor!.output() });
    const lines = parse(run.stdout);
    expect(lines).toHaveLength(expectedLines);
    expect(lines.map((l) => [l.stage, l.outcome, l.reason, l.event_id])).toEqual(journeyStory(j));
    for (const l of lines) {
      expect(Number.isNaN(Date.parse(l.at)), l.at).toBe(false);
      expect(Object.keys(l)).toEqual(expect.arrayContaining(['at', 'stage', 'outcome', 'reason', 'event_id']));
    }
    expect(lines[16]).toMatchObject({ status: 400, customer_key: j.customer });
    // The legacy receipt is told, as delivered, like those of the batches.
    expect(lines.filter((l) => l.stage === 'sink' && l.event_id === ivyLegacy[0]!.event_id).map((l) => l.outcome)).toEqual(['delivered']);
    expect(lines.some((l) => JSON.stringify(l).includes('other-ivy'))).toBe(false);

    // Any identifier of hers tells the same story.
    for (const id of [j.anon, j.customer, 'ord-ivy', 'msg-ivy-7', j.audits[3]!.event_ids[0]!]) {
      const r = await runTrace([id, '--json', '--monitor-url', url]);
      expect(r.code, r.stderr).toBe(0);
      expect(parse(r.stdout), id).toEqual(lines);
    }
    // The readable table: a header, a rule, a row per line.
    const table = await runTrace([j.email, '--monitor-url', url]);
    expect(table.code).toBe(0);
    const rows = table.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^at\s+stage\s+outcome\s+event\s+event_id\s+reason$/);
    expect(rows).toHaveLength(expectedLines + 2);
    expect(rows.find((r) => r.includes('dropped_duplicate'))).toContain('duplicate');
    // Nobody: an empty answer, said on stderr.
    const none = await runTrace(['nobody@example.com', '--json', '--monitor-url', url]);
    expect(none).toMatchObject({ code: 0, stdout: '' });
    expect(none.stderr).toContain('nothing indexed');
    // The index is the monitor's while it runs.
    const locked = await runTrace([j.email, '--index-dir', dir]);
    expect(locked.code).toBe(1);
    expect(locked.stderr).toContain('TRACE_INDEX_LOCKED');
    // The view the inspector links to.
    const view = await (await fetch(`${url}/trace/view?id=${encodeURIComponent(j.email)}`)).text();
    expect(view.match(/<tr class=/g)).toHaveLength(expectedLines);
  });

  it('after a restart reads only the tail, and --index-dir reads the index while the monitor is stopped', async () => {
    const j = ivy;
    // Receipts are counted one by one, the batch written twice included.
    const batched = ivyBatches.reduce((n, b) => n + b.receipts.length, 0);
    expect(await counted('monitor_trace_indexed_total', topics.receipts)).toBe(batched);
    expect(await counted('monitor_trace_indexed_total', topics.legacyReceipts)).toBe(ivyLegacy.length);
    expect(await counted('monitor_trace_indexed_total')).toBe(j.audits.length + 1 + batched + ivyLegacy.length);
    await monitor!.stop();
    const stopped = await runTrace([j.email, '--json', '--index-dir', dir]);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(parse(stopped.stdout)).toHaveLength(17);

    const later = audit(20, { source_event: 'Checkout Started', event_name: 'checkout_started', outcome: 'canonical', event_ids: ['01JIVYLATER0000000000000001'], customer_key: j.customer, ids: { customer_id: j.customer } });
    await produce([later], [{ receipts: [receipt(21, '01JIVYLATER0000000000000001', j.customer, { event_name: 'checkout_started' })] }]);
    await startMonitor();
    const r = await eventually('the tail indexed', () => runTrace([j.anon, '--json', '--monitor-url', url]),
      (x) => parse(x.stdout).length >= 20, { timeoutMs: 90_000, intervalMs: 500, context: () => monitor!.output() });
    expect(parse(r.stdout).slice(-3).map((l) => [l.stage, l.outcome, l.event_id])).toEqual([
      ['raw', 'received', null], ['normalizer', 'canonical', '01JIVYLATER0000000000000001'], ['sink', 'delivered', '01JIVYLATER0000000000000001'],
    ]);
    // Only the two new records were fetched and indexed by the restarted monitor.
    expect(await counted('monitor_trace_indexed_total')).toBe(2);
    expect(await counted('monitor_trace_reread_total')).toBe(0);
  });
});
