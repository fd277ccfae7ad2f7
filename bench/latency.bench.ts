/**
 * End-to-end latency (#15 "Operations": p99 from ingest to Customer.io at most 500 ms at 1,000
 * events/s on a calm run). The whole pipeline runs as processes (emulator, normalizer, sink,
 * ingest; scripts/chaos/own-pipeline.ts) and events go through ingest's /v1/batch at a steady rate,
 * one batch every 100 ms, each event carrying its sequence number. Per event: the emulator's
 * `received_at` (its own clock, ISO with milliseconds, same machine as this one) minus the time the
 * batch was sent, and minus the time ingest answered 200.
 *
 * Baseline in the same run: the same events, at the same rate and batch shape, sent straight to the
 * emulator's /api/v2/batch, measured the same way. The ratio pipeline/direct is what stays
 * comparable on a shared machine. Writes bench/results/latency.md and prints a RESULT line.
 * Exits non-zero when an event is refused or lost; the 500 ms target is reported, not enforced
 * (a loaded machine misses it without a regression).
 *
 *   node bench/latency.bench.ts    # starts its own native stack unless KAFKA_BROKERS is set
 *
 * Env: KAFKA_BROKERS + SCHEMA_REGISTRY_URL (an existing stack), BENCH_RATE (1000 events/s), BENCH_WARM_SECONDS
 * (5: the same traffic first, not measured, reported as the cold start),
 * BENCH_SECONDS (30).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { createKafka, createLogger, readTopicToEnd, topicNames } from '@cio-pipeline/core';
import { startOwnPipeline } from '../scripts/chaos/own-pipeline.ts';
import { deterministicUlid } from '../services/normalizer/src/stages/deterministic-ulid.ts';

// The benchmark is a script, not a service: its own knobs come straight from the environment.
const RATE = Number(process.env['BENCH_RATE'] ?? 1000);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 30);
const WARM_SECONDS = Number(process.env['BENCH_WARM_SECONDS'] ?? 5);
const TICK_MS = 100;
const PER_TICK = Math.max(1, Math.round((RATE * TICK_MS) / 1000));
const PEOPLE = 200;
const ticksIn = (seconds: number): number => Math.ceil((seconds * 1000) / TICK_MS);
/** How long after the last send every event must have reached the emulator. */
const DRAIN_TIMEOUT_MS = 60_000;
const TARGET_P99_MS = 500;
const RESULT = 'RESULT ';

if (!(RATE > 0 && RATE <= 10_000) || !(SECONDS > 0 && SECONDS <= 600) || !(WARM_SECONDS > 0 && WARM_SECONDS <= 60)) {
  process.stderr.write('BENCH_RATE must be in (0, 10000], BENCH_SECONDS in (0, 600] and BENCH_WARM_SECONDS in (0, 60]\n');
  process.exit(2);
}

function log(message: string): void {
  process.stderr.write(`[latency-bench] ${message}\n`);
}

/** When each event left and when its request was answered 200 (epoch ms, this process's clock). */
interface Sent { sentAt: number[]; okAt: number[]; refused: number; accepted: number; seconds: number }

/**
 * Sends a batch of PER_TICK events every TICK_MS for `seconds`, on a fixed schedule (not after
 * each answer, so a slow answer does not lower the rate), `request` doing one batch. Sequence
 * numbers start at 0.
 */
async function sendAtRate(request: (seqs: number[]) => Promise<boolean>, seconds = SECONDS): Promise<Sent> {
  const TICKS = ticksIn(seconds);
  const total = TICKS * PER_TICK;
  const sent: Sent = { sentAt: new Array<number>(total).fill(0), okAt: new Array<number>(total).fill(0), refused: 0, accepted: 0, seconds: 0 };
  const start = performance.now();
  const inFlight: Array<Promise<void>> = [];
  for (let tick = 0; tick < TICKS; tick++) {
    const wait = start + tick * TICK_MS - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const seqs = Array.from({ length: PER_TICK }, (_, i) => tick * PER_TICK + i);
    const at = Date.now();
    for (const s of seqs) sent.sentAt[s] = at;
    inFlight.push(request(seqs).then((ok) => {
      const done = Date.now();
      if (ok) sent.accepted += seqs.length;
      else sent.refused += seqs.length;
      for (const s of seqs) sent.okAt[s] = ok ? done : 0;
    }, () => {
      sent.refused += seqs.length;
    }));
  }
  await Promise.all(inFlight);
  sent.seconds = (performance.now() - start) / 1000;
  return sent;
}

