/**
 * Sink throughput against a Customer.io with realistic limits: 100,000 canonical events over 10,000
 * people pre-produced to events.canonical; the emulator answers after 50 ms and allows 100
 * requests/s (Customer.io's older documented limit), and the sink is configured for the same 100/s.
 *
 * The meaningful ceiling is the rate limit times the batch size (100 x 200 = 20,000 events/s): the
 * sink is compared with it, and with an ideal client that reaches for it in the same run (full
 * batches, same rate, no Kafka). Both ratios are checked against the ones saved in
 * bench/results/sink.json: one below 0.85 of its saved value fails the run. Writes bench/results/sink.md.
 *
 *   node bench/sink.bench.ts      # starts its own native stack unless KAFKA_BROKERS is set
 *
 * Then the cost of delivery receipts: the sink again with receipts off and on, alternated, against an
 * instant emulator without a limit (the sink's own CPU sets the pace); the ratio is reported.
 *
 * Env: KAFKA_BROKERS + SCHEMA_REGISTRY_URL (an existing stack), BENCH_PEOPLE (10000),
 * BENCH_EVENTS_PER_PERSON (10), BENCH_RECEIPT_RUNS (3), BENCH_SAVE_RATIOS=1 (save this run's ratios as the reference);
 * SINK_* variables are passed to the sink.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Partitioners, type Kafka } from 'kafkajs';
import { Pool } from 'undici';
import { AvroSerde, createKafka, createLogger, createRegistry, ensureTopics, loadAvroSchema, topicNames, valueSubject } from '@cio-pipeline/core';
import type { CanonicalEvent } from '@cio-pipeline/core/generated/avro-types';
import { freePort, startStack, wipeStack, type RunningStack } from '../scripts/local-stack.ts';
import { loadConfig as loadEmulatorConfig } from '../services/emulator/src/config.ts';
import { createEmulator } from '../services/emulator/src/server.ts';
import { deterministicUlid } from '../services/normalizer/src/stages/deterministic-ulid.ts';
import { mapEvent } from '../services/sink/src/mapping.ts';
import { TokenBucket } from '../services/sink/src/token-bucket.ts';
import { SERVICE_NODE_OPTIONS } from '../scripts/service-node-options.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// The benchmark is a script, not a service: its own knobs come straight from the environment.
const PEOPLE = Number(process.env['BENCH_PEOPLE'] ?? 10_000);
const PER_PERSON = Number(process.env['BENCH_EVENTS_PER_PERSON'] ?? 10);
/** Other SINK_* settings given to the bench reach the sink (e.g. SINK_MAX_IN_FLIGHT_EVENTS). */
const sinkOverrides = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => k.startsWith('SINK_') && k !== 'SINK_RATE_LIMIT_PER_SEC' && v !== undefined)) as Record<string, string>;
const BATCH = Number(process.env['SINK_MAX_BATCH_ITEMS'] ?? 200);
const CONCURRENCY = Number(process.env['SINK_CONCURRENCY'] ?? 16);
const LATENCY_MS = 50;
/** Receipts off/on pairs (BENCH_RECEIPT_RUNS). */
const RECEIPT_RUNS = Number(process.env['BENCH_RECEIPT_RUNS'] ?? 3);
const RATE = 100;
const PARTITIONS = 3;
const SITE = 'bench-site';
const KEY = 'bench-key';
const logger = createLogger('sink-bench', 'error');

function log(message: string): void {
  process.stderr.write(`[sink-bench] ${message}\n`);
}

const T0 = Date.parse('2026-11-20T10:00:00Z');
function event(person: number, seq: number, tag: string): CanonicalEvent {
  const customer = `${tag}-${person}`;
  return {
    event_id: deterministicUlid(`${tag}:${person}:${seq}`), kind: 'event', name: seq % 3 === 0 ? 'added_to_cart' : 'product_viewed',
    customer_id: customer, anonymous_id: null, email: null, occurred_at: T0 + seq * 1000, received_at: T0 + seq * 1000 + 40,
    source: 'app', source_event_id: `${customer}-${seq}`, source_type: 'track', tracking_version: '1.0.0', schema_version: 1, tier: 2,
    validation_warnings: [], commerce: null, properties: { seq, sku: `TEA-${seq % 17}`, price: 24 }, attributes: {}, merge: null,
  };
}

