/**
 * Ingest throughput: the same server twice in one run, once over a writer that resolves at once
 * ("no-Kafka": the HTTP, auth, parsing and envelope cost alone) and once over the real Kafka writer
 * (only when KAFKA_BROKERS is set). Single app events and 100-event batches from a few concurrent
 * undici clients in a separate process, ~5 s each. Then the same pre-built batches twice, uncompressed
 * and gzipped (Content-Encoding: gzip, as RudderStack's SDK sends by default): the gzip/plain ratio
 * is what decompression costs (target >= 0.7). Prints accepted events/s, the Kafka/no-Kafka and
 * gzip/plain ratios, and writes bench/results/ingest.md.
 *
 *   node bench/ingest.bench.ts                    # no-Kafka half only
 *   KAFKA_BROKERS=127.0.0.1:9092 node bench/ingest.bench.ts
 *
 * Env: BENCH_SECONDS (default 5), BENCH_GZIP_ROUNDS (default 6 alternating plain/gzip slices),
 * BENCH_CLIENTS (default 64: webhooks and app calls arrive
 * concurrently, and ingest's group commit turns concurrency into throughput). The clients run in a
 * child process (bench/ingest-load.ts), so the RSS reported is the server's alone.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { spawn } from 'node:child_process';
import { createLogger } from '@cio-pipeline/core';
import { loadIngestConfig } from '../services/ingest/src/config.ts';
import { createIngestServer } from '../services/ingest/src/http-server.ts';
import { KafkaRawWriter, kafkaRawWriterOptions } from '../services/ingest/src/kafka-raw-writer.ts';
import { createIngestMetrics } from '../services/ingest/src/metrics.ts';
import type { RawRecord, RawWriter } from '../services/ingest/src/raw-writer.ts';

const WRITE_KEY = 'bench-write-key';
const BATCH_SIZE = 100;

// The benchmark is a script, not a service: its own knobs come straight from the environment.
const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
const clients = Number(process.env['BENCH_CLIENTS'] ?? 64);
/** Plain/gzip slices: each workload gets `seconds` in total, in this many alternating slices. */
const gzipRounds = Number(process.env['BENCH_GZIP_ROUNDS'] ?? 6);
const base = loadIngestConfig(process.env);
const logger = createLogger('ingest-bench', 'warn');
// A shared machine's load says how far to trust absolute figures; the ratios are same-run.
const loadAtStart = os.loadavg()[0]!.toFixed(1);

class ImmediateWriter implements RawWriter {
  events = 0;
  async write(records: RawRecord[]): Promise<void> {
    this.events += records.length;
  }
  async ready(): Promise<boolean> {
    return true;
  }
}

interface Result {
  writer: string;
  workload: string;
  events: number;
  requests: number;
  non200: number;
  seconds: number;
  eventsPerS: number;
  /** Peak resident set size of the server process during the row (the clients run elsewhere). */
  peakRssMb: number;
}

/** Runs the load generator in a child process; samples this (the server's) process's RSS meanwhile. */
type Workload = 'single' | 'batch' | 'pool-plain' | 'pool-gzip';
const WORKLOAD_NAMES: Record<Workload, string> = {
  single: 'single events',
  batch: `batches of ${BATCH_SIZE}`,
  'pool-plain': `same batches, plain`,
  'pool-gzip': `same batches, gzip`,
};