interface EmulatorEvent { data: Record<string, unknown>; received_at: string }
interface EmulatorPerson { id: string | null; events: EmulatorEvent[] }

/** Arrival time (epoch ms) of each sequence number tagged `tag` in the emulator; duplicates counted. */
async function arrivals(emulatorUrl: string, tag: string): Promise<{ at: Map<number, number>; duplicates: number }> {
  const res = await fetch(`${emulatorUrl}/_emulator/people`, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`emulator people: ${res.status}`);
  const people = (await res.json()) as EmulatorPerson[];
  const at = new Map<number, number>();
  let duplicates = 0;
  for (const p of people) {
    for (const e of p.events) {
      if (e.data['bench_tag'] !== tag) continue;
      const seq = Number(e.data['bench_seq']);
      if (at.has(seq)) duplicates++;
      else at.set(seq, Date.parse(e.received_at));
    }
  }
  return { at, duplicates };
}

/** Waits until every one of `total` events tagged `tag` has arrived, or the drain timeout. */
async function drained(emulatorUrl: string, tag: string, total: number): Promise<{ at: Map<number, number>; duplicates: number }> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const got = await arrivals(emulatorUrl, tag);
    if (got.at.size >= total || Date.now() > deadline) return got;
    log(`${tag}: ${got.at.size}/${total} arrived`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

interface Stats { n: number; p50: number; p95: number; p99: number; max: number }

function stats(values: number[]): Stats {
  const v = [...values].sort((a, b) => a - b);
  const q = (p: number): number => v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.ceil(p * v.length) - 1)]!;
  return { n: v.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: v.length === 0 ? NaN : v[v.length - 1]! };
}

/** Latencies from the send and from the 200, for the events that arrived. */
function latencies(sent: Sent, at: Map<number, number>): { fromSend: Stats; fromOk: Stats } {
  const fromSend: number[] = [];
  const fromOk: number[] = [];
  for (const [seq, arrived] of at) {
    fromSend.push(arrived - sent.sentAt[seq]!);
    if (sent.okAt[seq]) fromOk.push(arrived - sent.okAt[seq]!);
  }
  return { fromSend: stats(fromSend), fromOk: stats(fromOk) };
}

/**
 * When each event's record was written to `topic`, by sequence number: the record's timestamp
 * (CreateTime, set by the writing client when it builds the produce request, this machine's clock).
 * Found by the messageId (`msg-<tag>-<seq>`) in the value's bytes, which both the raw record and the
 * canonical one (source_event_id) carry as plain Avro strings: no schema needed. Read
 * read_committed, so an aborted attempt of a canonical record is not counted.
 */
async function recordTimes(brokers: string, topic: string, tag: string): Promise<Map<number, number>> {
  const kafka = createKafka({ brokers: brokers.split(','), clientId: 'latency-bench', logger: createLogger('latency-bench', 'warn') });
  const pattern = new RegExp(`msg-${tag}-(\\d+)`);
  const at = new Map<number, number>();
  await readTopicToEnd(kafka, topic, (m) => {
    const match = m.value ? pattern.exec(m.value.toString('latin1')) : null;
    if (!match) return;
    const seq = Number(match[1]);
    if (!at.has(seq)) at.set(seq, Number(m.timestamp));
  }, { timeoutMs: 120_000 });
  return at;
}

interface Hops { ingestToRaw: Stats; rawToCanonical: Stats; canonicalToEmulator: Stats }

/**
 * Per event, the time between stages: the send to the raw record's timestamp (ingest: HTTP,
 * encoding, its group commit), raw to canonical (the normalizer: its fetch, the stages, until it
 * builds the transaction's produce request), canonical to the emulator's `received_at` (the
 * normalizer's transaction commit, the sink's read_committed fetch, its dispatch and the request).
 */
