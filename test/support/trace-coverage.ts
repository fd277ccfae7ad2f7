/**
 * Issue 16's "every journey is explained by trace": every raw record a test wrote appears in the
 * trace of one of its people, with the normalizer's verdict, and every event that verdict sent
 * has Customer.io's answer. Raw topics are written without transactions, so a partition's records
 * are exactly the offsets from its low to its high watermark.
 */
import type { Kafka } from '@cio-pipeline/core';
import { rawTopics, topicNames } from '@cio-pipeline/core';
import { eventually } from './eventually.ts';

/** One line of `trace --json` / GET /trace (services/monitor/src/trace/story.ts). */
export interface TraceLine {
  at: string;
  stage: 'raw' | 'normalizer' | 'sink';
  outcome: string;
  reason: string | null;
  event_id: string | null;
  record: string;
}

export interface TraceCoverage {
  /** `topic/partition/offset` of every raw record the run wrote. */
  raw: string[];
  /** Raw records with no normalizer verdict in any of the people's traces. */
  unexplained: string[];
  /** Canonical event ids with no answer from Customer.io in the traces. */
  undelivered: string[];
  lines: TraceLine[];
}

async function rawRecords(kafka: Kafka, prefix: string): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const out: string[] = [];
    for (const { topic } of rawTopics(topicNames(prefix))) {
      const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
      for (const p of offsets) {
        for (let o = BigInt(p.low); o < BigInt(p.high); o++) out.push(`${topic}/${p.partition}/${o}`);
      }
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

async function traceOf(traceUrl: string, identifier: string): Promise<TraceLine[]> {
  const res = await fetch(`${traceUrl}/trace?id=${encodeURIComponent(identifier)}`);
  if (res.status === 404) return [];
  if (!res.ok) throw new Error(`GET /trace answered ${res.status}`);
  const text = await res.text();
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as TraceLine);
}

export async function traceCoverage(kafka: Kafka, prefix: string, traceUrl: string, identifiers: readonly string[]): Promise<TraceCoverage> {
  const raw = await rawRecords(kafka, prefix);
  const lines = (await Promise.all(identifiers.map((id) => traceOf(traceUrl, id)))).flat();
  const judged = new Set(lines.filter((l) => l.stage === 'normalizer').map((l) => l.record));
  const answered = new Set(lines.filter((l) => l.stage === 'sink' && l.event_id !== null).map((l) => l.event_id!));
  const sent = new Set(lines.filter((l) => l.stage === 'normalizer' && (l.outcome === 'canonical' || l.outcome === 'released') && l.event_id !== null).map((l) => l.event_id!));
  return {
    raw,
    unexplained: raw.filter((r) => !judged.has(r)),
    undelivered: [...sent].filter((id) => !answered.has(id)),
    lines,
  };
}

/**
 * The assertion itself: waits (the index and the sink's receipts trail the emulator by a moment)
 * until the traces cover the run, with at least one delivery, and fails with the last coverage.
 */
export async function explainedByTrace(kafka: Kafka, prefix: string, traceUrl: string, identifiers: readonly string[]): Promise<TraceCoverage> {
  return eventually(
    `every raw record of ${prefix} explained by the trace of ${identifiers.join(', ')}`,
    () => traceCoverage(kafka, prefix, traceUrl, identifiers),
    (c) => c.raw.length > 0 && c.unexplained.length === 0 && c.undelivered.length === 0 && c.lines.some((l) => l.stage === 'sink' && l.outcome === 'delivered'),
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}