async function drive(url: string, workload: Workload, forSeconds = seconds): Promise<Omit<Result, 'writer'>> {
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 100);
  const child = spawn(process.execPath, [new URL('./ingest-load.ts', import.meta.url).pathname, url, workload, String(clients), String(forSeconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code: number = await new Promise((r) => child.on('exit', (c) => r(c ?? 1)));
  clearInterval(sampler);
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { events: number; requests: number; non200: number; seconds: number };
  return {
    workload: WORKLOAD_NAMES[workload],
    events: r.events,
    requests: r.requests,
    non200: r.non200,
    seconds: r.seconds,
    eventsPerS: r.events / r.seconds,
    peakRssMb: Math.max(peakRss, process.memoryUsage.rss()) / 1024 / 1024,
  };
}

async function runServer(name: string, writer: RawWriter): Promise<Result[]> {
  const config = { ...base, writeKeys: [{ source: 'bench', key: WRITE_KEY }], port: 0, host: '127.0.0.1' };
  const ingest = createIngestServer({ config, writer, logger, metrics: createIngestMetrics() });
  const url = await ingest.listen(0, '127.0.0.1');
  try {
    const out: Result[] = [];
    const report = (r: Result): void => {
      out.push(r);
      console.log(`${name.padEnd(10)} ${r.workload.padEnd(20)} ${Math.round(r.eventsPerS).toString().padStart(8)} events/s  (${r.requests} requests, ${r.non200} not 200, peak RSS ${Math.round(r.peakRssMb)} MB)`);
    };
    for (const workload of ['single', 'batch'] as const) report({ writer: name, ...(await drive(url, workload)) });
    // Plain and gzip in alternating slices (ABBA...), summed: on a shared machine the load drifts
    // over a run, and back-to-back rows would compare two different machines.
    const slices: Array<Omit<Result, 'writer'>> = [];
    for (let round = 0; round < gzipRounds; round++) {
      const order = round % 2 === 0 ? (['pool-plain', 'pool-gzip'] as const) : (['pool-gzip', 'pool-plain'] as const);
      for (const workload of order) slices.push(await drive(url, workload, seconds / gzipRounds));
    }
    for (const workload of ['pool-plain', 'pool-gzip'] as const) {
      const mine = slices.filter((x) => x.workload === WORKLOAD_NAMES[workload]);
      const sum = (f: (x: Omit<Result, 'writer'>) => number): number => mine.reduce((a, x) => a + f(x), 0);
      report({
        writer: name, workload: WORKLOAD_NAMES[workload], events: sum((x) => x.events), requests: sum((x) => x.requests), non200: sum((x) => x.non200),
        seconds: sum((x) => x.seconds), eventsPerS: sum((x) => x.events) / sum((x) => x.seconds), peakRssMb: Math.max(...mine.map((x) => x.peakRssMb)),
      });
    }
    return out;
  } finally {
    await ingest.close();
  }
}

const results: Result[] = [];
results.push(...(await runServer('no-Kafka', new ImmediateWriter())));

let kafkaNote = 'Kafka half skipped: KAFKA_BROKERS not set.';
if (base.kafkaBrokersConfigured) {
  const writer = new KafkaRawWriter({ ...kafkaRawWriterOptions(base, logger), clientId: 'ingest-bench' });
  try {
    await writer.start();
    results.push(...(await runServer('Kafka', writer)));
    kafkaNote = `Kafka: ${base.kafkaBrokers.join(',')}, registry ${base.schemaRegistryUrl}, compression ${base.kafkaCompression}.`;
  } finally {
    await writer.close();
  }
}

const rows = results.map((r) => {
  const baseline = results.find((b) => b.writer === 'no-Kafka' && b.workload === r.workload);
  const ratio = r.writer === 'no-Kafka' || baseline === undefined ? '' : (r.eventsPerS / baseline.eventsPerS).toFixed(2);
  return `| ${r.writer} | ${r.workload} | ${Math.round(r.eventsPerS)} | ${r.requests} | ${r.non200} | ${r.seconds.toFixed(1)} | ${ratio} | ${Math.round(r.peakRssMb)} |`;
});
for (const r of results.filter((x) => x.writer === 'Kafka')) {
  const b = results.find((x) => x.writer === 'no-Kafka' && x.workload === r.workload);
  if (b) console.log(`ratio Kafka/no-Kafka, ${r.workload}: ${(r.eventsPerS / b.eventsPerS).toFixed(2)}`);
}
// Decompression's cost: gzip against the same batches uncompressed, with the same writer.
const gzipRatios = [...new Set(results.map((r) => r.writer))].flatMap((writer) => {
  const plain = results.find((r) => r.writer === writer && r.workload === WORKLOAD_NAMES['pool-plain']);
  const gzip = results.find((r) => r.writer === writer && r.workload === WORKLOAD_NAMES['pool-gzip']);
  return plain && gzip ? [`${writer}: ${(gzip.eventsPerS / plain.eventsPerS).toFixed(2)}`] : [];
});
console.log(`ratio gzip/plain (same batches, target >= 0.7): ${gzipRatios.join(', ')}`);
const md = [
  '# Ingest throughput',
  '',
  `Run ${new Date().toISOString()} on Node ${process.version} (flags: ${process.execArgv.join(" ") || "none"}), ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), load average ${loadAtStart} at start; ${clients} concurrent undici clients in a separate process, ~${seconds} s per row. Accepted = answered 200.`,
  '',
  '| writer | workload | accepted events/s | requests | not 200 | seconds | ratio to no-Kafka | peak RSS MB (server) |',
  '|---|---|---:|---:|---:|---:|---:|---:|',
  ...rows,
  '',
  kafkaNote,
  '',
  `gzip bodies against the same batches uncompressed (target >= 0.7): ${gzipRatios.join(', ')}.`,
  '',
].join('\n');
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/ingest.md', import.meta.url), md);
console.log('wrote bench/results/ingest.md');