function hops(sent: Sent, raw: Map<number, number>, canonical: Map<number, number>, arrived: Map<number, number>): Hops {
  const a: number[] = [];
  const b: number[] = [];
  const c: number[] = [];
  for (const [seq, at] of arrived) {
    const r = raw.get(seq);
    const k = canonical.get(seq);
    if (r !== undefined) a.push(r - sent.sentAt[seq]!);
    if (r !== undefined && k !== undefined) b.push(k - r);
    if (k !== undefined) c.push(at - k);
  }
  return { ingestToRaw: stats(a), rawToCanonical: stats(b), canonicalToEmulator: stats(c) };
}

function trackEvent(tag: string, seq: number): Record<string, unknown> {
  return {
    type: 'track', userId: `lat-${tag}-${seq % PEOPLE}`, messageId: `msg-${tag}-${seq}`, event: 'Product Viewed',
    properties: { bench_tag: tag, bench_seq: seq, sku: 'TEA-SENCHA-100', price: 24 }, timestamp: new Date().toISOString(),
  };
}

/** The same event as the sink would deliver it (Customer.io Track API v2 batch item; the id must be a ULID). */
function directItem(tag: string, seq: number): Record<string, unknown> {
  return {
    type: 'person', action: 'event', identifiers: { id: `lat-${tag}-${seq % PEOPLE}` }, name: 'product_viewed', id: deterministicUlid(`lat-${tag}-${seq}`),
    timestamp: Math.floor(Date.now() / 1000), attributes: { bench_tag: tag, bench_seq: seq, sku: 'TEA-SENCHA-100', price: 24 },
  };
}