async function produce(kafka: Kafka, topic: string, serde: AvroSerde<CanonicalEvent>, people: number, perPerson: number, tag: string): Promise<number> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  let n = 0;
  let chunk: Array<{ key: string; value: Buffer }> = [];
  // Round by round, like a live stream: each person's events in order, people interleaved.
  for (let seq = 0; seq < perPerson; seq++) {
    for (let p = 0; p < people; p++) {
      const e = event(p, seq, tag);
      chunk.push({ key: e.customer_id!, value: serde.encode(e) });
      if (chunk.length === 5000) {
        await producer.send({ topic, acks: -1, messages: chunk });
        n += chunk.length;
        chunk = [];
      }
    }
  }
  if (chunk.length > 0) await producer.send({ topic, acks: -1, messages: chunk });
  n += chunk.length;
  await producer.disconnect();
  return n;
}

function rssOf(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) of a process so far, seconds: fields 14 and 15 of /proc/<pid>/stat. */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ, 100 on Linux
  } catch {
    return 0;
  }
}

interface Run {
  events: number;
  /** First delivered event to the last, seconds. */
  steadySeconds: number;
  /** Process start (or consumer start) to the last delivered event, seconds. */
  wallSeconds: number;
}

async function waitForEvents(count: () => number, target: number, startedAt: number, timeoutMs: number): Promise<Run> {
  let first = 0;
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  for (;;) {
    const n = count();
    if (n > 0 && first === 0) first = performance.now();
    if (n >= target) {
      const end = performance.now();
      return { events: n, steadySeconds: (end - first) / 1000, wallSeconds: (end - startedAt) / 1000 };
    }
    if (Date.now() > deadline) throw new Error(`only ${n} of ${target} events delivered after ${timeoutMs} ms`);
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      log(`${n}/${target} delivered`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The ceiling measured in the same run: an ideal client with nothing to read, decode or order. It
 * sends the same events as full batches of BATCH distinct people, `concurrency` at a time, through
 * the same token bucket at the same rate, retrying a refused batch. What it reaches is what the rate
 * limit times the batch size allows on this machine and this emulator.
 */
async function runCeiling(trackUrl: string, people: number, perPerson: number, batchItems: number, concurrency: number, count: () => number): Promise<Run> {
  const items: string[] = [];
  for (let seq = 0; seq < perPerson; seq++) for (let p = 0; p < people; p++) items.push(mapEvent(event(p, seq, 'ceil'), 'v2').json);
  const batches: string[] = [];
  for (let i = 0; i < items.length; i += batchItems) batches.push(`{"batch":[${items.slice(i, i + batchItems).join(',')}]}`);
  const pool = new Pool(trackUrl, { connections: concurrency });
  const bucket = new TokenBucket({ ratePerSec: RATE });
  const auth = `Basic ${Buffer.from(`${SITE}:${KEY}`).toString('base64')}`;
  let next = 0;
  const startedAt = performance.now();
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const body = batches[next++]!;
      for (;;) {
        await bucket.take();
        const res = await pool.request({ method: 'POST', path: '/api/v2/batch', headers: { authorization: auth, 'content-type': 'application/json' }, body });
        await res.body.dump();
        if (res.statusCode === 200) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  const workers = Promise.all(Array.from({ length: concurrency }, worker));
  const run = await waitForEvents(count, items.length, startedAt, 10 * 60_000);
  await workers;
  bucket.close();
  await pool.close();
  return run;
}

interface SavedRatios {
  savedAt: string;
  /** Sink events/s over rate x batch size. */
  toTheoreticalCeiling: number;
  /** Sink events/s over the ideal client's, measured in the same run. */
  toMeasuredCeiling: number;
}

const SAVED = new URL('results/sink.json', import.meta.url);
/** A ratio below this fraction of its saved value fails the run. */
const REGRESSION_FLOOR = 0.85;

function readSaved(): SavedRatios | undefined {
  try {
    return JSON.parse(readFileSync(SAVED, 'utf8')) as SavedRatios;
  } catch {
    return undefined;
  }
}

/** Each ratio against its saved value: the lines to print, and whether any fell below the floor. */
function checkRegression(now: SavedRatios, saved: SavedRatios | undefined): { lines: string[]; failed: boolean } {
  if (!saved) return { lines: ['No saved ratios yet: this run\'s are saved as the reference.'], failed: false };
  let failed = false;
  const lines = (['toTheoreticalCeiling', 'toMeasuredCeiling'] as const).map((k) => {
    const fraction = now[k] / saved[k];
    const ok = fraction >= REGRESSION_FLOOR;
    failed ||= !ok;
    return `- ${k}: ${now[k].toFixed(3)} vs saved ${saved[k].toFixed(3)} (${saved.savedAt}): ${fraction.toFixed(2)} of it, ${ok ? 'ok' : `REGRESSION (below ${REGRESSION_FLOOR})`}`;
  });
  return { lines, failed };
}

async function main(): Promise<void> {
  let stack: RunningStack | undefined;
  let brokers = process.env['KAFKA_BROKERS'];
  let registryUrl = process.env['SCHEMA_REGISTRY_URL'] ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
  if (!brokers) {
    log('KAFKA_BROKERS not set: starting a native stack "bench-sink"');
    stack = await startStack({ name: 'bench-sink', kafkaPort: await freePort(), controllerPort: await freePort(), registryPort: await freePort(), detached: false });
    brokers = stack.brokers;
    registryUrl = stack.registryUrl;
  }
  try {
    const prefix = `bench-sink-${Date.now().toString(36)}.`;
    const topics = topicNames(prefix);
    const kafka = createKafka({ brokers: brokers.split(','), clientId: 'sink-bench', logger });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic: topics.canonical, partitions: PARTITIONS }, { topic: topics.dlq, partitions: PARTITIONS }]);
    await admin.disconnect();
    const registry = createRegistry(registryUrl);
    const serde = new AvroSerde<CanonicalEvent>({ registry, registryUrl, subject: valueSubject(topics.canonical), schema: loadAvroSchema('canonical-event') });
    await serde.init({ register: true, compatibility: 'FULL_TRANSITIVE' });

    const t = performance.now();
    const total = await produce(kafka, topics.canonical, serde, PEOPLE, PER_PERSON, 'bench');
    log(`pre-produced ${total} events over ${PEOPLE} people in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const emulator = createEmulator(loadEmulatorConfig({ EMULATOR_PORT: '0', CIO_SITE_ID: SITE, CIO_API_KEY: KEY, LOG_LEVEL: 'warn', EMULATOR_REQUEST_LOG_LIMIT: '1000000' }));
    const { url } = await emulator.listen(0);
    emulator.faults.update({ latency_ms: LATENCY_MS, rate_limit_per_sec: RATE });

    // ---- the sink, as its own process (a new group each run: each reads the topic whole) --------
    const runSink = async (env: Record<string, string>): Promise<{ run: Run; peakRss: number; idleRss: number; exitCode: number | null; cpuSeconds: number }> => {
      const started = performance.now();
      const child = spawn(process.execPath, ['services/sink/src/main.ts'], {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit'],
        env: {
          PATH: process.env['PATH'] ?? '', NODE_OPTIONS: process.env['BENCH_SINK_NODE_OPTIONS'] ?? SERVICE_NODE_OPTIONS.sink, KAFKA_BROKERS: brokers, SCHEMA_REGISTRY_URL: registryUrl, TOPIC_PREFIX: prefix,
          SINK_GROUP_ID: `bench-sink-${Date.now()}`, CIO_SITE_ID: SITE, CIO_API_KEY: KEY, CIO_TRACK_URL: url,
          SINK_RATE_LIMIT_PER_SEC: String(RATE), SINK_OPS_PORT: '0', LOG_LEVEL: 'warn',
          ...sinkOverrides, ...env,
        },
      });
      let peak = 0;
      // RSS once started but before the first delivery: the process's own floor, for comparison.
      let idle = 0;
      // CPU spent before the first delivery (start-up, group join) is left out of the per-event cost.
      let idleCpu = 0;
      const sampler = setInterval(() => {
        const rss = rssOf(child.pid!, 'VmRSS');
        if (emulator.store.eventCount === 0) {
          idle = rss;
          idleCpu = cpuOf(child.pid!);
        }
        peak = Math.max(peak, rss);
      }, 100);
      const run = await waitForEvents(() => emulator.store.eventCount, total, started, 20 * 60_000);
      clearInterval(sampler);
      const cpuSeconds = cpuOf(child.pid!) - idleCpu;
      peak = Math.max(peak, rssOf(child.pid!, 'VmHWM'));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      return { run, peakRss: peak, idleRss: idle, exitCode: await exited, cpuSeconds };
    };
    log('sink: delivering');
    const { run: sinkRun, peakRss, idleRss, exitCode } = await runSink({});
    const sinkRequests = emulator.requestLog.entries();
    const accepted = sinkRequests.filter((r) => r.status === 200);
    const throttled = sinkRequests.filter((r) => r.status === 429).length;
    const itemsPerBatch = accepted.reduce((n, r) => n + (r.item_count ?? 1), 0) / Math.max(1, accepted.length);
    log(`sink: ${total} events in ${sinkRun.steadySeconds.toFixed(1)} s (wall ${sinkRun.wallSeconds.toFixed(1)} s), exit ${exitCode}`);

    // ---- the ceiling, measured ------------------------------------------------------------------
    emulator.store.reset();
    emulator.requestLog.clear();
    log(`ceiling: an ideal client sends ${total} events as full batches of ${BATCH} at ${RATE} requests/s`);
    const ceilRun = await runCeiling(url, PEOPLE, PER_PERSON, BATCH, CONCURRENCY, () => emulator.store.eventCount);
    const ceilRequests = emulator.requestLog.entries();
    const ceilThrottled = ceilRequests.filter((r) => r.status === 429).length;

    // ---- delivery receipts: their cost where the sink itself is the bottleneck ------------------
    // Behind the 100/s limit receipts would hide in the wait for tokens; with an instant emulator
    // and no limit, the sink's own CPU sets the pace, and receipts cost what they cost. Off and on
    // alternate so drift on a shared machine falls on both; each keeps its best run.
    emulator.faults.update({ latency_ms: 0, rate_limit_per_sec: 0 });
    const receiptRates: Record<'off' | 'on', number[]> = { off: [], on: [] };
    const receiptCpu: Record<'off' | 'on', number[]> = { off: [], on: [] };
    for (let i = 0; i < RECEIPT_RUNS; i++) {
      for (const mode of ['off', 'on'] as const) {
        emulator.store.reset();
        emulator.requestLog.clear();
        const r = await runSink({ SINK_RECEIPTS: mode === 'on' ? 'true' : 'false', SINK_RATE_LIMIT_PER_SEC: '1000000' });
        receiptRates[mode].push(total / r.run.steadySeconds);
        receiptCpu[mode].push((r.cpuSeconds / total) * 1e6);
        log(`receipts ${mode}: ${(total / r.run.steadySeconds).toFixed(0)} events/s, ${((r.cpuSeconds / total) * 1e6).toFixed(0)} µs CPU per event`);
      }
    }
    const bestOff = Math.max(...receiptRates.off);
    const bestOn = Math.max(...receiptRates.on);
    // The target is throughput (best of each, alternated against drift). CPU per event is the whole
    // process's, receipts worker thread included: what receipts cost in CPU, even off the delivery thread.
    const cpuOff = Math.min(...receiptCpu.off);
    const cpuOn = Math.min(...receiptCpu.on);
    const receiptCost = 1 - bestOn / bestOff;
    await emulator.close();

    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteTopics({ topics: [topics.canonical, topics.dlq, topics.receipts] }).catch(() => undefined);
    await cleanup.disconnect();

    const sinkRate = total / sinkRun.steadySeconds;
    const sinkWallRate = total / sinkRun.wallSeconds;
    const ceilRate = total / ceilRun.steadySeconds;
    const theoretical = RATE * BATCH;
    const ratios: SavedRatios = { savedAt: new Date().toISOString(), toTheoreticalCeiling: sinkRate / theoretical, toMeasuredCeiling: sinkRate / ceilRate };
    const saved = readSaved();
    const check = checkRegression(ratios, saved);
    const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
    const md = `# Sink throughput

Run ${ratios.savedAt} on Node ${process.version}, ${os.cpus().length} CPUs (${cpu}); Kafka ${stack ? 'native stack started by the bench' : 'at KAFKA_BROKERS'}, ${PARTITIONS} partitions.
Emulator: ${LATENCY_MS} ms latency on every request, ${RATE} requests/s limit (429 past it). Sink: SINK_RATE_LIMIT_PER_SEC=${RATE}, ${Object.keys(sinkOverrides).length > 0 ? `${Object.entries(sinkOverrides).map(([k, v]) => `${k}=${v}`).join(', ')}, ` : ''}otherwise defaults (v2 batches of up to ${BATCH}, ${CONCURRENCY} in flight, 5,000 events in memory); NODE_OPTIONS=${process.env["BENCH_SINK_NODE_OPTIONS"] ?? SERVICE_NODE_OPTIONS.sink} as the service runs.
Delivered = stored by the emulator. "Steady" = first delivered event to the last; "wall" includes process start and group join.

| run | events | events/s (steady) | events/s (wall) | seconds (steady) | requests | 429s | items/request | peak RSS (before first delivery) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
| cio-sink (child process): Kafka, decode, per-person order | ${total} | ${sinkRate.toFixed(0)} | ${sinkWallRate.toFixed(0)} | ${sinkRun.steadySeconds.toFixed(1)} | ${sinkRequests.length} | ${throttled} | ${itemsPerBatch.toFixed(1)} | ${peakRss.toFixed(0)} MB (${idleRss.toFixed(0)} MB) |
| measured ceiling: ideal client, full batches, same bucket | ${total} | ${ceilRate.toFixed(0)} | - | ${ceilRun.steadySeconds.toFixed(1)} | ${ceilRequests.length} | ${ceilThrottled} | ${BATCH} | (in the bench process) |
| theoretical ceiling: ${RATE} requests/s x ${BATCH} items | - | ${theoretical} | - | - | - | - | ${BATCH} | - |

**Ratio to the theoretical ceiling (rate x batch size): ${ratios.toTheoreticalCeiling.toFixed(3)}.**
**Ratio to the measured ceiling: ${ratios.toMeasuredCeiling.toFixed(3)}.**

Delivery receipts (the run above writes them, as the sink does by default): their cost measured where
the sink itself is the bottleneck (emulator without latency or limit, SINK_RATE_LIMIT_PER_SEC=1000000),
off and on alternated ${RECEIPT_RUNS} times, best of each:

| receipts | events/s (steady), each run | best | CPU per event (µs, both threads), each run | lowest |
|---|---|---:|---|---:|
| off (\`SINK_RECEIPTS=false\`) | ${receiptRates.off.map((r) => r.toFixed(0)).join(', ')} | ${bestOff.toFixed(0)} | ${receiptCpu.off.map((r) => r.toFixed(0)).join(', ')} | ${cpuOff.toFixed(0)} |
| on | ${receiptRates.on.map((r) => r.toFixed(0)).join(', ')} | ${bestOn.toFixed(0)} | ${receiptCpu.on.map((r) => r.toFixed(0)).join(', ')} | ${cpuOn.toFixed(0)} |

**Receipts on / off, throughput (best): ${(bestOn / bestOff).toFixed(3)}, a cost of ${(receiptCost * 100).toFixed(1)}% (target at most 10%: ${receiptCost <= 0.1 ? 'met' : 'MISSED'}); CPU per event, both threads: ${(cpuOn / cpuOff).toFixed(3)}.** Load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(', ')}.

Regression check (a ratio below ${REGRESSION_FLOOR} of its saved value in bench/results/sink.json fails the run;
\`BENCH_SAVE_RATIOS=1\` saves this run's as the new reference):
${check.lines.join('\n')}
`;
    await mkdir(new URL('results/', import.meta.url), { recursive: true });
    await writeFile(new URL('results/sink.md', import.meta.url), md);
    if (!saved || process.env['BENCH_SAVE_RATIOS'] === '1') await writeFile(SAVED, `${JSON.stringify(ratios, null, 2)}\n`);
    process.stdout.write(md);
    process.stdout.write(`RESULT ${JSON.stringify({ ...ratios, receiptsOffPerSec: Math.round(bestOff), receiptsOnPerSec: Math.round(bestOn), receiptsOnOverOff: Number((bestOn / bestOff).toFixed(3)), cpuPerEventOffUs: Math.round(cpuOff), cpuPerEventOnUs: Math.round(cpuOn), receiptCost: Number(receiptCost.toFixed(3)) })}\n`);
    if (check.failed) process.exitCode = 1;
  } finally {
    if (stack) {
      await stack.stop();
      wipeStack('bench-sink');
    }
  }
}

await main();
