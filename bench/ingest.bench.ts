/**
 * Ingest throughput: the same server twice in one run, once over a writer that resolves at once
 * ("no-Kafka": the HTTP, auth, parsing and envelope cost alone) and once over the real Kafka writer
 * (only when KAFKA_BROKERS is set). Single app events and 100-event batches from a few concurrent
 * undici clients in a separate process, ~5 s each. Prints accepted events/s and the Kafka/no-Kafka ratio, and writes
 * bench/results/ingest.md.
 *
 *   node bench/ingest.bench.ts                    # no-Kafka half only
 *   KAFKA_BROKERS=127.0.0.1:9092 node bench/ingest.bench.ts
 *
 * Env: BENCH_SECONDS (default 5), BENCH_CLIENTS (default 64: webhooks and app calls arrive
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
const base = loadIngestConfig(process.env);
const logger = createLogger('ingest-bench', 'warn');

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
async function drive(url: string, workload: 'single' | 'batch'): Promise<Omit<Result, 'writer'>> {
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 100);
  const child = spawn(process.execPath, [new URL('./ingest-load.ts', import.meta.url).pathname, url, workload, String(clients), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const code: number = await new Promise((r) => child.on('exit', (c) => r(c ?? 1)));
  clearInterval(sampler);
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  const r = JSON.parse(out.trim().split('\n').pop()!) as { events: number; requests: number; non200: number; seconds: number };
  return {
    workload: workload === 'single' ? 'single events' : `batches of ${BATCH_SIZE}`,
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
    for (const workload of ['single', 'batch'] as const) {
      const r = await drive(url, workload);
      out.push({ writer: name, ...r });
      console.log(`${name.padEnd(10)} ${r.workload.padEnd(16)} ${Math.round(r.eventsPerS).toString().padStart(8)} events/s  (${r.requests} requests, ${r.non200} not 200, peak RSS ${Math.round(r.peakRssMb)} MB)`);
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
const md = [
  '# Ingest throughput',
  '',
  `Run ${new Date().toISOString()} on Node ${process.version} (flags: ${process.execArgv.join(" ") || "none"}), ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}); ${clients} concurrent undici clients in a separate process, ~${seconds} s per row. Accepted = answered 200.`,
  '',
  '| writer | workload | accepted events/s | requests | not 200 | seconds | ratio to no-Kafka | peak RSS MB (server) |',
  '|---|---|---:|---:|---:|---:|---:|---:|',
  ...rows,
  '',
  kafkaNote,
  '',
].join('\n');
await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(new URL('./results/ingest.md', import.meta.url), md);
console.log('wrote bench/results/ingest.md');