async function post(url: string, auth: string, body: unknown): Promise<boolean> {
  const res = await fetch(url, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  await res.arrayBuffer();
  return res.status === 200;
}

const ms = (x: number): string => Number.isFinite(x) ? x.toFixed(0) : '-';
const row = (label: string, s: Stats): string => `| ${label} | ${s.n} | ${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.p99)} | ${ms(s.max)} |`;

async function main(): Promise<number> {
  const brokers = process.env['KAFKA_BROKERS'];
  const registry = process.env['SCHEMA_REGISTRY_URL'];
  const run = `lat${Date.now().toString(36)}`;
  const pipeline = await startOwnPipeline(run, brokers && registry ? { kafka: brokers, registry } : undefined, log, process.env);
  try {
    const total = ticksIn(SECONDS) * PER_TICK;
    const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
    log(`pipeline ready; load average ${load}; sending ${total} events at ${RATE}/s (${PER_TICK} per ${TICK_MS} ms)`);

    // Warm-up, not measured: the same traffic for WARM_SECONDS through the whole path, so consumer
    // joins, first connections, every partition's first transaction, schema lookups and the JIT's
    // first compilations are behind us. Its own percentiles are reported apart, as the cold start.
    const ingestAuth = `Basic ${Buffer.from(`${pipeline.writeKey}:`).toString('base64')}`;
    const warmTag = `${run}w`;
    const warmSent = await sendAtRate((seqs) => post(`${pipeline.ingestUrl}/v1/batch`, ingestAuth, { batch: seqs.map((s) => trackEvent(warmTag, s)) }), WARM_SECONDS);
    const warmArrived = await drained(pipeline.emulatorUrl, warmTag, warmSent.accepted);
    const warm = latencies(warmSent, warmArrived.at);
    log(`warm-up: ${warmArrived.at.size}/${warmSent.accepted} arrived, p99 ${ms(warm.fromSend.p99)} ms from the send`);

    const pipeTag = `${run}p`;
    const pipeSent = await sendAtRate((seqs) => post(`${pipeline.ingestUrl}/v1/batch`, ingestAuth, { sentAt: new Date().toISOString(), batch: seqs.map((s) => trackEvent(pipeTag, s)) }));
    const pipeArrived = await drained(pipeline.emulatorUrl, pipeTag, pipeSent.accepted);

    const directTag = `${run}d`;
    const cioAuth = `Basic ${Buffer.from('site:key').toString('base64')}`;
    const directSent = await sendAtRate((seqs) => post(`${pipeline.emulatorUrl}/api/v2/batch`, cioAuth, { batch: seqs.map((s) => directItem(directTag, s)) }));
    const directArrived = await drained(pipeline.emulatorUrl, directTag, directSent.accepted);

    // Where the pipeline's time goes: each event's record in raw.app and in events.canonical.
    const topics = topicNames(pipeline.topicPrefix);
    const [rawAt, canonicalAt] = await Promise.all([
      recordTimes(pipeline.brokers, topics.rawApp, pipeTag),
      recordTimes(pipeline.brokers, topics.canonical, pipeTag),
    ]);
    const hop = hops(pipeSent, rawAt, canonicalAt, pipeArrived.at);

    const pipe = latencies(pipeSent, pipeArrived.at);
    const direct = latencies(directSent, directArrived.at);
    const lost = pipeSent.accepted - pipeArrived.at.size;
    const directLost = directSent.accepted - directArrived.at.size;
    const achieved = pipeSent.accepted / pipeSent.seconds;
    const ratio = pipe.fromSend.p99 / direct.fromSend.p99;
    const meetsTarget = pipe.fromSend.p99 <= TARGET_P99_MS;
    const result = {
      rate: RATE, seconds: SECONDS, achievedPerSec: Math.round(achieved), loadAverage: os.loadavg(), sent: total,
      refused: pipeSent.refused, lost, duplicates: pipeArrived.duplicates,
      pipelineFromSend: pipe.fromSend, pipelineFromOk: pipe.fromOk, warmUpFromSend: warm.fromSend, hops: hop, direct: direct.fromSend, p99Ratio: ratio, targetP99Ms: TARGET_P99_MS, meetsTarget,
    };
    process.stdout.write(`${RESULT}${JSON.stringify(result)}\n`);

    const md = `# End-to-end latency

${new Date().toISOString()}, ${os.cpus().length} cores, load average ${load} at the start.
${brokers ? `Stack: the one at ${brokers}.` : 'Stack: a fresh native one started by the benchmark.'}
${total} track events, ${RATE}/s for ${SECONDS} s as ${PER_TICK}-event /v1/batch requests every ${TICK_MS} ms over ${PEOPLE} people;
achieved ${achieved.toFixed(0)} accepted events/s; refused ${pipeSent.refused}, lost ${lost}, duplicates ${pipeArrived.duplicates}.
Latency is the emulator's \`received_at\` (ms) minus this process's clock at the send, or at ingest's 200.

| path | events | p50 ms | p95 ms | p99 ms | max ms |
|---|---|---|---|---|---|
${row('ingest -> normalizer -> sink -> emulator, from the send', pipe.fromSend)}
${row('the same, from ingest\'s 200', pipe.fromOk)}
${row('baseline: straight to the emulator\'s /api/v2/batch, same rate and batches', direct.fromSend)}
${row(`cold start, not counted above: the first ${WARM_SECONDS} s of the same traffic, through the pipeline`, warm.fromSend)}

Per hop, each event's record timestamps (CreateTime, set when the writing client builds its produce
request) in raw.app and events.canonical. Percentiles of each hop are taken separately, so they do
not add up to the end-to-end ones. The canonical record's timestamp precedes its transaction's commit,
so the commit is in the last hop.

| hop | events | p50 ms | p95 ms | p99 ms | max ms |
|---|---|---|---|---|---|
${row('send -> raw.app record (ingest)', hop.ingestToRaw)}
${row('raw.app -> events.canonical record (normalizer, before its commit)', hop.rawToCanonical)}
${row('events.canonical record -> emulator (commit, sink fetch, delivery)', hop.canonicalToEmulator)}

**p99 ${ms(pipe.fromSend.p99)} ms against the ${TARGET_P99_MS} ms target: ${meetsTarget ? 'met' : 'missed'}.
Pipeline/direct p99: ${Number.isFinite(ratio) ? ratio.toFixed(1) : '-'}x.**
`;
    await mkdir(new URL('results/', import.meta.url), { recursive: true });
    await writeFile(new URL('results/latency.md', import.meta.url), md);
    process.stdout.write(md);
    const failures = [
      pipeSent.refused > 0 ? `ingest refused ${pipeSent.refused} events` : '',
      lost > 0 ? `${lost} accepted events never reached the emulator within ${DRAIN_TIMEOUT_MS} ms` : '',
      directSent.refused + directLost > 0 ? `the direct baseline lost or had refused ${directSent.refused + directLost} events` : '',
    ].filter(Boolean);
    for (const f of failures) log(`FAILED: ${f}`);
    return failures.length === 0 ? 0 : 1;
  } finally {
    await pipeline.stop();
  }
}

process.exitCode = await main();
